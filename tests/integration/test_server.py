"""bots-jobqueueserver as a program: command line, refusals, start-up log,
signals, log format and rotation, loopback-only binding."""

import os
import re
import signal
import socket
import subprocess
import time

import jqtest

LINE = re.compile(r"^\d{8} \d\d:\d\d:\d\d (DEBUG|INFO|STARTINFO|WARNING|ERROR|CRITICAL) *: ")


def run_server(args, cwd=None, env=None, timeout=jqtest.DEADLINE):
    return subprocess.run([jqtest.SERVER] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


class CommandLine(jqtest.unittest.TestCase):

    def setUp(self):
        self.bots = jqtest.BotsDir()

    def tearDown(self):
        self.bots.cleanup()

    def test_help_and_version(self):
        for arg in ("-h", "--help"):
            r = run_server([arg])
            self.assertEqual(r.returncode, 0)
            self.assertIn("Usage: bots-jobqueueserver", r.stdout)
        r = run_server(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^bots-jobqueueserver \d+\.\d+")

    def test_bad_arguments(self):
        for args in (["--bogus"], ["-c"], ["extra"]):
            r = run_server(args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("Usage", r.stderr)

    def test_not_enabled(self):
        self.bots.write_ini({"enabled": "False", "port": str(self.bots.port)}, {})
        r = run_server(["-c" + self.bots.config])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.strip(), "Error: bots jobqueue cannot start; not enabled in %s/bots.ini"
                         % self.bots.config)

    def test_enabled_missing_means_not_enabled(self):
        self.bots.write_ini({"port": str(self.bots.port)}, {})
        r = run_server(["-c" + self.bots.config])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not enabled", r.stdout)

    def test_missing_config(self):
        r = run_server(["-c" + self.bots.path("nowhere")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("the folder " + self.bots.path("nowhere"), r.stderr)

    def test_default_config_dir_and_bots_dir(self):
        # no -c: "config" under the working directory, or under $BOTS_DIR
        env = dict(os.environ, BOTS_DIR=self.bots.root)
        self.bots.write_ini({"enabled": "no"}, {})
        r = run_server([], cwd="/", env=env)
        self.assertIn("not enabled in %s/bots.ini" % self.bots.config, r.stdout)
        env.pop("BOTS_DIR")
        r = run_server([], cwd=self.bots.root, env=env)
        self.assertIn("not enabled in %s/bots.ini" % self.bots.config, r.stdout)
        # a relative -c is relative to the working directory
        r = run_server(["-cconfig"], cwd=self.bots.root, env=env)
        self.assertIn("not enabled in %s/bots.ini" % self.bots.config, r.stdout)

    def test_malformed_config(self):
        with open(os.path.join(self.bots.config, "bots.ini"), "w") as f:
            f.write("[jobqueue]\nenabled = True\nport = many\n")
        r = run_server(["-c" + self.bots.config])
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 3", r.stderr)
        self.assertIn("port", r.stderr)

    def test_port_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.bots.port))
            s.listen()
            r = run_server(["-c" + self.bots.config])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("port %d" % self.bots.port, r.stderr)
        self.assertIn("Address already in use", r.stderr)


class Running(jqtest.ServerTestCase):
    jobqueue = {"stop_grace": "1"}

    def test_startup_lines_and_format(self):
        self.bots.wait_log("STARTINFO: Bots jobqueue started.")
        log = self.bots.log()
        self.assertRegex(log, r"STARTINFO: bots-jobqueueserver \d+\.\d+\.\d+; config %s/bots.ini; "
                              r"listening on 127\.0\.0\.1 port %d" % (re.escape(self.bots.config), self.bots.port))
        self.rpc.addjob(["bots-engine", "-cconfig"], 5)
        self.bots.wait_log("Added job 1, priority 5: ['bots-engine', '-cconfig']")
        for line in self.bots.log().splitlines():
            if line and not line.startswith((" ", "[")):
                self.assertRegex(line, LINE)

    def test_bound_to_loopback_only(self):
        port_hex = ":%04X" % self.bots.port
        with open("/proc/net/tcp") as f:
            listening = [l.split()[1] for l in f if l.split()[3] == "0A"]
        mine = [a for a in listening if a.endswith(port_hex)]
        self.assertEqual(mine, ["0100007F" + port_hex])

    def test_sigterm_waits_for_running_job(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "busy", "--wait", gate), 5)
        jqtest.wait_for(lambda: self.events(), "job to start")
        self.server.proc.send_signal(signal.SIGTERM)
        self.bots.wait_log("Bots jobqueue stopping; 1 job(s) running")
        self.assertIsNone(self.server.proc.poll())
        open(gate, "w").close()
        self.assertEqual(self.server.proc.wait(jqtest.DEADLINE), 0)
        log = self.bots.log()
        self.assertIn("Finished job 1, elapsed time", log)
        self.assertIn("result 0", log)
        self.assertTrue(log.rstrip().endswith("Bots jobqueue stopped."))

    def test_sigterm_grace_then_terminate(self):
        never = self.bots.path("never")
        self.rpc.addjob(self.job(self.bots.path("events"), "stuck", "--wait", never), 5)
        jqtest.wait_for(lambda: self.events(), "job to start")
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        log = self.bots.log()
        self.assertIn("Stop grace of 1 seconds is over", log)
        self.assertIn("result -15", log)

    def test_sigint_idle(self):
        self.assertEqual(self.server.stop(signal.SIGINT), 0)
        self.assertIn("Bots jobqueue stopped.", self.bots.log())

    def test_stop_with_idle_keepalive_client(self):
        self.assertEqual(self.rpc.listjobs(), 0)   # leaves a keep-alive connection open
        self.assertEqual(self.server.stop(signal.SIGTERM, timeout=5), 0)

    def test_sighup_reopens_log(self):
        self.bots.wait_log("Bots jobqueue started.")
        moved = self.bots.log_path + ".1"
        os.rename(self.bots.log_path, moved)
        self.server.proc.send_signal(signal.SIGHUP)
        self.bots.wait_log("Log file reopened (SIGHUP).")
        self.rpc.addjob(["bots-engine"], 5)
        self.bots.wait_log("Added job 1")
        with open(moved) as f:
            self.assertNotIn("Added job 1", f.read())


class SecondStopSignal(jqtest.ServerTestCase):
    """A second SIGTERM within a long stop grace terminates the running
    job at once, and the log says it was asked again (it said the grace
    was over: an outside test)."""

    jobqueue = {"stop_grace": "300"}

    def test_second_sigterm(self):
        never = self.bots.path("never")
        self.rpc.addjob(self.job(self.bots.path("events"), "stuck", "--wait", never), 5)
        jqtest.wait_for(lambda: self.events(), "job to start")
        self.server.proc.send_signal(signal.SIGTERM)
        self.bots.wait_log("Bots jobqueue stopping; 1 job(s) running")
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        log = self.bots.log()
        self.assertIn("Asked again to stop; terminating running jobs without waiting "
                      "out the stop grace of 300 seconds", log)
        self.assertNotIn("is over", log)
        self.assertIn("result -15", log)


class BlockedSignals(jqtest.ServerTestCase):
    """A server started with its stop and hang-up signals blocked (a
    supervisor or a Python parent may hand that mask on: it survives exec)
    still stops on SIGTERM and reopens its log on SIGHUP.  An outside
    test found both pending for ever."""

    def setUp(self):
        blocked = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            super().setUp()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def test_sighup_then_sigterm(self):
        self.bots.wait_log("Bots jobqueue started.")
        with open("/proc/%d/status" % self.server.pid) as f:
            self.assertIn("SigBlk:\t0000000000000000", f.read())
        moved = self.bots.log_path + ".1"
        os.rename(self.bots.log_path, moved)
        self.server.proc.send_signal(signal.SIGHUP)
        self.bots.wait_log("Log file reopened (SIGHUP).")
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        self.assertIn("Bots jobqueue stopped.", self.bots.log())


class Patient(jqtest.xmlrpc.client.Transport):
    """A transport whose calls give up after jqtest.DEADLINE."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = jqtest.DEADLINE
        return conn


class Draining(jqtest.ServerTestCase):
    """While a stop waits for running jobs, the port still answers: a call
    gets the "shutting down" fault, not a refused connection (the HTTP
    side stops only once the main loop has ended)."""
    jobqueue = {"stop_grace": "3600"}

    def test_calls_during_the_drain_get_a_fault(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "busy", "--wait", gate), 5)
        jqtest.wait_for(lambda: self.events(), "job to start")
        self.server.proc.send_signal(signal.SIGTERM)
        self.bots.wait_log("Bots jobqueue stopping; 1 job(s) running")
        # Before, the port went on taking connections that no one
        # answered: the call hung.  The time-out only ends such a hang.
        proxy = jqtest.xmlrpc.client.ServerProxy(
            "http://127.0.0.1:%d/RPC2" % self.bots.port, transport=Patient())
        with self.assertRaises(jqtest.xmlrpc.client.Fault) as caught:
            proxy.addjob(["bots-engine", "-cconfig"], 5)
        self.assertIn("shutting down", caught.exception.faultString)
        self.assertIsNone(self.server.proc.poll())
        open(gate, "w").close()
        self.assertEqual(self.server.proc.wait(jqtest.DEADLINE), 0)
        log = self.bots.log()
        self.assertIn("Finished job 1, elapsed time", log)
        self.assertNotIn("Added job 2", log)
        self.assertTrue(log.rstrip().endswith("Bots jobqueue stopped."))


class Rotation(jqtest.unittest.TestCase):

    def test_log_from_yesterday_rolls_over(self):
        bots = jqtest.BotsDir()
        try:
            os.makedirs(os.path.dirname(bots.log_path))
            with open(bots.log_path, "w") as f:
                f.write("20200101 00:00:00 INFO     : an old line\n")
            old = time.time() - 3 * 86400
            os.utime(bots.log_path, (old, old))
            server = jqtest.Server(bots)
            bots.wait_log("Bots jobqueue started.")
            server.stop()
            backup = bots.log_path + "." + time.strftime("%Y-%m-%d", time.localtime(old))
            with open(backup) as f:
                self.assertEqual(f.read(), "20200101 00:00:00 INFO     : an old line\n")
            self.assertNotIn("an old line", bots.log())
        finally:
            bots.cleanup()


if __name__ == "__main__":
    jqtest.main()
