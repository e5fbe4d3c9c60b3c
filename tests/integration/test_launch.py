"""PROTOCOL section 3: one job at a time, the next one at once, argv
without a shell, output into the log, maxruntime with and without kill."""

import os
import threading
import xmlrpc.client

import jqtest


def runs(events):
    """{name: (start_ns, end_ns)} from job records; asserts each ran once."""
    spans = {}
    for ev in events:
        kind, name, t = ev[0], ev[1], int(ev[2])
        spans.setdefault(name, {}).setdefault(kind, []).append(t)
    out = {}
    for name, kinds in spans.items():
        assert len(kinds.get("start", [])) == 1, (name, kinds)
        assert len(kinds.get("end", [])) <= 1, (name, kinds)
        out[name] = (kinds["start"][0], kinds.get("end", [None])[0])
    return out


class Launch(jqtest.ServerTestCase):
    # Bots 3 (the version of a Bots folder that names none) discards a
    # job's output; these tests read it in the log.
    jobqueue = {"log_job_output": "True"}

    def record(self):
        return self.bots.path("events")

    def test_single_engine_invariant(self):
        """10 clients add 50 jobs at once; no two ever overlap, each runs once."""
        errors = []

        def client(c):
            try:
                proxy = self.server.proxy()
                for j in range(5):
                    self.assertEqual(proxy.addjob(self.job(self.record(), "c%dj%d" % (c, j)), 5), 0)
                proxy("close")()
            except Exception as e:  # collected for the main thread
                errors.append(e)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        jqtest.wait_for(lambda: sum(1 for e in self.events() if e[0] == "end") == 50,
                        "50 jobs to end", timeout=120)
        spans = sorted(runs(self.events()).values())
        self.assertEqual(len(spans), 50, "\n".join(" ".join(e) for e in self.events()))
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            self.assertLess(e1, s2, "two jobs overlapped")
        self.bots.wait_log("Finished job", 50)

    def test_next_starts_after_exit_in_order(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.record(), "first", "--wait", gate), 5)
        jqtest.wait_for(lambda: self.events(), "first to start")
        self.rpc.addjob(self.job(self.record(), "low"), 9)
        self.rpc.addjob(self.job(self.record(), "high"), 1)
        self.rpc.addjob(self.job(self.record(), "mid"), 5)
        self.assertEqual([e[1] for e in self.events()], ["first"])
        open(gate, "w").close()
        jqtest.wait_for(lambda: len(self.events()) == 8, "all jobs to run")
        self.assertEqual([(e[0], e[1]) for e in self.events()], [
            ("start", "first"), ("end", "first"), ("start", "high"), ("end", "high"),
            ("start", "mid"), ("end", "mid"), ("start", "low"), ("end", "low")])
        log = self.bots.log()
        self.assertLess(log.index("Finished job 1,"), log.index("Starting job 3\n"))

    def test_environment_of_a_job(self):
        """No shell, stdin from /dev/null, its own process group."""
        marker = self.bots.path("not-created")
        self.rpc.addjob(self.job(self.record(), "env", "--stdin", "--out", "$(touch %s)" % marker), 5)
        self.bots.wait_log("Finished job 1")
        start = self.events()[0]
        self.assertEqual(start[3], start[4], "job does not lead its own process group")
        log = self.bots.log()
        self.assertIn("stdin had 0 bytes", log)
        self.assertIn("$(touch %s)" % marker, log)
        self.assertFalse(os.path.exists(marker))

    def test_output_and_exit_code_logged(self):
        self.rpc.addjob(self.job(self.record(), "noisy", "--out", "all good", "--err", "it broke", "--exit", "3"), 5)
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        self.assertRegex(log, r"INFO     : Job 1 stdout:\n    all good\n")
        self.assertRegex(log, r"ERROR    : Job 1 stderr:\n    it broke\n")
        self.assertRegex(log, r"INFO     : Finished job 1, elapsed time [0-9.e-]+, result 3\n")

    def test_stderr_of_a_good_job_is_info(self):
        self.rpc.addjob(self.job(self.record(), "warns", "--err", "just a remark"), 5)
        self.bots.wait_log("Finished job 1")
        self.assertRegex(self.bots.log(), r"INFO     : Job 1 stderr:\n    just a remark\n")
        self.assertRegex(self.bots.log(), r"INFO     : Finished job 1, elapsed time .*, result 0\n")

    def test_output_is_bounded(self):
        self.rpc.addjob(self.job(self.record(), "chatty", "--bytes", 200000), 5)
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        self.assertIn("[output cut after 65536 bytes; 134464 more bytes not logged]", log)
        self.assertLess(len(log), 100000)


