"""The soak checker judged on small recorded runs made here: clean ones
must read clean, and a run with a lost job, an overlap or too many
repeats must say so with the evidence.  Last, one real soak of a few
seconds, so that what soak.py records is what soakcheck.py reads."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soakcheck  # noqa: E402

TASK = "['sh', '-c', 'exec 9>>\"$2\"; ...', '%s', '/tmp/r/ran', '/tmp/r/ran.lock']"


def info(message, stamp="20261128 07:43:01"):
    return "%s INFO     : %s" % (stamp, message)


def added(number, name, priority=5):
    return info("Added job %d, priority %d: %s" % (number, priority, TASK % name))


def starting(number, name):
    return info("Starting job %d: %s" % (number, TASK % name))


def finished(number):
    return info("Finished job %d, elapsed time 0:00:00.003, exit code 0" % number)


def figure(verdict, what):
    """(value, ok) of the verdict's line starting with @what."""
    return next((value, ok) for w, value, ok in verdict.results if w.startswith(what))


CLEARED = info("Job queue cleared.")
STARTED = "20261128 07:43:00 STARTINFO: Bots jobqueue started."


class Run:
    """A recorded run in a temporary folder, laid out as soak.py writes it."""

    def __init__(self, log, acks, ran, restarts=None, kills=0, clears=(), unanswered_clears=()):
        self.folder = tempfile.mkdtemp(prefix="soakcheck-")
        os.makedirs(os.path.join(self.folder, "botssys", "logging"))
        self.write(os.path.join("botssys", "logging", "jobqueue.log"), log)
        self.write("acks", ["%s %s" % a if isinstance(a, tuple) else "%s 0" % a for a in acks])
        self.write("ran", ["start %s 1" % n for n in ran] + ["end %s 1" % n for n in ran])
        self.write("clears", ["%.6f" % t for t in clears])
        self.write("clears-unanswered", ["%d" % k for k in unanswered_clears])
        if restarts is None:
            restarts = [[] for line in log if "jobqueue started" in line]
        self.write("restarts", [json.dumps({"start": k, "waiting": w}) for k, w in enumerate(restarts)])
        with open(os.path.join(self.folder, "driver.json"), "w") as f:
            json.dump({"kills": kills, "calls": 10, "errors": 0}, f)

    def write(self, name, lines):
        with open(os.path.join(self.folder, name), "w") as f:
            f.write("".join(line + "\n" for line in lines))

    def append(self, name, lines):
        with open(os.path.join(self.folder, name), "a") as f:
            f.write("".join(line + "\n" for line in lines))

    def check(self):
        return soakcheck.check(self.folder)

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


# Four acknowledged jobs: 1, 2 and 4 ran; 3 was waiting when a clear ran.
CLEAN_LOG = [
    STARTED,
    added(1, "soak-c0-0"), starting(1, "soak-c0-0"),
    added(2, "soak-c1-0"), finished(1), starting(2, "soak-c1-0"),
    added(3, "soak-c0-1"), CLEARED, finished(2),
    added(4, "soak-c1-1"), starting(4, "soak-c1-1"), finished(4),
]
CLEAN_ACKS = ["soak-c0-0", "soak-c1-0", "soak-c0-1", "soak-c1-1"]
CLEAN_RAN = ["soak-c0-0", "soak-c1-0", "soak-c1-1"]


