"""The installed Bots, word for word (issue 20, items 3 and 4): its
version as Bots itself knows it (a literal in the package for Bots 3, the
installed distribution's metadata for Bots 4), its config found as that
version finds it (Bots 4 ships a config template inside its package,
which Bots 4 never reads without -c), and its own server's log lines at
its own levels."""

import os
import re
import signal
import sys
import unittest

import fakebots
import jqtest


class Bots4KnownByMetadata(unittest.TestCase):
    """A Bots 4.0.0 whose package holds no version literal: only its
    bots-4.0.0.dist-info (or egg-info) says which Bots it is."""

    def install(self, **kw):
        self.bots = fakebots.FakeBots(4, **kw)
        self.addCleanup(self.bots.cleanup)

    def stop(self):
        for proc in self.bots.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=jqtest.DEADLINE)

    def assert_bots4(self):
        """Served as Bots 4: its log file, format and answers."""
        self.bots.wait_log("Bots 4.0.0.")
        log = self.bots.log()
        self.assertRegex(log, r"(?m)^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d STARTINFO "
                              r"\[bots\.jobqueueserver\] Bots jobqueue started\.$")
        self.assertEqual(self.bots.proxy().addjob(["rm", "-rf", "/"], 5), 3)
        self.assertFalse(os.path.exists(os.path.join(self.bots.pkg, "botssys", "logging",
                                                     "jobqueue.log")))

    def start_by_wrapper(self):
        """The old-name wrapper under Bots' Python, as a switched script
        runs it (test_dropin.py switches; this is the wrapper alone): it
        asks that Python's importlib.metadata and passes the answer on."""
        self.bots.start([self.bots.python, fakebots.WRAPPER],
                        env=self.bots.env(path=fakebots.PROGRAMS + ":/usr/bin:/bin"))

    def test_dist_info_with_the_config_template(self):
        self.install(template=True)
        self.start_by_wrapper()
        self.assert_bots4()

    def test_dist_info_without_the_config_template(self):
        self.install(template=False)
        self.start_by_wrapper()
        self.assert_bots4()

    def test_egg_info(self):
        self.install(known_by="egg-info")
        self.start_by_wrapper()
        self.assert_bots4()

    @unittest.skipUnless(sys.version_info >= (3, 8), "no importlib.metadata")
    def test_editable_install_by_the_wrapper(self):
        # pip install -e: only Bots' Python can tell (the metadata is not
        # beside the package and lists none of its files)
        self.install(known_by="editable", venv=True)
        self.start_by_wrapper()
        self.assert_bots4()

    def test_our_program_asks_bots_python(self):
        # no wrapper: the C program asks the Python named by Bots' scripts
        self.install(template=True)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(path=self.bots.bin + ":/usr/bin:/bin"))
        self.assert_bots4()

    def test_bots_dir_reads_the_metadata_files(self):
        # BOTS_DIR names the package; no Python is asked at all
        self.install(template=True)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(BOTS_DIR=self.bots.pkg))
        self.assert_bots4()

    def test_bots3_by_its_literal(self):
        self.bots = fakebots.FakeBots(3)
        self.addCleanup(self.bots.cleanup)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(BOTS_DIR=self.bots.pkg))
        self.bots.wait_log("Bots 3.3.0.")
        self.assertRegex(self.bots.log(), r"(?m)^\d{8} \d\d:\d\d:\d\d STARTINFO: Bots jobqueue "
                                          r"started\.$")


