"""bots-job2queue, the real binary against the real server: PROTOCOL
section 7 to the letter, every example in it, and its answers when the
server is down, hangs, or is not enabled."""

import os
import shutil
import socket
import threading
import subprocess
import time
import xmlrpc.client

import jqtest


def job2queue(args, cwd=None, env=None, timeout=jqtest.DEADLINE, program=None):
    cmd = (program or [jqtest.JOB2QUEUE]) + args
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class Job2Queue(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "%s %s my_program" % (jqtest.PYTHON, jqtest.JOB)}

    def setUp(self):
        super().setUp()
        # an authorized program of the administrator's, on the server's PATH
        self.my_program = os.path.join(self.bots.bin, "my_program")
        with open(self.my_program, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(self.my_program, 0o755)
        # keep the queue busy so that what is queued can be listed
        self.gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", self.gate), 5)
        jqtest.wait_for(lambda: self.events(), "holder to start")

    def tearDown(self):
        self.rpc.clearjobq()
        open(self.gate, "w").close()
        super().tearDown()

    def run_ok(self, args, expect_code, line, **kw):
        kw.setdefault("cwd", self.bots.root)
        r = job2queue(args, **kw)
        self.assertEqual((r.returncode, r.stdout.strip()), (expect_code, line), r.stderr)
        return r

    def test_protocol_examples(self):
        # a second config folder, as "-cconfig2" in the examples names
        shutil.copytree(self.bots.config, self.bots.path("config2"))
        ok = "OK, job added to queue."
        self.run_ok(["bots-engine.py"], 0, ok)
        self.run_ok(["-p3", "bots-engine.py", "--new", "-Cconfigprod"], 0, ok)
        self.run_ok(["-p1", "bots-engine", "-cconfig2", "myroute"], 0, ok)
        self.run_ok([self.my_program, "my_parm_1", "my_parm_2"], 0, ok)
        self.assertEqual(self.rpc.listjobs(), [
            [1, 4, ["bots-engine", "-cconfig2", "myroute"]],
            [3, 3, ["bots-engine.py", "--new", "-Cconfigprod"]],
            [5, 2, ["bots-engine.py"]],
            [5, 5, [self.my_program, "my_parm_1", "my_parm_2"]],
        ])

    def test_exit_codes(self):
        self.run_ok(["bots-engine", "-cconfig"], 0, "OK, job added to queue.")
        self.run_ok(["bots-engine", "-cconfig"], 4, "Duplicate, job already in queue, not added.")
        self.run_ok(["-p2", "bots-engine", "-cconfig"], 0, "OK, job added to queue.")
        self.run_ok(["/bin/rm", "-rf", "/"], 3, "Error, invalid task (not authorized).")
        r = self.run_ok([], 2, "Error, no task specified.")
        r = self.run_ok(["-p4"], 2, "Error, no task specified.")
        self.assertEqual(self.rpc.listjobs(), [[2, 2, ["bots-engine", "-cconfig"]]])

    def test_options_only_before_the_task(self):
        self.run_ok(["bots-engine", "-p1", "-h", "--new"], 0, "OK, job added to queue.")
        self.assertEqual(self.rpc.listjobs(), [[5, 2, ["bots-engine", "-p1", "-h", "--new"]]])

    def test_config_from_the_task(self):
        """-c after the task start is the task's AND selects job2queue's config."""
        other = jqtest.BotsDir()
        try:
            # the cwd's "config" is disabled: only the task's -c can work
            other.write_ini({"enabled": "False"}, {})
            r = job2queue(["bots-engine", "-c" + self.bots.config, "route"], cwd=other.root)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(self.rpc.listjobs(), [[5, 2, ["bots-engine", "-c" + self.bots.config, "route"]]])
        finally:
            other.cleanup()

    def test_bots_dir_environment(self):
        env = dict(os.environ, BOTS_DIR=self.bots.root)
        self.run_ok(["bots-engine"], 0, "OK, job added to queue.", cwd="/", env=env)

    def test_help(self):
        for arg in ("-h", "--help", "?", "/?"):
            r = job2queue([arg, "bots-engine"])
            self.assertEqual(r.returncode, 0, arg)
            self.assertIn("Usage: bots-job2queue", r.stdout)
        self.assertEqual(self.rpc.listjobs(), 0)

    def test_bad_priority(self):
        r = job2queue(["-pabc", "bots-engine"], cwd=self.bots.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a number", r.stderr)
        self.assertIn("Usage", r.stderr)
        self.assertEqual(self.rpc.listjobs(), 0)


    def test_task_xmlrpc_cannot_carry(self):
        """`bots-job2queue echo $'\\xff'` with the server up: not "Can not
        contact jobqueue-server" but which argument cannot be sent and why
        (xmlrpc-c 1.33 holds no character beyond U+FFFF; XML carries no
        control character); exit 1, nothing queued."""
        cases = [
            ([b"bots-engine", b"\xff"], "argument 2", "not valid UTF-8 (byte 0xff"),
            ([b"bots-engine", b"ok", "a\U0001F600".encode()], "argument 3", "U+1F600"),
            ([b"bots-engine", b"\x01"], "argument 2", "XML 1.0 cannot carry"),
            ([b"bots-engine\xc3", b"x"], "argument 1", "not valid UTF-8 (byte 0xc3"),
        ]
        for args, which, why in cases:
            r = job2queue(args, cwd=self.bots.root)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertNotIn("contact", r.stdout + r.stderr, args)
            self.assertNotIn("0xfffffff0", r.stderr, args)
            self.assertIn(which, r.stderr, args)
            self.assertIn(why, r.stderr, args)
        self.assertEqual(self.rpc.listjobs(), 0)
        # what XML carries still goes through: tab, newline, the BMP
        self.run_ok(["bots-engine", "a\tb\nc", "\u00e9\u20ac\uffed"], 0, "OK, job added to queue.")
        self.assertEqual(self.rpc.listjobs()[0][2][1:], ["a\tb\nc", "\u00e9\u20ac\uffed"])


    def test_server_fault_beyond_bmp(self):
        """What Python's xmlrpc.client sends for a character beyond U+FFFF
        (raw, or as a character reference): a fault that says why, not
        xmlrpc-c's "(first byte 0xfffffff0)"; the server goes on."""
        for body in (xmlrpc.client.dumps((["bots-engine", "a\U0001F600"], 5), "addjob").encode(),
                     b"<?xml version='1.0'?><methodCall><methodName>addjob</methodName><params>"
                     b"<param><value><array><data><value><string>a&#x1F600;</string></value></data>"
                     b"</array></value></param><param><value><int>5</int></value></param></params>"
                     b"</methodCall>"):
            with self.assertRaises(xmlrpc.client.Fault) as caught:
                jqtest.call_raw(self.bots.port, body)
            self.assertIn("beyond U+FFFF, which xmlrpc-c 1.33 cannot hold", caught.exception.faultString)
            self.assertNotIn("0xffff", caught.exception.faultString)
        self.assertEqual(self.rpc.listjobs(), 0)


class FullQueue(jqtest.ServerTestCase):
    """A refusal is asked, answered and logged once (found by an outsider:
    a full queue's refusal was logged twice, as submit() and then addjob
    were both tried)."""
    jobqueue = {"authorized_tasks": "%s %s" % (jqtest.PYTHON, jqtest.JOB),
                "max_waiting_jobs": "1"}

    def test_full_queue_refused_once(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", gate), 5)
        jqtest.wait_for(lambda: self.events(), "holder to start")
        try:
            first = job2queue(["bots-engine.py", "--one"], cwd=self.bots.root)
            self.assertEqual(first.returncode, 0, first.stderr)
            second = job2queue(["bots-engine.py", "--two"], cwd=self.bots.root)
            self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
            self.bots.wait_log("not added: ['bots-engine.py', '--two']")
            self.assertEqual(self.bots.log().count("not added: ['bots-engine.py', '--two']"), 1,
                             self.bots.log())
        finally:
            self.rpc.clearjobq()
            open(gate, "w").close()


class NoServer(jqtest.unittest.TestCase):

    def setUp(self):
        self.bots = jqtest.BotsDir()

    def tearDown(self):
        self.bots.cleanup()

    def test_nothing_listens(self):
        # refused at once: a client that waited would take its 20 s call
        # timeout
        r = job2queue(["bots-engine"], cwd=self.bots.root, timeout=4.5)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.strip(), "Error, job not added to queue. Can not contact jobqueue-server")

    def test_server_hangs(self):
        """A server that took the call and does not answer in time (a
        server at its connection limit takes one more connection and
        reads it when it has room, after a flood of another user's
        connections) may run it after the client gave up: the client says
        it does not know, never "not added".  Before, it said "Error, job
        not added to queue" of a job the server then queued."""
        received = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.bots.port))
            s.listen(5)
            s.settimeout(jqtest.DEADLINE)

            def take_and_hold():
                c, _ = s.accept()
                with c:
                    c.settimeout(60)
                    request = b""
                    try:     # read until the client gives up; never answer
                        while True:
                            data = c.recv(65536)
                            if not data:
                                break
                            request += data
                    except OSError:
                        pass
                    received.append(request)
            t = threading.Thread(target=take_and_hold, daemon=True)
            t.start()
            r = job2queue(["bots-engine", "--new"], cwd=self.bots.root, timeout=60)
            t.join()
        # The whole call had come, for the server to run.
        self.assertIn(b"<methodName>submit</methodName>", received[0])
        self.assertIn(b"</methodCall>", received[0])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.strip(), "Error, no answer from jobqueue-server: the job "
                         "may have been added to queue.")
        self.assertNotIn("not added", r.stdout + r.stderr)
        self.assertIn("bots-jobqueue list", r.stderr)

    def test_answered_with_an_http_error(self):
        """An HTTP error (the 503 of a server whose connections are all
        taken) is an answer: the call was not run, and it says so."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.bots.port))
            s.listen(5)
            s.settimeout(jqtest.DEADLINE)

            def answer_503():
                c, _ = s.accept()
                with c:
                    # Read first, as the server's gate does: a close with
                    # unread bytes would reset the connection instead.
                    c.settimeout(jqtest.DEADLINE)
                    request = b""
                    while b"</methodCall>" not in request:
                        data = c.recv(65536)
                        if not data:
                            break
                        request += data
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                    c.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=answer_503, daemon=True)
            t.start()
            r = job2queue(["bots-engine"], cwd=self.bots.root, timeout=15)
            t.join()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.strip(), "Error, job not added to queue. Can not contact "
                         "jobqueue-server")

    def test_odd_answers(self):
        """Whatever answers on the port, job2queue says it did not add the
        job and exits 1: no crash (an <int>-1</int> was a SIGSEGV, an
        out-of-range <i8> crashed xmlrpc-c's response parser)."""
        with jqtest.FakeServer(self.bots.port) as fake:
            for answer in jqtest.ODD_ANSWERS:
                fake.answer = answer
                r = job2queue(["bots-engine"], cwd=self.bots.root, timeout=15)
                self.assertEqual((r.returncode, r.stdout.strip()), (1, "Error, job not added to "
                                 "queue. Can not contact jobqueue-server"), answer[:200])
                self.assertIn("bots-job2queue: ", r.stderr)
                self.assertNotIn("Sanitizer", r.stderr)
            # and what a real server may answer still works
            fake.answer = xmlrpc.client.dumps(({"code": 4, "jobnumber": 3},),
                                              methodresponse=True).encode()
            r = job2queue(["bots-engine"], cwd=self.bots.root, timeout=15)
            self.assertEqual(r.returncode, 4)
            fake.answer = xmlrpc.client.dumps(xmlrpc.client.Fault(1, "<class 'X'>:no"),
                                              methodresponse=True).encode()
            r = job2queue(["bots-engine"], cwd=self.bots.root, timeout=15)
            self.assertEqual(r.returncode, 1)
            self.assertIn("no", r.stderr)

    def test_not_enabled(self):
        self.bots.write_ini({"enabled": "false", "port": str(self.bots.port)}, {})
        r = job2queue(["bots-engine"], cwd=self.bots.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not enabled", r.stderr)

    def test_no_config(self):
        # a home of its own: the machine's ~/.bots must not count
        env = dict(os.environ, HOME=self.bots.root, BOTS_JOBQUEUE_BOTSPATH="")
        env.pop("BOTS_CONFIG_DIR", None)
        r = job2queue(["bots-engine"], cwd="/", env=env)
        self.assertEqual(r.returncode, 1)
        # one message, every place looked at; the server was never asked
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("the folder /config", r.stderr)
        self.assertIn(".bots/env/default/config", r.stderr)
        self.assertNotIn("contact", r.stdout + r.stderr)


if __name__ == "__main__":
    jqtest.main()
