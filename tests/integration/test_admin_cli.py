"""bots-jobqueue, the administrator's command, against the real server:
every subcommand, --json parsed back, exit codes, 80 columns."""

import http.server
import json
import signal
import subprocess
import threading

import xmlrpc.client

import jqtest


class AdminBase(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def cli(self, *args, expect=0):
        r = subprocess.run([jqtest.ADMIN, "-c" + self.bots.config] + list(args),
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, expect, (args, r.stdout, r.stderr))
        if "--json" not in args:       # tables fit an 80-column terminal
            for line in r.stdout.splitlines():
                self.assertLessEqual(len(line), 80, line)
        return r

    def hold(self):
        self.gate = self.bots.path("gate")
        r = self.cli("add", "-p", "0", "--", *self.job(self.bots.path("events"), "holder", "--wait", self.gate))
        self.assertEqual(r.stdout.strip(), "job 1 added")
        jqtest.wait_for(lambda: self.events(), "holder to start")


class AdminCli(AdminBase):
    def test_ping_status_list(self):
        self.assertEqual(self.cli("ping").stdout.strip(), "ok")
        self.hold()
        self.assertEqual(self.cli("add", "--", "echo", "two words").stdout.strip(), "job 2 added")
        self.assertEqual(self.cli("add", "-p", "3", "--", "echo", "x" * 200).stdout.strip(), "job 3 added")
        status = self.cli("status").stdout
        self.assertIn("Running: 1   Waiting: 2", status)
        self.assertRegex(status, r"\n  1\s+0\s+\d+\s+\d+:\d\d:\d\d\s+\S+")
        listed = self.cli("list").stdout.splitlines()
        self.assertEqual(listed[1].split()[:2], ["3", "3"])
        self.assertTrue(listed[1].endswith("..."))
        self.assertEqual(listed[2], "2       5    echo 'two words'")
        data = json.loads(self.cli("--json", "status").stdout)
        self.assertEqual(data["waiting"], 2)
        self.assertEqual(data["running"][0]["jobnumber"], 1)
        self.assertEqual(json.loads(self.cli("--json", "list").stdout)[1][2], ["echo", "two words"])
        self.cli("clear")
        self.assertIn("No jobs waiting.", self.cli("list").stdout)
        open(self.gate, "w").close()

    def test_remove_priority_pause_wait(self):
        self.hold()
        self.cli("add", "--", "echo", "a")
        self.cli("add", "--", "echo", "b")
        self.cli("remove", "2")
        self.cli("priority", "3", "1")
        r = self.cli("remove", "2", expect=3)
        self.assertIn("job 2 is not waiting", r.stderr)
        self.assertNotIn("class", r.stderr)
        self.cli("pause")
        self.assertIn("PAUSED", self.cli("status").stdout)
        open(self.gate, "w").close()
        self.cli("wait", "1")
        self.assertEqual(self.cli("wait", "3", "-t", "1", expect=124).stdout.strip(), "job 3: waiting")
        self.cli("resume")
        self.assertEqual(self.cli("wait", "3").stdout.strip(), "job 3 finished, exit code 0")
        self.assertIn("job 2: removed", self.cli("wait", "2", expect=3).stdout)

    def test_wait_exit_codes_and_history(self):
        self.cli("add", "--", "sh", "-c", "exit 9")
        self.assertEqual(self.cli("wait", "1", expect=9).stdout.strip(), "job 1 finished, exit code 9")
        self.cli("add", "--", "/nonexistent/prog")
        self.cli("wait", "2", expect=127)
        self.cli("add", "--", "sh", "-c", "kill -TERM $$")
        self.cli("wait", "3", expect=128 + 15)
        hist = self.cli("history").stdout
        self.assertRegex(hist, r"\n3 +5 +\S+ \S+ +\S+ +SIG15 ")
        self.assertRegex(hist, r"\n2 +5 .* NOSTART ")
        self.assertRegex(hist, r"\n1 +5 .* 9 +sh -c 'exit 9'")
        rows = json.loads(self.cli("--json", "history", "-n", "2").stdout)
        self.assertEqual([r["jobnumber"] for r in rows], [3, 2])

    def test_answers_beyond_512_kib(self):
        """list and history answers past xmlrpc-c's default 512 KiB
        response limit: 1,500 waiting Bots 3 tasks (about 1 MB of
        XML-RPC) and 600 finished 1 KB ones are all listed, not "exit 1,
        server cannot be reached"."""
        engine = ["/usr/bin/python2.7", "/usr/local/lib/python2.7/dist-packages/bots/bots-engine.py"]
        rpc = self.server.proxy()
        for i in range(600):
            rpc.addjob(["true", "%04d" % i + "h" * 1000], 5)
        jqtest.wait_for(lambda: rpc.status()["totals"]["succeeded"] == 600, "600 jobs to run",
                        timeout=60, interval=0.1)
        rpc.pause()
        for i in range(1500):
            rpc.addjob(engine + ["-cconfig", "--new", "route-%04d" % i + "w" * 400], 5)
        listed = json.loads(self.cli("--json", "list").stdout)
        self.assertEqual(len(listed), 1500)
        self.assertEqual(listed[-1][2][-1], "route-1499" + "w" * 400)
        self.assertGreaterEqual(len(self.cli("list").stdout.splitlines()), 1501)
        rows = json.loads(self.cli("--json", "history", "-n", "600").stdout)
        self.assertEqual(len(rows), 600)
        self.assertEqual(rows[0]["task"][1], "0599" + "h" * 1000)
        self.cli("clear")

    def test_add_numbers_and_wait(self):
        # A program that cannot start has ended before the answer: its
        # number comes with the answer (submit), not from a look-up.
        self.assertEqual(self.cli("add", "--", "/nonexistent/prog").stdout.strip(), "job 1 added")
        self.assertEqual(self.cli("add", "--", "false").stdout.strip(), "job 2 added")
        r = self.cli("add", "--wait", "--", "sh", "-c", "exit 7", expect=7)
        self.assertEqual(r.stdout.splitlines(), ["job 3 added", "job 3 finished, exit code 7"])
        self.cli("add", "-p", "2", "--wait", "--", "/nonexistent/prog", expect=127)
        r = self.cli("add", "--wait", "--", "true")
        self.assertEqual(r.stdout.splitlines(), ["job 5 added", "job 5 finished, exit code 0"])
        data = json.loads(self.cli("--json", "add", "--", "true").stdout)
        self.assertEqual(data, {"code": 0, "jobnumber": 6})
        self.hold_after(7)
        self.cli("add", "--", "echo", "dup")
        r = self.cli("add", "--wait", "--", "echo", "dup", expect=3)
        self.assertEqual(r.stdout.strip(), "duplicate of waiting job 8, not added")
        open(self.gate, "w").close()

    def hold_after(self, number):
        self.gate = self.bots.path("gate")
        r = self.cli("add", "-p", "0", "--", *self.job(self.bots.path("events"), "holder", "--wait", self.gate))
        self.assertEqual(r.stdout.strip(), "job %d added" % number)
        jqtest.wait_for(lambda: self.events(), "holder to start")

    def test_tasks_shown_escaped(self):
        """A task's newlines and terminal controls are shown escaped, in
        the list and in the history: the table cannot be forged."""
        self.hold()
        rpc = self.server.proxy()
        self.assertEqual(rpc.addjob(["echo", "a\nFAKE-ROW", "\u0085x"], 5), 0)
        listed = self.cli("list").stdout
        self.assertIn("echo 'a\\nFAKE-ROW' '\\x85x'", listed)
        self.assertNotIn("\nFAKE-ROW", listed)
        open(self.gate, "w").close()
        self.cli("wait", "2")
        hist = self.cli("history").stdout
        self.assertIn("echo 'a\\nFAKE-ROW'", hist)
        self.assertNotIn("\nFAKE-ROW", hist)

    def test_usage_errors(self):
        for args in (["bogus"], ["remove"], ["remove", "x"], ["priority", "1"],
                     ["history", "-n", "0"], ["wait", "1", "-t", "-5"], ["add"], ["--nope", "ping"], []):
            r = subprocess.run([jqtest.ADMIN, "-c" + self.bots.config] + args, capture_output=True,
                               text=True, timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 2, args)
        r = subprocess.run([jqtest.ADMIN, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: bots-jobqueue", r.stdout)


    def test_unsendable_arguments(self):
        """Arguments xmlrpc-c cannot carry (not UTF-8, beyond U+FFFF): a
        clear message and the usage exit code, never a crash."""
        for bad in (b"\xff", b"\xc3", "\U0001f642".encode()):
            r = subprocess.run([jqtest.ADMIN.encode(), b"-c" + self.bots.config.encode(),
                                b"add", b"--", b"echo", bad], capture_output=True,
                               timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertIn(b"argument 2 of the task", r.stderr)
            self.assertIn(b"cannot be sent", r.stderr)
            self.assertNotIn(b"Usage:", r.stderr)
        self.assertEqual(self.rpc.listjobs(), 0)

    def test_add_options(self):
        """-p3 as bots-job2queue spells it; an unknown option before the
        task is a usage error, never the start of the task."""
        self.hold()
        self.assertEqual(self.cli("add", "-p3", "--", "echo", "p3").stdout.strip(), "job 2 added")
        self.assertEqual(self.cli("add", "-p", "4", "echo", "no-dashes").stdout.strip(), "job 3 added")
        for args in (["--p", "3", "--", "echo"], ["-x", "echo"], ["-p", "--", "echo"],
                     ["-pthree", "echo"], ["--wait"], ["-p3"]):
            r = self.cli("add", *args, expect=2)
            self.assertIn("bots-jobqueue: add:", r.stderr, args)
        self.assertEqual(self.rpc.listjobs(), [[3, 2, ["echo", "p3"]], [4, 3, ["echo", "no-dashes"]]])
        open(self.gate, "w").close()

    def test_add_wait_flushes_first_line(self):
        """add --wait with stdout in a file: "job N added" is there while
        it waits, so a kill loses nothing."""
        self.hold()
        out = self.bots.path("add.out")
        with open(out, "w") as f:
            proc = subprocess.Popen([jqtest.ADMIN, "-c" + self.bots.config, "add", "--wait",
                                     "--", "echo", "later"], stdout=f, stderr=subprocess.PIPE)
        try:
            jqtest.wait_for(lambda: open(out).read() == "job 2 added\n", "the first line in the file")
            self.assertIsNone(proc.poll())
        finally:
            open(self.gate, "w").close()
            self.assertEqual(proc.wait(timeout=jqtest.DEADLINE), 0)
        self.assertEqual(open(out).read(), "job 2 added\njob 2 finished, exit code 0\n")

    def test_add_answers_told_truly(self):
        """--json add --wait: one JSON document; a changed priority and
        ['isup'] are not called "added"."""
        r = self.cli("--json", "add", "--wait", "--", "sh", "-c", "exit 3", expect=3)
        data = json.loads(r.stdout)
        self.assertEqual((data["code"], data["jobnumber"]), (0, 1))
        self.assertEqual((data["result"]["state"], data["result"]["exit_code"]), ("finished", 3))
        self.hold_after(2)
        self.assertEqual(self.cli("add", "--", "echo", "dup").stdout.strip(), "job 3 added")
        self.assertEqual(self.cli("add", "-p", "2", "--", "echo", "dup").stdout.strip(),
                         "priority of waiting job 3 changed to 2")
        self.assertEqual(json.loads(self.cli("--json", "add", "-p", "1", "--", "echo", "dup").stdout),
                         {"code": 0, "jobnumber": 3, "priority_changed": True})
        r = self.cli("add", "--", "isup")
        self.assertNotIn("added", r.stdout)
        self.assertIn("nothing queued", r.stdout)
        self.assertEqual(self.rpc.listjobs(), [[1, 3, ["echo", "dup"]]])
        open(self.gate, "w").close()

    def test_controls_and_format_characters_escaped(self):
        """C1 controls (CSI), bidi overrides, DEL: escaped as the log
        does, so a task cannot drive the terminal or spoof the table."""
        self.hold()
        task = ["echo", "a\u009b31mRED", "b\u202etxt.exe", "c\x7fd", "e\u200bf", "\u2028"]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        shown = self.cli("list").stdout
        open(self.gate, "w").close()
        self.cli("wait", "2")
        hist = self.cli("history").stdout
        for out in (shown, hist):
            for raw in ("\u009b", "\u202e", "\x7f", "\u200b", "\u2028"):
                self.assertNotIn(raw, out)
        self.assertIn("'a\\x9b31mRED' 'b\\u202etxt.exe' 'c\\x7fd'", shown)
        for args in (["--json", "history"], ["--json", "status"]):
            out = self.cli(*args).stdout
            for raw in ("\u009b", "\u202e", "\x7f", "\u200b", "\u2028"):
                self.assertNotIn(raw, out)
            if args[1] == "history":
                self.assertIn("\\u009b", out)
        self.assertEqual(json.loads(self.cli("--json", "history").stdout)[0]["task"], task)

class StoppingServer(AdminBase):
    """wait and add on a server that is stopping (its stop grace running
    out): exit 1, the server's words, never 3 ("removed or unknown",
    "refused"): the job is kept and runs again at the next start (an
    outside test: wait said 3)."""

    jobqueue = {"authorized_tasks": "*", "stop_grace": "300"}

    def test_wait_and_add_while_stopping(self):
        self.hold()
        self.server.proc.send_signal(signal.SIGTERM)
        self.bots.wait_log("Bots jobqueue stopping; 1 job(s) running")
        for args in (("wait", "1"), ("add", "--", "echo", "late")):
            r = self.cli(*args, expect=1)
            self.assertIn("shutting down", r.stderr)
        open(self.gate, "w").close()
        self.assertEqual(self.server.stop(), 0)


class NoServer(jqtest.unittest.TestCase):
    def test_odd_answers(self):
        """Whatever answers on the port, each command gives an error and
        exits 1, or shows what it got; never a crash.  A fault is the
        server refusing: exit 3."""
        bots = jqtest.BotsDir()
        commands = (["status"], ["list"], ["history"], ["add", "--", "bots-engine"],
                    ["wait", "1", "-t", "1"], ["ping"], ["--json", "status"])
        try:
            with jqtest.FakeServer(bots.port) as fake:
                for answer in jqtest.ODD_ANSWERS:
                    fake.answer = answer
                    for args in commands:
                        r = subprocess.run([jqtest.ADMIN, "-c" + bots.config] + args,
                                           capture_output=True, text=True, timeout=15)
                        self.assertGreaterEqual(r.returncode, 0, (args, answer[:200], r.stderr))
                        self.assertNotIn("Sanitizer", r.stderr)
                        if r.returncode != 0:
                            self.assertIn(r.returncode, (1, 124, 127), (args, answer[:200]))
                            self.assertIn("bots-jobqueue: ", r.stderr) if r.returncode == 1 else None
                fake.answer = xmlrpc.client.dumps(xmlrpc.client.Fault(1, "<class 'X'>:no such"),
                                                  methodresponse=True).encode()
                r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "status"],
                                   capture_output=True, text=True, timeout=15)
                self.assertEqual((r.returncode, r.stderr.strip()), (3, "bots-jobqueue: no such"))
                fake.answer = jqtest.response("<i8>99999999999999999999</i8>")
                r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "status"],
                                   capture_output=True, text=True, timeout=15)
                self.assertEqual(r.returncode, 1)
                self.assertIn("not an XML-RPC response", r.stderr)
                # an exit code out of range was shown as exit status 0
                for fields in ("<member><name>exit_code</name><value><int>256</int></value></member>",
                               "<member><name>exit_code</name><value><int>-1</int></value></member>",
                               "<member><name>signal</name><value><int>300</int></value></member>"):
                    fake.answer = jqtest.response(
                        "<struct><member><name>state</name><value><string>finished</string>"
                        "</value></member>%s</struct>" % fields)
                    r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "wait", "1"],
                                       capture_output=True, text=True, timeout=15)
                    self.assertEqual(r.returncode, 1, (fields, r.stdout, r.stderr))
                    self.assertIn("unexpected answer to wait", r.stderr)
                fake.answer = jqtest.response("<int>5</int>")
                r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "status"],
                                   capture_output=True, text=True, timeout=15)
                self.assertEqual(r.returncode, 1)
                self.assertIn("unexpected answer to status", r.stderr)
        finally:
            bots.cleanup()

    def test_answer_too_large(self):
        """An answer beyond the 128 MiB a client can hold (xmlrpc-c's
        limit; whatever listens on the port may send one) is an error that
        says so, not libcurl's "Failure writing output to destination";
        exit 1.  What it sends is streamed, 1 MiB at a time."""
        bots = jqtest.BotsDir()
        size = 129 * 1024 * 1024
        chunk = b" " * (1024 * 1024)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                try:
                    for _ in range(size // len(chunk)):
                        self.wfile.write(chunk)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", bots.port), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "list"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("answered listjobs with more than 128 MiB, the most a client can hold",
                          r.stderr)
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
            bots.cleanup()

    def test_unreachable(self):
        bots = jqtest.BotsDir()
        try:
            r = subprocess.run([jqtest.ADMIN, "-c" + bots.config, "status"], capture_output=True,
                               text=True, timeout=15)
            self.assertEqual(r.returncode, 1)
            self.assertIn("127.0.0.1:%d" % bots.port, r.stderr)
        finally:
            bots.cleanup()


if __name__ == "__main__":
    jqtest.main()
