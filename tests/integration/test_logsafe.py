"""The log cannot be forged or flooded (issue 12, item 5), tried as a
client and as a job would: a task whose text holds a complete fake log
line, job output full of fake lines and terminal escapes, and refused
addjobs carrying 64 KB as fast as one connection sends them.  Every line
of the file must parse as the log format (a record, or an indented
continuation of one), and the file must stay small."""

import os
import re
import signal

import jqtest

RECORD = re.compile(r"^\d{8} \d\d:\d\d:\d\d (DEBUG|INFO|STARTINFO|WARNING|ERROR|CRITICAL) *: ")
FAKE = "20261127 14:03:07 INFO     : Finished job 9, elapsed time 0:00:00, exit code 0"


def check_lines(test, text):
    """Every line is a record or an indented continuation; no control
    character but tab reaches the file."""
    for line in text.split("\n")[:-1]:
        test.assertTrue(RECORD.match(line) or line.startswith("    "),
                        "not a log line: %r" % line)
    for ch in text:
        test.assertFalse(ord(ch) < 0x20 and ch not in "\t\n", "control character %r in the log" % ch)
        test.assertFalse(0x7f <= ord(ch) < 0xa0, "control character %r in the log" % ch)


class Forging(jqtest.ServerTestCase):
    # the job's output is logged (Bots 3, the default here, drops it)
    jobqueue = {"authorized_tasks": "*", "log_job_output": "True"}

    def test_start_error_cannot_forge_a_line(self):
        task = ["no-such-program\n" + FAKE + "\n", "arg\n" + FAKE]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.bots.wait_log("Error starting job 1")
        log = self.bots.log()
        check_lines(self, log)
        self.assertNotIn("\n" + FAKE, log)
        # the history keeps the task as data, the error as one line
        row = jqtest.wait_for(lambda: self.rpc.history(5), "the history row")[0]
        self.assertEqual(row["task"], task)
        self.assertNotIn("\n", row["start_error"])
        self.assertIn("'no-such-program\\n2026", row["start_error"])

    def test_job_output_cannot_forge_a_line(self):
        script = ("printf 'first\\n%s\\n\\033[2J\\033]0;title\\007\\rover\\302\\233x\\n'; "
                  "printf '%s\\n\\033[31m' >&2; exit 1" % (FAKE, FAKE))
        self.assertEqual(self.rpc.addjob(["sh", "-c", script], 5), 0)
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        check_lines(self, log)
        self.assertNotIn("\n" + FAKE, log)
        self.assertIn("\n    " + FAKE + "\n", log)
        self.assertIn("\\x1b[2J\\x1b]0;title\\x07\\x0dover\\x9bx", log)
        finished = [l for l in log.splitlines() if RECORD.match(l) and ": Finished job " in l[:45]]
        self.assertEqual(len(finished), 1, finished)


class Flooding(jqtest.ServerTestCase):

    def test_refused_tasks_do_not_fill_the_disk(self):
        big = "a" * 65000
        n = 300
        for i in range(n):
            self.assertEqual(self.rpc.submit(["rm", big, str(i)], 5)["code"], 3)
        size = os.path.getsize(self.bots.log_path)
        self.assertLess(size, 64 * 1024, "the log grew to %d bytes" % size)
        log = self.bots.log()
        self.assertTrue("... [cut: the task has 3 arguments, 65003 bytes]" in log)
        check_lines(self, log)
        # the count is written when the minute is over, or at the stop
        self.rpc("close")()
        self.server.stop(signal.SIGTERM)
        log = self.bots.log()
        self.assertRegex(log, r"ERROR    : %d more refused tasks in the last 60 seconds "
                              r"were not logged one by one\." % (n - 10))
        check_lines(self, log)
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()

    def test_duplicates_are_counted(self):
        gate = self.bots.path("gate")
        self.assertEqual(self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", gate), 5), 0)
        jqtest.wait_for(lambda: self.events(), "holder to start")
        task = ["bots-engine", "-c" + "x" * 5000]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        for _ in range(200):
            self.assertEqual(self.rpc.addjob(task, 5), 4)
        self.rpc.clearjobq()
        open(gate, "w").close()
        self.bots.wait_log("Finished job 1")
        self.assertEqual(self.bots.log().count("Duplicate job not added"), 10)


if __name__ == "__main__":
    jqtest.main()
