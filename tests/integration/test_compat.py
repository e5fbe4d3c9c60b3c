"""A Bots installation switches without changing anything: the calls
Bots' own programs make, the old program names, run the way the field
runs them."""

import os
import shutil
import stat
import subprocess
import sys

import jqtest

COMPAT = os.path.join(jqtest.SRCDIR, "bots-compat")

FAKE_ENGINE = """#!%s
# stands in for Bots' engine: records its arguments
import sys
with open(%r, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
"""


class BotsCallers(jqtest.ServerTestCase):
    """The server's PATH has fake bots-engine and bots-engine.py, as a Bots
    installation has the real ones."""

    def setUp(self):
        self.bin = jqtest.tempfile.mkdtemp(prefix="jqbin-")
        self.runs = os.path.join(self.bin, "runs")
        for name in ("bots-engine", "bots-engine.py"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(FAKE_ENGINE % (sys.executable, self.runs))
            os.chmod(path, 0o755)
        self.env = {"PATH": self.bin + os.pathsep + os.environ["PATH"]}
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.bin, ignore_errors=True)

    def engine_runs(self, n):
        def read():
            if not os.path.exists(self.runs):
                return None
            with open(self.runs) as f:
                lines = f.read().splitlines()
            return lines if len(lines) >= n else None
        return jqtest.wait_for(read, "%d engine runs" % n)

    def test_bots4_monitor(self):
        task = ["bots-engine", "-c" + self.bots.config, "--new"]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.assertEqual(self.engine_runs(1), ["-c%s --new" % self.bots.config])
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        self.assertIn("Added job 1, priority 5: ['bots-engine', '-c%s', '--new']" % self.bots.config, log)
        # an installation of unknown version gets Bots 3's lines
        self.assertIn("INFO     : Starting job 1\n", log)
        self.assertRegex(log, r"INFO     : Finished job 1, elapsed time \d+\.\d+(e-\d+)?, result 0\n")

    def test_bots3_monitor(self):
        python = shutil.which("python3")
        engine = os.path.join(self.bin, "bots-engine.py")
        task = [python, engine, "-c" + self.bots.config, "--new"]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        # job 1 is running or done, so not waiting: the same task is new
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.assertEqual(self.engine_runs(2), ["-c%s --new" % self.bots.config] * 2)
        self.bots.wait_log("Finished job 2")
        self.assertIn("Added job 1, priority 5: %r" % task, self.bots.log())

    def test_directory_monitor(self):
        python = shutil.which("python3")
        engine = os.path.join(self.bin, "bots-engine")
        task = [python, engine, "-c" + self.bots.config, "myroute"]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.assertEqual(self.engine_runs(1), ["-c%s myroute" % self.bots.config])
        self.bots.wait_log("Finished job 1")

    def test_health_check_and_list(self):
        self.assertEqual(self.rpc.addjob(["isup"], 5), 0)
        self.assertEqual(self.rpc.listjobs(), 0)


class Wrappers(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def env_with_programs(self):
        return dict(os.environ, PATH=os.path.join(jqtest.BUILDDIR, "src") + os.pathsep + os.environ["PATH"])

    def test_job2queue_py_run_directly_and_by_python(self):
        wrapper = os.path.join(COMPAT, "bots-job2queue.py")
        self.assertTrue(os.stat(wrapper).st_mode & stat.S_IXUSR)
        for program, prio in (([wrapper], "-p3"), ([sys.executable, wrapper], "-p4")):
            r = subprocess.run(program + ["-c" + self.bots.config, prio, "sleep", "0"],
                               env=self.env_with_programs(), capture_output=True, text=True,
                               timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "OK, job added to queue.")
        self.bots.wait_log("Added job 1, priority 3: ['sleep', '0']")
        # the second call changed the priority of the first if it still waited,
        # or added it anew: either way bots-job2queue answered OK
        r = subprocess.run([wrapper], env=self.env_with_programs(), capture_output=True, text=True,
                           cwd=self.bots.root, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 2)

    def test_wrappers_pass_exit_codes_and_arguments(self):
        wrapper = os.path.join(COMPAT, "bots-jobqueueserver.py")
        r = subprocess.run([sys.executable, wrapper, "--version"], env=self.env_with_programs(),
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 0)
        self.assertIn("bots-jobqueueserver", r.stdout)
        r = subprocess.run([wrapper, "-c/nonexistent"], env=self.env_with_programs(),
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the folder /nonexistent", r.stderr)

    def test_wrapper_starts_the_server(self):
        other = jqtest.BotsDir()
        try:
            wrapper = os.path.join(COMPAT, "bots-jobqueueserver.py")
            proc = subprocess.Popen([sys.executable, wrapper, "-c" + other.config],
                                    env=self.env_with_programs(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                other.wait_log("Bots jobqueue started.")
                proxy = jqtest.xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % other.port)
                self.assertEqual(proxy.listjobs(), 0)
                proxy("close")()
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(jqtest.DEADLINE), 0)
        finally:
            other.cleanup()


if __name__ == "__main__":
    jqtest.main()
