"""Error reports: the configured command gets a message with the right
subject on each event; a failing report command is logged, never fatal."""

import os

import jqtest

REPORT = os.path.join(jqtest.SRCDIR, "tests", "integration", "report.py")


class Reports(jqtest.ServerTestCase):
    # seconds here (the faults server's test aid): 5, so that a Python job
    # that ends at once is not also over it on a loaded machine
    settings = {"sendreportiferror": "True", "maxruntime": "5"}
    env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}

    def setUp(self):
        self.outbox = jqtest.tempfile.mkdtemp(prefix="jqreports-")
        self.jobqueue = {"authorized_tasks": "*", "report_to": "edi-admins@example.com",
                         "report_command": "%s %s %s" % (jqtest.PYTHON, REPORT, self.outbox),
                         "report_failed_jobs": "True", "report_failures_in_a_row": "2"}
        super().setUp()

    def tearDown(self):
        super().tearDown()
        jqtest.shutil.rmtree(self.outbox, ignore_errors=True)

    def reports(self, n):
        def read():
            names = sorted(n for n in os.listdir(self.outbox) if not n.startswith("."))
            if len(names) < n:
                return None
            out = []
            for name in names:
                with open(os.path.join(self.outbox, name)) as f:
                    out.append(f.read())
            return out
        return jqtest.wait_for(read, "%d reports" % n)

    def test_reports_on_each_event(self):
        self.rpc.addjob(["/nonexistent/program"], 1)          # could not start
        got = self.reports(1)
        self.assertIn("To: edi-admins@example.com\nSubject: [bots-jobqueue] Job 1 could not be started\n\n", got[0])
        self.assertIn("ENV-SUBJECT: [bots-jobqueue] Job 1 could not be started", got[0])
        self.assertIn("Task: ['/nonexistent/program']", got[0])

        self.rpc.addjob(self.job(self.bots.path("e"), "bad", "--exit", "3"), 1)   # failed
        got = self.reports(3)
        subjects = sorted(line for r in got for line in r.splitlines() if line.startswith("Subject:"))
        self.assertIn("Subject: [bots-jobqueue] Job 2 failed with exit code 3", subjects)
        # two failures in a row (the start failure and this one)
        self.assertIn("Subject: [bots-jobqueue] 2 jobs in a row failed", subjects)

        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("e"), "slow", "--wait", gate), 1)
        got = self.reports(4)
        self.assertTrue(any("Subject: [bots-jobqueue] Job 3 exceeded maxruntime of 5 minutes" in r
                            for r in got), got)
        open(gate, "w").close()
        self.bots.wait_log("Finished job 3")
        self.assertIn("Sending error report: [bots-jobqueue] Job 1 could not be started", self.bots.log())

    def test_reports_are_rate_limited(self):
        """300 jobs that could not start sent 301 reports in 5 s: at most
        10 a minute now, the rest counted for one summary report."""
        for i in range(60):
            self.rpc.addjob(["/nonexistent/program", str(i)], 1)
        self.bots.wait_log("Error starting job 60")
        self.bots.wait_log("More than 10 error reports in 60 seconds")
        # each report is spawned (and logged) as its job fails
        self.assertEqual(self.bots.log().count("Sending error report"), 10)
        self.assertEqual(len(self.reports(10)), 10)

    def test_report_shows_the_task_escaped_and_cut(self):
        """A task cannot write headers or lines of its own into a report,
        nor make it megabytes long."""
        task = ["/nonexistent/x\nSubject: forged\n", "a" * 60000]
        self.rpc.addjob(task, 1)
        got = self.reports(1)[0]
        self.assertNotIn("\nSubject: forged", got)
        self.assertIn("Task: ['/nonexistent/x\\nSubject: forged\\n', 'aaaa", got)
        self.assertRegex(got, r"\.\.\. \[cut: the task has 2 arguments, 600[0-9]{2} bytes\]")
        self.assertLess(len(got), 4000)


class ReportsOff(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*", "report_command": "/bin/false", "report_failed_jobs": "True"}

    def test_no_reports_unless_sendreportiferror(self):
        self.rpc.addjob(["/nonexistent/program"], 1)
        self.rpc.addjob(["sh", "-c", "exit 2"], 2)
        self.bots.wait_log("Finished job 2")
        self.assertNotIn("error report", self.bots.log().lower())


class ReportCommandFails(jqtest.ServerTestCase):
    settings = {"sendreportiferror": "True"}
    jobqueue = {"authorized_tasks": "*", "report_command": "/nonexistent/sendmail -t"}

    def test_failure_logged_not_fatal(self):
        self.rpc.addjob(["/nonexistent/program"], 1)
        self.bots.wait_log("Error report \"[bots-jobqueue] Job 1 could not be started\" not sent:")
        self.assertEqual(self.rpc.addjob(["sh", "-c", "exit 0"], 1), 0)
        self.bots.wait_log("Finished job 2")


class ReportCommandExitsBadly(jqtest.ServerTestCase):
    settings = {"sendreportiferror": "True"}
    jobqueue = {"authorized_tasks": "*", "report_command": "sh -c 'cat >/dev/null; exit 3'"}

    def test_status_logged_not_fatal(self):
        self.rpc.addjob(["/nonexistent/program"], 1)
        self.bots.wait_log("Error report \"[bots-jobqueue] Job 1 could not be started\": the report "
                           "command failed (Child process exited with code 3)")
        self.assertEqual(self.rpc.addjob(["sh", "-c", "exit 0"], 1), 0)
        self.bots.wait_log("Finished job 2")


if __name__ == "__main__":
    jqtest.main()