# The lines of each version's own server, written here from PROTOCOL.md
# section 5's table (not from any code): {N} job number, {P} priority,
# {TASK} the task as Python prints a list, {S} elapsed seconds as Python
# prints a float, {R} exit code, {JOB} [priority, number, task], {M}
# maxruntime in minutes.  Each is (level, message).
BOTS3 = {
    "added": ("INFO", "Added job {N}, priority {P}: {TASK}"),
    "duplicate": ("INFO", "Duplicate job not added: {TASK}"),
    "priority": ("INFO", "Duplicate job, changed priority to {P}: {TASK}"),
    "cleared": ("INFO", "Job queue cleared."),
    "start": ("INFO", "Starting job {N}"),
    "end": ("INFO", "Finished job {N}, elapsed time {S}, result {R}"),
    "maxruntime": ("ERROR", "Job {N} exceeded maxruntime of {M} minutes"),
}
BOTS4 = {
    "added": ("INFO", "Added job {N}, priority {P}: {TASK}"),
    "duplicate": ("WARNING", "Duplicate job not added: {TASK}"),
    "priority": ("INFO", "Duplicate job, changed priority to {P}: {TASK}"),
    "cleared": ("INFO", "Job queue cleared."),
    "start": ("START", "Starting job {N}: {TASK}"),
    "end": ("DONE", "Finished job {N}, elapsed time: {S}, exit code {R}"),
    "nonzero": ("ERROR", "job {JOB}, exit with code {R}"),
    "maxruntime": ("ERROR", "Job {N} exceeded maxruntime of {M} minutes"),
    "terminating": ("INFO", "Terminating job {N}: {TASK}"),
    "killing": ("INFO", "Killing job {N}: {TASK}"),
    "invalid": ("ERROR", "Invalid task received: {TASK}"),
    "empty": ("ERROR", "No task specified."),
}
# A line of each version's file, around (level, message).
LINE3 = r"^\d{8} \d\d:\d\d:\d\d %s: %s$"
LINE4 = r"^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d %s \[bots\.jobqueueserver\] %s$"
FLOAT = r"(?P<S>\d+\.\d+(?:e-\d\d)?|\d(?:\.\d+)?e-\d\d)"