class LaunchAnything(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def test_job_that_cannot_start(self):
        self.rpc.addjob(["/nonexistent/program", "-x"], 1)
        self.rpc.addjob(["no-such-program-on-path"], 2)
        self.rpc.addjob(self.job(self.bots.path("events"), "after"), 3)
        self.bots.wait_log("Finished job 3")
        log = self.bots.log()
        self.assertRegex(log, r"ERROR    : Error starting job 1: .*No such file")
        self.assertRegex(log, r"ERROR    : Error starting job 2: ")
        self.assertEqual(self.events()[0][1], "after")

    def test_path_lookup(self):
        self.rpc.addjob(["true"], 5)
        self.bots.wait_log("Finished job 1")
        self.assertIn("result 0", self.bots.log())


class Threads(jqtest.ServerTestCase):
    jobqueue = {"nr_threads": "2"}

    def test_two_at_once(self):
        gate = self.bots.path("gate")
        for name in ("a", "b", "c"):
            self.rpc.addjob(self.job(self.bots.path("events"), name, "--wait", gate), 5)
        jqtest.wait_for(lambda: len(self.events()) == 2, "two jobs to start")
        self.assertEqual(self.rpc.listjobs()[0][2][3], "c")
        open(gate, "w").close()
        jqtest.wait_for(lambda: sum(1 for e in self.events() if e[0] == "end") == 3, "all to end")
        running, most = 0, 0
        for e in sorted(self.events(), key=lambda e: int(e[2])):
            running += 1 if e[0] == "start" else -1
            most = max(most, running)
        self.assertEqual(most, 2)


class MaxRuntime(jqtest.ServerTestCase):
    # seconds (the faults server's test aid); 5 leave a loaded machine's
    # Python time to start (and to ignore SIGTERM where asked)
    settings = {"maxruntime": "5"}
    env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}

    def test_reported_not_killed(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "slow", "--wait", gate), 5)
        self.bots.wait_log("ERROR    : Job 1 exceeded maxruntime of 5 minutes")
        self.assertNotIn("Finished job 1", self.bots.log())
        self.assertNotIn("Terminating", self.bots.log())
        open(gate, "w").close()
        self.bots.wait_log("Finished job 1")
        self.assertIn("result 0", self.bots.log())
        self.assertEqual(self.bots.log().count("exceeded maxruntime"), 1)


class MaxRuntimeKill(jqtest.ServerTestCase):
    jobqueue = {"killjobsintimeout": "True", "kill_grace": "1"}
    settings = {"maxruntime": "5"}
    env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}

    def test_terminated(self):
        never = self.bots.path("never")
        self.rpc.addjob(self.job(self.bots.path("events"), "stuck", "--wait", never), 5)
        self.rpc.addjob(self.job(self.bots.path("events"), "next"), 5)
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        self.assertIn("Job 1 exceeded maxruntime of 5 minutes", log)
        self.assertIn("INFO     : Terminating job 1: [", log)
        self.assertIn("result -15", log)
        self.bots.wait_log("Finished job 2")

    def test_killed_when_ignoring_term(self):
        never = self.bots.path("never")
        self.rpc.addjob(self.job(self.bots.path("events"), "stubborn", "--ignore-term", "--wait", never), 5)
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        self.assertIn("INFO     : Killing job 1: [", log)
        self.assertIn("result -9", log)


if __name__ == "__main__":
    jqtest.main()