class CheckerTest(unittest.TestCase):
    def run_of(self, *args, **kwargs):
        run = Run(*args, **kwargs)
        self.addCleanup(run.remove)
        return run

    def figure(self, verdict, what):
        return figure(verdict, what)

    def assertClean(self, verdict):
        self.assertTrue(verdict.ok, verdict.report())
        self.assertEqual(verdict.evidence, [])
        self.assertTrue(verdict.report().endswith("soak: clean"))

    def assertLost(self, verdict, name, *evidence):
        report = verdict.report()
        self.assertFalse(verdict.ok, report)
        self.assertEqual(self.figure(verdict, "acknowledged, never run"), (1, False), report)
        self.assertIn("LOST %s" % name, report)
        for text in evidence:
            self.assertIn(text, report)
        self.assertTrue(report.endswith("soak: INVARIANT VIOLATED"))
        return report

    def test_clean_run_is_clean(self):
        v = self.run_of(CLEAN_LOG, CLEAN_ACKS, CLEAN_RAN).check()
        self.assertClean(v)
        self.assertEqual(self.figure(v, "acknowledged, then removed by a clear"), (1, True))
        self.assertEqual(self.figure(v, "jobs acknowledged"), (4, True))
        self.assertEqual(self.figure(v, "jobs run"), (3, True))

    def test_acknowledged_job_that_never_ran_is_lost_with_evidence(self):
        # soak-c1-1 was acknowledged and added last: no clear can excuse it
        ran = [n for n in CLEAN_RAN if n != "soak-c1-1"]
        report = self.assertLost(self.run_of(CLEAN_LOG, CLEAN_ACKS, ran).check(), "soak-c1-1",
                                 "the server started it (log line jobqueue.log:11), but")
        # its log lines, marked, with those before and after
        self.assertIn("> jobqueue.log:10", report)
        self.assertIn("Added job 4, priority 5", report)
        self.assertIn("  jobqueue.log:9 ", report)   # the finish before it
        self.assertIn("  jobqueue.log:8 ", report)   # the clear before it
        self.assertIn("> jobqueue.log:11", report)  # its Starting line

    def test_acknowledged_job_missing_from_the_server_log_is_lost(self):
        log = [line for line in CLEAN_LOG if "soak-c0-1" not in line]
        self.assertLost(self.run_of(log, CLEAN_ACKS, CLEAN_RAN).check(), "soak-c0-1",
                        "never says it was added", "no line of the log names it")

    def test_issue_false_alarm_add_then_clear_is_clean(self):
        # The server added the job, then cleared the queue; the adding
        # client read its clock 2 ms after the clearing client did.
        log = [STARTED, info("Added job 74978, priority 7: %s" % (TASK % "soak-c1-9304")),
               CLEARED]
        run = self.run_of(log, [("soak-c1-9304", "1795850581.002000")], [],
                          clears=[1795850581.000])
        self.assertClean(run.check())

    def test_job_missing_after_a_restart_is_not_excused_by_a_later_clear(self):
        # Client clocks would say "added before the clear": the server's
        # list after the restart says it was gone before the clear ran.
        log = [STARTED, added(1, "soak-c0-0"), added(2, "soak-c0-1"),
               STARTED, CLEARED]
        run = self.run_of(log, ["soak-c0-0", "soak-c0-1"], [], restarts=[[], ["soak-c0-1"]],
                          kills=1)
        self.assertLost(run.check(), "soak-c0-0", "missing from the waiting jobs listed after",
                        "> jobqueue.log:4")

    def test_job_missing_after_an_unanswered_clear_and_a_kill_is_clean(self):
        # A recorded 3-second soak: the server committed a clear, was
        # killed before its log line was written, and the clearing client
        # got no answer: 96 waiting jobs were judged lost.
        log = [STARTED, added(1, "soak-c0-0"), added(2, "soak-c0-1"), STARTED]
        run = self.run_of(log, ["soak-c0-0", "soak-c0-1"], [], restarts=[[], []], kills=1,
                          unanswered_clears=[1])
        v = run.check()
        self.assertClean(v)
        self.assertEqual(self.figure(v, "acknowledged, then removed by an unanswered clear"),
                         (2, True))

    def test_unanswered_clear_excuses_only_the_restart_after_it(self):
        # the clear went unanswered in the second server's life: the first
        # restart's missing job is still lost
        log = [STARTED, added(1, "soak-c0-0"), STARTED, added(2, "soak-c0-1"), STARTED]
        run = self.run_of(log, ["soak-c0-0", "soak-c0-1"], [], restarts=[[], [], []], kills=2,
                          unanswered_clears=[2])
        self.assertLost(run.check(), "soak-c0-0", "missing from the waiting jobs listed after")

    def test_job_listed_after_a_restart_then_cleared_is_clean(self):
        log = [STARTED, added(1, "soak-c0-0"), STARTED, CLEARED]
        run = self.run_of(log, ["soak-c0-0"], [], restarts=[[], ["soak-c0-0"]], kills=1)
        self.assertClean(run.check())

    def test_never_started_and_no_clear_after_it_is_lost(self):
        log = CLEAN_LOG[:-2]    # job 4 added, never started
        ran = [n for n in CLEAN_RAN if n != "soak-c1-1"]
        self.assertLost(self.run_of(log, CLEAN_ACKS, ran).check(), "soak-c1-1",
                        "no clear follows its \"Added job\" line", "> jobqueue.log:10")

    def test_started_by_the_server_but_never_ran_is_lost(self):
        log = [STARTED, added(1, "soak-c0-0"), starting(1, "soak-c0-0"), CLEARED]
        self.assertLost(self.run_of(log, ["soak-c0-0"], []).check(), "soak-c0-0",
                        "the server started it")

    def test_started_then_listed_again_after_a_restart_then_cleared_is_clean(self):
        # A kill before the start was committed (or before the spawn): the
        # restarted server lists it as waiting, and then a clear removes it.
        log = [STARTED, added(1, "soak-c0-0"), starting(1, "soak-c0-0"), STARTED, CLEARED]
        run = self.run_of(log, ["soak-c0-0"], [], restarts=[[], ["soak-c0-0"]], kills=1)
        self.assertClean(run.check())
        run.write("restarts", ['{"start": 0, "waiting": []}', '{"start": 1, "waiting": []}'])
        self.assertLost(run.check(), "soak-c0-0", "the server started it (log line jobqueue.log:3)")

    def test_unknown_list_after_a_restart_gives_the_benefit_of_the_doubt(self):
        log = [STARTED, added(1, "soak-c0-0"), starting(1, "soak-c0-0"), STARTED, CLEARED]
        run = self.run_of(log, ["soak-c0-0"], [], restarts=[[], None], kills=1)
        self.assertClean(run.check())

    def test_number_given_again_after_a_kill_names_the_new_job(self):
        # An add the kill undid (never acknowledged) wrote its line; the
        # restarted server gives number 2 again to another job.
        log = [STARTED, added(1, "soak-c0-0"), added(2, "soak-c1-0"),
               STARTED, added(2, "soak-c2-0"), starting(2, "soak-c2-0"), CLEARED]
        run = self.run_of(log, ["soak-c0-0", "soak-c2-0"], [], restarts=[[], ["soak-c0-0"]],
                          kills=1)
        self.assertLost(run.check(), "soak-c2-0", "the server started it")

    def test_evidence_of_many_lost_jobs_is_cut_short(self):
        names = ["soak-c0-%d" % i for i in range(soakcheck.MAX_SHOWN + 5)]
        log = [STARTED] + [added(i + 1, n) for i, n in enumerate(names)]
        v = self.run_of(log, names, []).check()
        self.assertEqual(self.figure(v, "acknowledged, never run"), (len(names), False))
        self.assertEqual(v.report().count("LOST "), soakcheck.MAX_SHOWN)
        self.assertIn("(5 more lost jobs not shown)", v.report())

    def test_overlap_is_reported(self):
        run = self.run_of(CLEAN_LOG, CLEAN_ACKS, CLEAN_RAN)
        run.append("ran", ["overlap soak-c1-0 2"])
        v = run.check()
        self.assertFalse(v.ok)
        self.assertEqual(self.figure(v, "runs that found another running"), (1, False))
        self.assertIn("OVERLAP soak-c1-0", v.report())
        self.assertIn("Starting job 2", v.report())

    def test_repeats_beyond_two_per_kill_are_reported(self):
        run = self.run_of(CLEAN_LOG, CLEAN_ACKS, CLEAN_RAN, kills=1)
        self.assertClean(run.check())
        run.append("ran", ["start soak-c0-0 3", "start soak-c1-0 3", "start soak-c1-1 3"])
        v = run.check()
        self.assertEqual(self.figure(v, "jobs run twice"), (3, False))
        self.assertIn("RAN 2 TIMES soak-c1-1", v.report())

    def test_log_spellings_are_read_tolerantly(self):
        # Tasks escaped otherwise, indented output lines, Bots 4's line
        # format, and a line a kill cut short with the next start glued on.
        log = [
            STARTED,
            info("Added job 1, priority 3: ['sh', '-c', 'it\\'s \\x00', 'soak-c0-0', '/r']"),
            info('Added job 2, priority 3: ["sh", "-c", "x", "soak-c0-1"]'),
            "2026.11.28 07:43:01 INFO      [bots.jobqueueserver] Added job 3, priority 1: "
            + TASK % "soak-c0-2",
            info("Starting job 1: ...") + "\n    Added job 9, priority 1: 'soak-c9-9'",
            info("Added job 4, priority 3: ['sh', 'soak-c0-3") + STARTED,
            CLEARED,
        ]
        run = self.run_of(log, ["soak-c0-0", "soak-c0-1", "soak-c0-2"], ["soak-c0-0"],
                          restarts=[[], ["soak-c0-1", "soak-c0-2"]])
        v = run.check()
        self.assertClean(v)
        self.assertEqual(self.figure(v, "server starts with the waiting jobs listed"),
                         ("2 / 2", True))
        # the output line that looks like an add is not one
        run.write("acks", ["soak-c9-9 0"])
        self.assertLost(run.check(), "soak-c9-9", "never says it was added")

    def test_rotated_logs_are_read_oldest_first(self):
        run = self.run_of(CLEAN_LOG[:7], CLEAN_ACKS, CLEAN_RAN)
        run.write(os.path.join("botssys", "logging", "jobqueue.log.2026-11-27"), CLEAN_LOG[:7])
        run.write(os.path.join("botssys", "logging", "jobqueue.log"), CLEAN_LOG[7:])
        self.assertClean(run.check())

    def test_command_line_exit_status(self):
        clean = self.run_of(CLEAN_LOG, CLEAN_ACKS, CLEAN_RAN)
        lost = self.run_of(CLEAN_LOG, CLEAN_ACKS, CLEAN_RAN[:1])
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(soakcheck.main(["soakcheck.py", clean.folder]), 0)
            self.assertEqual(soakcheck.main(["soakcheck.py", lost.folder]), 1)
        self.assertIn("LOST soak-c1-1", out.getvalue())
        self.assertTrue(os.path.isdir(lost.folder))  # the checker only reads