class LogLines:
    """Every event the installed Bots' own server logs, word for word, at
    its level names (a mixin: each version's class below runs it)."""

    version = None
    table = None
    line = None

    def setUp(self):
        self.jobqueue = {"bots_version": str(self.version), "authorized_tasks": jqtest.PYTHON
                         + " " + jqtest.JOB, "log_file_level": "STDOUT",
                         "killjobsintimeout": "True", "kill_grace": "1"}
        if self._testMethodName == "test_maxruntime":
            # seconds, not minutes; 3 leave a loaded machine's Python
            # time to start and ignore SIGTERM
            self.settings = {"maxruntime": "3"}
            self.env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}
        super().setUp()
        self.log_path = (os.path.join(self.bots.botssys, "logging", "jobqueue", "jobqueue.log")
                         if self.version == 4 else self.bots.log_path)
        self.bots.log_path = self.log_path

    def pattern(self, event, partial=False, **values):
        level, message = self.table[event]
        message = re.escape(message)
        for key, value in values.items():
            message = message.replace(re.escape("{%s}" % key), value if key == "S"
                                      else re.escape(str(value)))
        if partial:
            message += ".*"
        return self.line % (re.escape("%-9s" % level), message)

    def find(self, event, partial=False, **values):
        """The match of @event's line in the log, waited for."""
        regex = re.compile(self.pattern(event, partial, **values), re.M)
        return jqtest.wait_for(lambda: regex.search(self.bots.log()),
                               "%s line %s in:\n%s" % (event, regex.pattern, self.bots.log()[-3000:]))

    def assert_float(self, text):
        """S is what Python prints for some float: its repr reads back as
        itself."""
        self.assertEqual(repr(float(text)), text)

    def test_every_event(self):
        gate = self.bots.path("gate")
        first = self.job(self.bots.path("events"), "first", "--wait", gate,
                         "--out", "first out", "--err", "first remark")
        failing = self.job(self.bots.path("events"), "failing", "--out", "fail out",
                           "--err", "it broke", "--exit", "3")
        rpc = self.rpc
        t1, t2 = repr(first), repr(failing)
        self.assertEqual(rpc.addjob(first, 5), 0)
        self.find("added", N=1, P=5, TASK=t1)
        self.find("start", N=1, TASK=t1)
        spare = self.job(self.bots.path("events"), "spare")
        rpc.addjob(spare, 5)
        rpc.clearjobq()
        self.find("cleared")
        self.assertEqual(rpc.addjob(failing, 5), 0)
        self.find("added", N=3, P=5, TASK=t2)
        rpc.addjob(failing, 5)
        self.find("duplicate", TASK=t2)
        rpc.addjob(failing, 4)
        self.find("priority", P=4, TASK=t2)
        if self.version == 4:
            rpc.addjob([], 5)
            self.find("empty")
            rpc.addjob(["rm", "-rf", "/"], 5)
            self.find("invalid", partial=True, TASK=repr(["rm", "-rf", "/"]))
        open(gate, "w").close()
        end1 = self.find("end", N=1, S=FLOAT, R=0)
        self.assert_float(end1.group("S"))
        self.find("start", N=3, TASK=t2)
        end3 = self.find("end", N=3, S=FLOAT, R=3)
        self.assert_float(end3.group("S"))
        log = self.bots.log()
        if self.version == 4:
            error = self.find("nonzero", JOB=repr([4, 3, failing]), R=3)
            self.assertLess(error.start(), end3.start())
            # output: a line separator, then the text, at Bots 4's levels
            for level, text in (("STDOUT", "first out"), ("STDERR", "first remark"),
                                ("STDOUT", "fail out"), ("ERROR", "it broke")):
                self.assertRegex(log, "(?m)" + self.line % (re.escape("%-9s" % level), "")
                                 + "\n    " + re.escape(text) + "$")
        else:
            for text in ("first out", "first remark", "fail out", "it broke"):
                # Bots 3 discards a job's output (the text is in the task)
                self.assertNotRegex(log, "(?m)^    " + text)

    def test_maxruntime(self):
        never = self.bots.path("never")
        task = self.job(self.bots.path("events"), "stuck", "--ignore-term", "--wait", never)
        self.rpc.addjob(task, 5)
        self.find("maxruntime", N=1, M=3)
        self.find("end", N=1, S=FLOAT, R=-9)
        if self.version == 4:
            self.find("terminating", N=1, TASK=repr(task))
            self.find("killing", N=1, TASK=repr(task))


class LogLinesBots3(LogLines, jqtest.ServerTestCase):
    version = 3
    table = BOTS3
    line = LINE3


class LogLinesBots4(LogLines, jqtest.ServerTestCase):
    version = 4
    table = BOTS4
    line = LINE4


class Bots4OutputLevels(jqtest.ServerTestCase):
    """At Bots 4's default file level (INFO), a job's output reaches the
    file only as the ERROR of a failed job."""
    jobqueue = {"bots_version": "4"}

    def test_default_level(self):
        self.bots.log_path = os.path.join(self.bots.botssys, "logging", "jobqueue",
                                          "jobqueue.log")
        self.rpc.addjob(self.job(self.bots.path("events"), "ok", "--out", "quiet out",
                                 "--err", "quiet err"), 5)
        self.rpc.addjob(self.job(self.bots.path("events"), "bad", "--err", "loud err",
                                 "--exit", "1"), 5)
        self.bots.wait_log("Finished job 2")
        log = self.bots.log()
        self.assertNotRegex(log, "(?m)^    quiet")
        self.assertRegex(log, r"ERROR     \[bots\.jobqueueserver\] \n    loud err\n")


class Bots3OutputAsked(jqtest.ServerTestCase):
    """Bots 3 discards a job's output; [jobqueue] log_job_output (ours)
    asks for it."""
    jobqueue = {"bots_version": "3", "log_job_output": "True"}

    def test_asked(self):
        self.rpc.addjob(self.job(self.bots.path("events"), "ok", "--out", "now shown"), 5)
        self.bots.wait_log("Finished job 1")
        self.assertRegex(self.bots.log(), r"INFO     : Job 1 stdout:\n    now shown\n")


