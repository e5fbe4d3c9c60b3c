"""The journal: every addjob that answered 0 survives a SIGKILL of the
server, in order and with its number; nothing runs twice but the job that
was running at the kill; bad journals are refused and left untouched; one
server per botssys."""

import http.client
import os
import random
import signal
import sqlite3
import subprocess
import threading
import xmlrpc.client

import jqtest


class Crash(jqtest.unittest.TestCase):

    def setUp(self):
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        self.record = self.bots.path("ran")
        self.gate = self.bots.path("gate")

    def tearDown(self):
        open(self.gate, "w").close()
        self.bots.cleanup()

    def task(self, name):
        # a fast job that appends its name to the record file
        return ["sh", "-c", 'echo "$0" >> "$1"', name, self.record]

    def holder(self):
        # waits for the gate, or ends with the test's folder
        return ["sh", "-c", 'while [ ! -e "$0" ] && [ -d "${0%/*}" ]; do sleep 0.01; done; '
                'echo holder >> "$1"',
                self.gate, self.record]

    def burst_and_kill(self, server, round_no, acked):
        """8 clients add distinct jobs; the server is SIGKILLed after a
        random number of answers."""
        kill_after = random.randint(20, 200)
        count = [0]
        lock = threading.Lock()
        killed = threading.Event()

        def client(c):
            proxy = server.proxy()
            for i in range(400):
                name = "r%dc%di%d" % (round_no, c, i)
                try:
                    answer = proxy.addjob(self.task(name), random.randint(1, 9))
                except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault,
                        http.client.HTTPException):
                    return   # the server was killed under us
                if answer == 0:
                    with lock:
                        acked.append((c, name))
                        count[0] += 1
                        if count[0] == kill_after:
                            server.proc.send_signal(signal.SIGKILL)
                            killed.set()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertTrue(killed.is_set())
        server.proc.wait(jqtest.DEADLINE)
        server.stop()

    def test_sigkill_during_bursts(self):
        acked = []
        for round_no in range(3):
            server = jqtest.Server(self.bots)
            if round_no == 0:
                server.proxy().addjob(self.holder(), 0)
                self.bots.wait_log("Starting job 1")
            else:
                self.bots.wait_log("Job 1 was running when the server stopped", round_no)
            self.burst_and_kill(server, round_no, acked)

        server = jqtest.Server(self.bots)
        try:
            listed = server.proxy().listjobs()
            by_name = {job[2][3]: (job[0], job[1]) for job in listed}
            missing = [name for _, name in acked if name not in by_name]
            self.assertEqual(missing, [], "acknowledged jobs lost")
            # each client's jobs kept the order they were acknowledged in
            for c in range(8):
                numbers = [by_name[name][1] for cc, name in acked if cc == c]
                self.assertEqual(numbers, sorted(numbers))
            # the run order is priority, then number
            keys = [(job[0], job[1]) for job in listed]
            self.assertEqual(keys, sorted(keys))
            # now let everything run: none twice, the holder once per kill
            open(self.gate, "w").close()
            total = len(listed)
            # the holder's line: the old run's (SQLite: it outlived the
            # kills) beside its listed rerun, or (PostgreSQL) its rerun
            # if that had started before the listing
            holder_listed = any("echo holder" in " ".join(job[2]) for job in listed)
            if not os.environ.get("JQ_TEST_PG") or not holder_listed:
                total += 1
            jqtest.wait_for(lambda: os.path.exists(self.record)
                            and sum(1 for _ in open(self.record)) >= total, "all jobs to run", 120)
            self.bots.wait_log("Finished job", len(listed))
            with open(self.record) as f:
                ran = f.read().split()
            counts = {}
            for name in ran:
                counts[name] = counts.get(name, 0) + 1
            twice = {n: k for n, k in counts.items() if k > 1 and n != "holder"}
            self.assertEqual(twice, {})
            if os.environ.get("JQ_TEST_PG"):
                # a shared journal's job dies with its server: each killed
                # run recorded nothing, and the job ran to its end once
                self.assertEqual(counts.get("holder"), 1)
            else:
                # the holder left running by the first kill was waited for
                # by every restart, never doubled: it ran, then once again
                self.assertEqual(counts.get("holder"), 2)
                self.assertIn("from before the restart is still running", self.bots.log())
            for _, name in acked:
                self.assertEqual(counts.get(name), 1, name)
        finally:
            server.stop()