class RecordedRunTest(unittest.TestCase):
    """A real soak of a few seconds with two SIGKILLs, recorded by soak.py
    and judged by the checker; then the same record with one acknowledged
    job taken out of it."""

    @classmethod
    def setUpClass(cls):
        import soak
        cls.soak = soak.Soak(duration=3, clients=4, kill_every=(1, 1.2))
        try:
            cls.folder = cls.soak.run()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        server = cls.soak.server
        if server is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        cls.soak.bots.cleanup()

    def copy(self):
        folder = tempfile.mkdtemp(prefix="soakcheck-")
        self.addCleanup(shutil.rmtree, folder, True)
        shutil.copytree(self.folder, folder, dirs_exist_ok=True)
        return folder

    def ran_and_acknowledged(self):
        acks = {w[0] for w in soakcheck.read_words(os.path.join(self.folder, "acks"))}
        ran = [w[1] for w in soakcheck.read_words(os.path.join(self.folder, "ran"))
               if w[0] == "start" and w[1] in acks]
        self.assertTrue(ran, "no acknowledged job ran")
        return ran[len(ran) // 2]

    def test_the_record_is_clean(self):
        v = soakcheck.check(self.folder)
        self.assertTrue(v.ok, v.report())
        kills = figure(v, "SIGKILL + restart")[0]
        self.assertGreaterEqual(kills, 1, v.report())
        self.assertEqual(figure(v, "server starts with the waiting jobs listed")[0],
                         "%d / %d" % (kills + 1, kills + 1), v.report())

    def test_a_run_taken_out_is_a_lost_job_with_its_log_lines(self):
        name = self.ran_and_acknowledged()
        folder = self.copy()
        path = os.path.join(folder, "ran")
        with open(path) as f:
            kept = [line for line in f if line.split()[1] != name]
        with open(path, "w") as f:
            f.writelines(kept)
        v = soakcheck.check(folder)
        report = v.report()
        self.assertFalse(v.ok, report)
        self.assertEqual(figure(v, "acknowledged, never run")[0], 1, report)
        self.assertIn("LOST %s" % name, report)
        self.assertRegex(report, r"> jobqueue.log:\d+ .*Added job \d+, priority \d: .*%s" % name)
        self.assertRegex(report, r"> jobqueue.log:\d+ .*Starting job \d+")
        self.assertIn("journal history", report)

    def test_an_add_taken_out_of_the_server_log_is_a_lost_job(self):
        name = self.ran_and_acknowledged()
        folder = self.copy()
        with open(os.path.join(folder, "ran")) as f:
            kept = [line for line in f if line.split()[1] != name]
        with open(os.path.join(folder, "ran"), "w") as f:
            f.writelines(kept)
        log = os.path.join(folder, "botssys", "logging", "jobqueue.log")
        with open(log) as f:
            kept = [line for line in f if not ("Added job" in line and name in line)]
        with open(log, "w") as f:
            f.writelines(kept)
        report = soakcheck.check(folder).report()
        self.assertIn("LOST %s" % name, report)
        self.assertIn("never says it was added", report)


if __name__ == "__main__":
    unittest.main(verbosity=2)