def zone_not_local():
    """A zone whose offset now differs from the system's, so that a time
    shown in the wrong one cannot pass."""
    import datetime
    from zoneinfo import ZoneInfo
    local = datetime.datetime.now().astimezone().utcoffset()
    for name in ("Asia/Tokyo", "America/Caracas"):
        if datetime.datetime.now(ZoneInfo(name)).utcoffset() != local:
            return name, ZoneInfo(name)
    raise unittest.SkipTest("no zone differs from the system's")


class AdminTimeZone(jqtest.ServerTestCase):
    """bots-jobqueue history shows times in settings.py's TIME_ZONE, the
    zone of the log, not the system's; --json keeps the server's unix
    times."""

    def test_history_in_time_zone(self):
        import datetime
        import json
        import subprocess
        try:
            name, zone = zone_not_local()
        except ImportError:
            self.skipTest("no zoneinfo")
        with open(os.path.join(self.bots.config, "settings.py"), "w") as f:
            f.write("TIME_ZONE = %r\n" % name)
        self.rpc.addjob(self.job(self.bots.path("events"), "one"), 5)
        self.bots.wait_log("Finished job 1")

        def cli(*args):
            r = subprocess.run([jqtest.ADMIN, "-c" + self.bots.config] + list(args),
                               capture_output=True, text=True, timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout
        ended = json.loads(cli("--json", "history"))[0]["ended"]
        want = datetime.datetime.fromtimestamp(ended, zone).strftime("%Y-%m-%d %H:%M:%S")
        table = cli("history")
        self.assertRegex(table, r"\n1 +5 +%s " % re.escape(want))
        self.assertIn("(times in %s, the TIME_ZONE of settings.py)" % name, table)


class StatusTimeZone(unittest.TestCase):
    """The status page shows times in settings.py's TIME_ZONE; status.json
    names it and gives now in ISO 8601 with its offset."""

    def setUp(self):
        import datetime
        try:
            self.zone_name, self.zone = zone_not_local()
        except ImportError:
            self.skipTest("no zoneinfo")
        self.datetime = datetime
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        self.addCleanup(self.bots.cleanup)
        with open(os.path.join(self.bots.config, "settings.py"), "w") as f:
            f.write("TIME_ZONE = %r\n" % self.zone_name)
        self.server = jqtest.Server(self.bots)
        self.addCleanup(self.server.stop)

    def status(self):
        import json
        conn = jqtest.http.client.HTTPConnection("127.0.0.1", self.bots.port,
                                                 timeout=jqtest.DEADLINE)
        try:
            conn.request("GET", "/status.json")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def test_json_and_page(self):
        rpc = self.server.proxy()
        number = rpc.submit(["true"], 5)["jobnumber"]
        self.assertEqual(rpc.wait(number, 20)["state"], "finished")
        st = self.status()
        self.assertEqual(st["time_zone"], self.zone_name)
        now = self.datetime.datetime.fromisoformat(st["now_iso"])
        self.assertEqual(now.utcoffset(),
                         self.datetime.datetime.now(self.zone).utcoffset())
        self.assertLess(abs(now.timestamp() - st["now"] / 1000), 1)
        import browser
        if browser.chromium_path() is None:
            self.skipTest("no chromium for the page itself")
        ended = st["finished"][0]["ended"]
        want = self.datetime.datetime.fromtimestamp(ended / 1000, self.zone).strftime(
            "%Y-%m-%d %H:%M:%S")
        b = browser.Browser()
        self.addCleanup(b.close)
        b.open("http://127.0.0.1:%d/" % self.bots.port)
        shown = jqtest.wait_for(lambda: b.eval(
            "(function () { var r = document.querySelector('#finished tr[data-job]');"
            " return r ? r.children[2].textContent : ''; })()"), "the page's finished job",
            interval=0.1)
        self.assertEqual(shown, want)


if __name__ == "__main__":
    jqtest.main()