class Restart(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def restart(self, sig=signal.SIGTERM):
        self.rpc("close")()
        self.server.stop(sig)
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()

    def wait_recorded(self, n):
        """Until n finished jobs are in the journal's history: "Finished
        job N" is logged just before the commit that records it, and a
        SIGKILL in between runs the job again (doc/durability.md)."""
        path = os.path.join(self.bots.botssys, "jobqueue", "queue.db")

        def recorded():
            db = sqlite3.connect(path)
            try:
                return db.execute("SELECT count(*) FROM history").fetchone()[0] >= n
            finally:
                db.close()
        jqtest.wait_for(recorded, "%d finished jobs in the journal" % n)

    def test_graceful_restart_keeps_queue_and_numbers(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", gate), 0)
        self.bots.wait_log("Starting job 1")
        for i, prio in enumerate((7, 3, 7, 1)):
            self.rpc.addjob(["bots-engine", "-c%d" % i], prio)
        self.rpc.addjob(["bots-engine", "-c0"], 2)          # priority change
        before = self.rpc.listjobs()
        self.restart()
        # the holder was terminated by the stop (stop_grace 1) and comes
        # back first of its priority
        self.bots.wait_log("was stopped with the server")
        self.bots.wait_log("Job 1 was running when the server stopped")
        after = self.rpc.listjobs()
        self.assertEqual(after, before)
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cnew"], 5), 0)
        self.bots.wait_log("Added job 6, priority 5")
        open(gate, "w").close()

    @jqtest.sqlite_only
    def test_history_survives(self):
        self.rpc.addjob(self.job(self.bots.path("events"), "done", "--exit", "3"), 4)
        self.rpc.addjob(["/nonexistent/program"], 6)
        self.bots.wait_log("Error starting job 2")
        self.bots.wait_log("Finished job 1")
        self.wait_recorded(2)
        self.restart(signal.SIGKILL)
        db = sqlite3.connect(os.path.join(self.bots.botssys, "jobqueue", "queue.db"))
        rows = db.execute("SELECT number, priority, exit_code, start_error IS NOT NULL, "
                          "started_us IS NOT NULL FROM history ORDER BY number").fetchall()
        db.close()
        self.assertEqual(rows, [(1, 4, 3, 0, 1), (2, 6, None, 1, 0)])
        self.assertEqual(self.rpc.listjobs(), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine"], 5), 0)
        self.bots.wait_log("Added job 3")

    @jqtest.outlives_its_server
    def test_clear_and_getjob_are_durable(self):
        gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", gate), 0)
        self.bots.wait_log("Starting job 1")
        self.rpc.addjob(["bots-engine", "-ca"], 5)
        self.rpc.addjob(["bots-engine", "-cb"], 5)
        self.rpc.getjob()
        self.restart(signal.SIGKILL)
        # the holder's process outlived the kill: it is waited for, and its
        # job waits first in line to run again
        self.bots.wait_log("Job 1 from before the restart is still running")
        listed = self.rpc.listjobs()
        self.assertEqual([j[:2] for j in listed], [[0, 1], [5, 3]])
        self.assertEqual(listed[1][2], ["bots-engine", "-cb"])
        self.rpc.clearjobq()
        self.restart(signal.SIGKILL)
        self.assertEqual(self.rpc.listjobs(), 0)
        open(gate, "w").close()


    @jqtest.sqlite_only
    def test_jobs_carry_their_marks(self):
        marks = self.bots.path("marks")
        show = ["sh", "-c", 'echo "$BOTS_JOBQUEUE_ID $BOTS_JOBQUEUE_JOB ${TZ-unset}" >> "$0"', marks]
        self.rpc.addjob(show, 5)
        self.bots.wait_log("Finished job 1")
        self.wait_recorded(1)
        self.restart(signal.SIGKILL)
        self.rpc.addjob(show, 5)
        self.bots.wait_log("Finished job 2")
        with open(marks) as f:
            lines = [line.split() for line in f]
        self.assertEqual([number for _, number, _ in lines], ["1", "2"])
        # the server's own time-zone setting (src/server.c) is not passed on
        self.assertEqual({tz for _, _, tz in lines}, {os.environ.get("TZ", "unset")})
        # the queue's identity is random, and the same after a restart
        self.assertRegex(lines[0][0], "^[0-9a-f]{16}$")
        self.assertEqual(lines[0][0], lines[1][0])


# A job that, on its first run only, leaves a descendant that called
# setpgid() (a group leader carrying the job's marks), then waits for
# DIR/job-gate; the descendant waits for DIR/child-gate.  Each wait also
# ends when DIR is gone.
DESCENDANT_JOB = r"""
import os, sys, time
d = sys.argv[1]
def wait(name):
    end = time.monotonic() + 120
    while not os.path.exists(os.path.join(d, name)) and os.path.isdir(d) and time.monotonic() < end:
        time.sleep(0.05)
first = os.path.join(d, "first-run")
if not os.path.exists(first):
    open(first, "w").close()
    if os.fork() == 0:
        os.setpgid(0, 0)
        open(os.path.join(d, "child-ready"), "w").close()
        wait("child-gate")
        os._exit(0)
with open(os.path.join(d, "job-pid.tmp"), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(d, "job-pid.tmp"), os.path.join(d, "job-pid"))
wait("job-gate")
"""


def process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Adopted(jqtest.ServerTestCase):
    """After a crash, only the job's own process is waited for."""
    jobqueue = {"authorized_tasks": "*"}

    def restart_after_kill(self, between=None):
        self.rpc("close")()
        self.server.stop(signal.SIGKILL)
        if between is not None:
            between()
        self.server = jqtest.Server(self.bots, env=self.env)
        self.rpc = self.server.proxy()

    def test_a_descendant_is_not_the_job(self):
        """The job ended while the server was down; a descendant that
        called setpgid() lived on with the job's marks.  It was taken for
        the job ("still running (pid <descendant>)"): nothing ran for as
        long as it lived.  Now the job runs again at once."""
        d = self.bots.path("desc")
        os.mkdir(d)
        try:
            self.rpc.addjob([jqtest.sys.executable, "-c", DESCENDANT_JOB, d], 5)
            jqtest.wait_for(lambda: os.path.exists(os.path.join(d, "child-ready"))
                            and os.path.exists(os.path.join(d, "job-pid")), "the job and its descendant")
            with open(os.path.join(d, "job-pid")) as f:
                job_pid = int(f.read())

            def end_the_job():
                open(os.path.join(d, "job-gate"), "w").close()
                jqtest.wait_for(lambda: process_gone(job_pid), "the job to end")
            self.restart_after_kill(end_the_job)
            self.bots.wait_log("Starting job 1", 2)
            self.assertNotIn("from before the restart is still running", self.bots.log())
        finally:
            open(os.path.join(d, "child-gate"), "w").close()


class AdoptedTimeout(Adopted):
    """maxruntime holds for a job adopted after a crash."""
    jobqueue = {"authorized_tasks": "*", "killjobsintimeout": "True"}
    # seconds here (the faults server's test aid): 5, so that on a loaded
    # machine the job's Python has started and said so before it is over
    # (with 1 it was sometimes killed first, and its start never seen)
    settings = {"maxruntime": "5"}
    env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}
    test_a_descendant_is_not_the_job = None

    @jqtest.outlives_its_server
    def test_maxruntime_holds_for_an_adopted_job(self):
        """A job adopted after a crash was waited for however long it ran
        (114 s with maxruntime 1 minute and killjobsintimeout): now it is
        reported and terminated like any other."""
        gate = self.bots.path("gate")
        try:
            self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", gate), 5)
            self.bots.wait_log("Starting job 1")
            jqtest.wait_for(lambda: os.path.exists(self.bots.path("events")), "the job to start")
            self.restart_after_kill()
            self.bots.wait_log("Job 1 from before the restart is still running")
            self.bots.wait_log("Job 1 exceeded maxruntime")
            self.bots.wait_log("Terminating job 1 (killjobsintimeout)")
            self.bots.wait_log("The process of job 1 from before the restart")
        finally:
            open(gate, "w").close()


class LockFileRemoved(jqtest.ServerTestCase):
    """`rm botssys/jobqueue/server.lock` under a running server let a
    second server start on the same botssys (a finished job ran again,
    two jobs at once).  The server notices (at the next commit, and
    within a second anyway) and stops with exit status 1."""
    jobqueue = {"authorized_tasks": "*"}

    def lock(self):
        return os.path.join(self.bots.botssys, "jobqueue", "server.lock")

    def test_noticed_at_the_next_commit(self):
        os.unlink(self.lock())
        with self.assertRaises((xmlrpc.client.Fault, OSError, http.client.HTTPException)):
            self.rpc.addjob(["bots-engine", "-cafter"], 5)
        jqtest.wait_for(lambda: self.server.proc.poll() is not None, "the server to stop")
        self.assertEqual(self.server.stop(), 1)
        self.assertIn("lock file %s was deleted or replaced" % self.lock(), self.bots.log())
        self.assertNotIn("Added job", self.bots.log())
        # a new server may now start: it finds nothing added
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()
        self.assertEqual(self.rpc.listjobs(), 0)

    def test_noticed_without_any_call(self):
        with open(self.lock() + ".new", "w") as f:
            f.write("12345\n")
        os.replace(self.lock() + ".new", self.lock())   # replaced, not deleted
        jqtest.wait_for(lambda: self.server.proc.poll() is not None, "the server to stop")
        self.assertEqual(self.server.stop(), 1)
        self.assertIn("was deleted or replaced while the server ran", self.bots.log())


class LaunchWindow(jqtest.unittest.TestCase):
    """A server killed after starting a job but before committing the
    start: the restarted server finds the job by its marks and starts
    nothing next to it."""

    @jqtest.outlives_its_server
    def test_crash_between_start_and_commit(self):
        bots = jqtest.BotsDir({"authorized_tasks": "*"})
        events = bots.path("events")
        gates = [bots.path("gate1"), bots.path("gate2")]

        def job(name, gate):
            return [jqtest.PYTHON, jqtest.JOB, events, name, "--wait", gate]

        def lines():
            if not os.path.exists(events):
                return []
            with open(events) as f:
                return [line.split() for line in f]

        server = jqtest.Server(bots, env={"BOTS_JOBQUEUE_TEST_CRASH_AFTER_START": "2"},
                               binary=jqtest.FAULTS_SERVER)
        try:
            proxy = server.proxy()
            proxy.addjob(job("first", gates[0]), 5)
            proxy.addjob(job("second", gates[1]), 5)
            bots.wait_log("Starting job 1")
            proxy("close")()
            open(gates[0], "w").close()
            # job 1 ends, job 2 starts, and the server dies before the
            # commit that records both
            server.proc.wait(jqtest.DEADLINE)
            self.assertEqual(server.proc.returncode, -signal.SIGKILL)
            server.stop()
            jqtest.wait_for(lambda: ["start", "second"] in [e[:2] for e in lines()],
                            "job 2 to run")
            server = jqtest.Server(bots)
            bots.wait_log("Job 2 had just been started when the server stopped")
            bots.wait_log("Job 2 from before the restart is still running")
            # both are repeated: job 1's end was never recorded, and job 2's
            # outcome is unknown; nothing may start before job 2 ends
            open(gates[1], "w").close()
            jqtest.wait_for(lambda: len([e for e in lines() if e[0] == "end"]) == 4,
                            "the repeated jobs to run", 60)
            bots.wait_log("Finished job 2", 1)
            running = most = 0
            for kind, *_ in sorted(lines(), key=lambda e: int(e[2])):
                running += 1 if kind == "start" else -1
                most = max(most, running)
            self.assertEqual(most, 1, lines())
            self.assertEqual(sorted(e[1] for e in lines() if e[0] == "start"),
                             ["first", "first", "second", "second"])
        finally:
            for gate in gates:
                open(gate, "a").close()
            server.stop()
            bots.cleanup()


class DurabilityLevels(jqtest.unittest.TestCase):

    def run_level(self, level):
        bots = jqtest.BotsDir({"durability": level})
        try:
            server = jqtest.Server(bots)
            proxy = server.proxy()
            gate = bots.path("gate")
            proxy.addjob([jqtest.PYTHON, jqtest.JOB, bots.path("e"), "h", "--wait", gate], 0)
            bots.wait_log("Starting job 1")
            proxy.addjob(["bots-engine", "-cx"], 5)
            proxy("close")()
            server.stop(signal.SIGKILL)
            server = jqtest.Server(bots)
            proxy = server.proxy()
            listed = proxy.listjobs()
            proxy("close")()
            open(gate, "w").close()
            server.stop()
            self.assertIn("durability %s" % level, bots.log())
            return listed
        finally:
            bots.cleanup()

    @jqtest.sqlite_only
    def test_fast_survives_a_server_crash(self):
        listed = self.run_level("fast")
        self.assertEqual([j[2] for j in listed][-1], ["bots-engine", "-cx"])

    @jqtest.sqlite_only
    def test_none_keeps_nothing(self):
        self.assertEqual(self.run_level("none"), 0)

    def test_bad_level_refused(self):
        bots = jqtest.BotsDir({"durability": "sometimes"})
        try:
            r = subprocess.run([jqtest.SERVER, "-c" + bots.config], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("durability", r.stderr)
        finally:
            bots.cleanup()


class BadState(jqtest.unittest.TestCase):

    def setUp(self):
        self.bots = jqtest.BotsDir()

    def tearDown(self):
        self.bots.cleanup()

    @jqtest.sqlite_only
    def test_corrupt_journal_left_untouched(self):
        path = os.path.join(self.bots.botssys, "jobqueue", "queue.db")
        os.makedirs(os.path.dirname(path))
        junk = bytes(random.getrandbits(8) for _ in range(20000))
        with open(path, "wb") as f:
            f.write(junk)
        r = subprocess.run([jqtest.SERVER, "-c" + self.bots.config], capture_output=True, text=True,
                           timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path, r.stderr)
        self.assertIn("left untouched", r.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), junk)
        self.assertEqual(sorted(os.listdir(os.path.dirname(path))), ["queue.db", "server.lock"])

    def test_second_server_refused(self):
        first = jqtest.Server(self.bots)
        try:
            other_port = jqtest.free_port()
            ini = os.path.join(self.bots.config, "bots.ini")
            with open(ini) as f:
                text = f.read()
            alt = self.bots.path("config2")
            os.makedirs(alt)
            with open(os.path.join(alt, "bots.ini"), "w") as f:
                f.write(text.replace("port = %d" % self.bots.port, "port = %d" % other_port))
            r = subprocess.run([jqtest.SERVER, "-c" + alt], capture_output=True, text=True,
                               timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 1)
            self.assertIn("another bots-jobqueueserver (process %d)" % first.pid, r.stderr)
            self.assertEqual(first.proxy().listjobs(), 0)
        finally:
            first.stop()


if __name__ == "__main__":
    jqtest.main()
