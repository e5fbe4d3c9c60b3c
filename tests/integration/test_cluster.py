"""Three servers, each with its own botssys as three hosts would have, on
one throwaway PostgreSQL (pgtest.py): one queue, one engine.

Jobs record their starts and ends (job.py); no two may overlap, except
in the documented case of a leader frozen past its lease."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
import xmlrpc.client

sys.path.insert(0, os.path.dirname(__file__))
import jqtest  # noqa: E402
import pgtest  # noqa: E402

LEASE = 2  # seconds
PG = None


def setUpModule():
    global PG
    PG = pgtest.PostgreSQL()


def tearDownModule():
    PG.stop()


def records(path):
    """[(what, name, t_ns)] from a job record file."""
    try:
        with open(path) as f:
            return [(w, n, int(t)) for w, n, t, *_ in (line.split() for line in f)]
    except FileNotFoundError:
        return []


def records_full(path):
    """[(what, name, t_ns, pid, ...)] from a job record file."""
    try:
        with open(path) as f:
            return [(w, n, int(t), *rest) for w, n, t, *rest in (line.split() for line in f)]
    except FileNotFoundError:
        return []


def process_gone(pid):
    """No such process, or only its zombie is left."""
    try:
        return process_state(pid) in ("Z", "X")
    except FileNotFoundError:
        return True


def process_state(pid):
    """The state letter of /proc/PID/stat (T: stopped)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def assert_no_overlap(test, path, recs=None):
    running = None
    for what, name, _ in (records(path) if recs is None else recs):
        if what == "start":
            test.assertIsNone(running, "%s started while %s ran" % (name, running))
            running = name
        else:
            test.assertEqual(running, name)
            running = None


LOCK_QUEUE = "pg_advisory_xact_lock(1114599283, 1)"  # pgconn.h's queue lock


class Psql:
    """An interactive psql session on the test's database, as a member
    that holds locks would: send() a statement and read its one-line
    answer; close() commits and ends it."""

    def __init__(self, db):
        self.proc = subprocess.Popen(
            PG.as_user + [os.path.join(PG.bin, "psql"), "-h", PG.root, "-p", str(PG.port),
                          "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self, commit=True):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n" if commit else "\\q\n")
            self.proc.stdin.close()
            self.proc.wait()


class ClusterTestCase(unittest.TestCase):
    count = 0

    def setUp(self):
        ClusterTestCase.count += 1
        self.db = PG.create_database("cluster%d_%d" % (os.getpid(), ClusterTestCase.count))
        self.dirs, self.servers = [], []
        for _ in range(3):
            self.start_server()
        self.record = os.path.join(self.dirs[0].root, "record")

    def start_server(self, index=None):
        if index is None:
            bots = jqtest.BotsDir(jobqueue={
                "journal": "postgresql",
                # trust authentication ignores the password; it must never
                # be shown.  The name tells the servers' sessions apart.
                "journal_dsn": PG.dsn(self.db) + " password=s3cret-pw"
                               " application_name=jqmember%d" % len(self.dirs),
                "journal_lease": str(LEASE), "kill_grace": "1"})
            self.dirs.append(bots)
            self.servers.append(jqtest.Server(bots))
        else:
            self.servers[index] = jqtest.Server(self.dirs[index])

    def tearDown(self):
        for s in self.servers:
            if s.proc.poll() is None:
                os.kill(s.pid, signal.SIGCONT)
                s.stop()
        for d in self.dirs:
            d.cleanup()

    def proxy(self, i):
        return self.servers[i].proxy()

    def leader(self):
        """Index of the server that leads, once one does."""
        def find():
            for i, s in enumerate(self.servers):
                if s.proc.poll() is not None:
                    continue
                try:
                    if s.proxy().status()["cluster"]["leading"]:
                        return i + 1
                except (OSError, xmlrpc.client.Fault):
                    pass
            return None
        return jqtest.wait_for(find, "a leader") - 1

    def job(self, name, *opts):
        return [jqtest.PYTHON, jqtest.JOB, self.record, name] + list(opts)

    def wait_ended(self, name, count=1):
        jqtest.wait_for(lambda: sum(1 for w, n, _ in records(self.record)
                                    if w == "end" and n == name) >= count,
                        "%s to end %d time(s); record %r" % (name, count, records(self.record)))

    def test_one_queue_bots_rules_across_hosts(self):
        self.proxy(0).pause()
        # The same task at the same moment on the three servers: one
        # added, two duplicates, whatever the interleaving.
        for round_ in range(15):
            task = self.job("t%d" % round_)
            answers = [None] * 3
            barrier = threading.Barrier(3)

            def add(i):
                barrier.wait()
                answers[i] = self.proxy(i).addjob(task, 5)
            threads = [threading.Thread(target=add, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sorted(answers), [0, 4, 4], task)
        lists = [self.proxy(i).listjobs() for i in range(3)]
        self.assertEqual(lists[0], lists[1])
        self.assertEqual(lists[0], lists[2])
        numbers = [n for _, n, _ in lists[0]]
        self.assertEqual(numbers, list(range(1, 16)))
        # A priority change from another host keeps the number.
        self.assertEqual(self.proxy(2).addjob(self.job("t7"), 2), 0)
        first = self.proxy(1).listjobs()[0]
        self.assertEqual(first[:2], [2, 8])
        # removejob and setpriority from any host, seen by all.
        self.assertEqual(self.proxy(1).removejob(3), 0)
        self.assertEqual(self.proxy(2).setpriority(4, 1), 0)
        for i in range(3):
            jobs = self.proxy(i).listjobs()
            self.assertNotIn(3, [n for _, n, _ in jobs])
            self.assertEqual(jobs[0][:2], [1, 4])
            self.assertTrue(self.proxy(i).status()["paused"])
        # Removed on one host and queued again on another: a new number
        # everywhere (a server that reads only changes must see it).
        self.assertEqual(self.proxy(0).removejob(5), 0)
        self.assertEqual(self.proxy(1).addjob(self.job("t4"), 5), 0)
        self.assertEqual(self.proxy(2).addjob(self.job("t4"), 5), 4)
        for i in range(3):
            jobs = self.proxy(i).listjobs()
            self.assertIn([5, 16, self.job("t4")], jobs)
            self.assertNotIn(5, [n for _, n, _ in jobs])
            self.assertEqual(len(jobs), 14)
        # status: the leader and each member's heartbeat, no password.
        status = jqtest.wait_for(
            lambda: (lambda c: len(c["members"]) == 3 and c)(self.proxy(0).status()["cluster"]),
            "three members with a heartbeat")
        for m in status["members"]:
            self.assertLess(m["heartbeat_age_ms"], LEASE * 1000)
        self.assertEqual(sum(m["leader"] for m in status["members"]), 1)
        self.assertNotIn("s3cret", repr(self.proxy(1).status()))
        out = subprocess.run([jqtest.ADMIN, "-c" + self.dirs[2].config, "status"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, PATH=self.dirs[2].bin + ":" + os.environ["PATH"]))
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertRegex(out.stdout, r"Cluster: this server \S+ (follows|leads); leader ")
        self.assertEqual(out.stdout.count("heartbeat"), 3, out.stdout)
        # Resumed from a follower: the leader runs them all, one at a time.
        follower = (self.leader() + 1) % 3
        self.proxy(follower).resume()
        for name in ["t%d" % i for i in range(15) if i != 2]:
            self.wait_ended(name)
        assert_no_overlap(self, self.record)
        # each job's end is recorded by the leader just after the job's own
        history = jqtest.wait_for(lambda: (lambda h: len(h) == 14 and h)(self.proxy(0).history(100)),
                                  "14 finished jobs in the history")
        self.assertEqual(sorted(h["jobnumber"] for h in history),
                         [n for n in range(1, 17) if n not in (3, 5)])
        self.assertEqual(self.proxy(1).listjobs(), 0)
        for d in self.dirs:
            self.assertNotIn("s3cret", d.log())

    def test_wait_on_any_host(self):
        leader = self.leader()
        follower = (leader + 1) % 3
        gate = os.path.join(self.dirs[0].root, "gate")
        answer = self.proxy(follower).submit(self.job("w", "--wait", gate, "--exit", "3"), 5)
        self.assertEqual(answer["code"], 0)
        number = answer["jobnumber"]
        jqtest.wait_for(lambda: self.proxy(follower).wait(number, 0)["state"] == "running",
                        "the job to run, seen from a follower")
        results = [None] * 3

        def wait(i):
            results[i] = self.proxy(i).wait(number, 20)
        threads = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        with open(gate, "w"):
            pass
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual((r["state"], r["exit_code"]), ("finished", 3), results)
        self.assertEqual(self.proxy(follower).wait(number + 100, 0)["state"], "unknown")

    def test_every_host_shows_the_same_timeline(self):
        """Only the leader runs jobs: a follower's status page shows the
        leader's runs too, read from the journal when the follower hears
        that the queue changed."""
        self.leader()
        number = self.proxy(0).submit(self.job("t", "--exit", "3"), 5)["jobnumber"]
        for i in range(3):
            jqtest.wait_for(lambda: self.proxy(i).wait(number, 0)["state"] == "finished",
                            "job %d to be finished, seen from server %d" % (number, i))

        def shown(i):
            url = "http://127.0.0.1:%d/status.json" % self.dirs[i].port
            with urllib.request.urlopen(url, timeout=30) as answer:
                data = json.load(answer)
            return {f["jobnumber"]: f.get("exit_code") for f in data["finished"]}
        for i in range(3):
            jqtest.wait_for(lambda: shown(i).get(number) == 3,
                            "server %d's page to show job %d" % (i, number))

    def test_sigkill_leader_while_a_job_runs(self):
        leader = self.leader()
        follower = (leader + 1) % 3
        gate = os.path.join(self.dirs[0].root, "gate")
        # Added on a follower: the leader is woken and starts it.
        # The job waits for a child that does the work, as a wrapper does.
        long_job = self.job("long", "--in-child", "--wait", gate)
        self.assertEqual(self.proxy(follower).addjob(long_job, 5), 0)
        for i in range(3):
            self.assertEqual(self.proxy(i).addjob(self.job("after%d" % i), 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        # status on every host: the leader's running job, the same waiting
        for i in range(3):
            st = self.proxy(i).status()
            self.assertEqual([r["task"] for r in st["running"]], [long_job], i)
            self.assertEqual(st["waiting"], 3)
        old_run = [int(rest[0]) for w, n, _, *rest in records_full(self.record)
                   if w == "start" and n == "long"][0]
        self.servers[leader].proc.send_signal(signal.SIGKILL)
        self.servers[leader].proc.wait()
        # The old run dies with its server, the child doing the work too
        # (the job's own process by a parent-death signal, its group by
        # the guardian): on another host the new leader could not see it,
        # and before, it ran on beside the new leader's run of the same
        # job (two outside tests).
        jqtest.wait_for(lambda: process_gone(old_run), "the old run to die with its server")
        # (how long the failover takes is a figure in doc/durability.md,
        # not asserted here: CI machines are loaded)
        new = self.leader()
        self.assertNotEqual(new, leader)
        self.dirs[new].wait_log("was running when the server stopped (the previous leader)")
        with open(gate, "w"):
            pass
        self.wait_ended("long", 1)
        for i in range(3):
            self.wait_ended("after%d" % i)
        starts = [n for w, n, _ in records(self.record) if w == "start"]
        self.assertEqual(starts.count("long"), 2)
        # the killed run recorded no end: the runs after it never overlap
        rest = records(self.record)
        rest.remove(next(r for r in rest if r[:2] == ("start", "long")))
        assert_no_overlap(self, None, rest)
        self.assertEqual(self.proxy(new).listjobs(), 0)

    def guardian(self, i):
        """The guardian of server @i: its child leading a group of its
        own that runs the server's program (jobs run other programs)."""
        pid = self.servers[i].pid

        def find():
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(k) for k in f.read().split()]
            for k in kids:
                try:
                    with open("/proc/%d/stat" % k) as f:
                        pgid = int(f.read().rsplit(")", 1)[1].split()[2])
                    if pgid == k and os.readlink("/proc/%d/exe" % k) == os.readlink("/proc/%d/exe" % pid):
                        return k
                except (FileNotFoundError, ProcessLookupError):
                    pass
            return None
        return jqtest.wait_for(find, "server %d's guardian" % i)

    def test_guardian_killed_then_the_leader(self):
        """A guardian killed on its own is replaced and told of the
        running job: the leader killed after it still takes the job's
        child with it.  Before, nothing replaced it, and the child ran on
        beside the next leader's run (an outside test)."""
        leader = self.leader()
        gate = os.path.join(self.dirs[0].root, "gate")
        self.assertEqual(self.proxy(leader).addjob(self.job("long", "--in-child", "--wait", gate), 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        old_run = [int(rest[0]) for w, n, _, *rest in records_full(self.record)
                   if w == "start" and n == "long"][0]
        first = self.guardian(leader)
        os.kill(first, signal.SIGKILL)
        self.dirs[leader].wait_log("another (pid")
        second = self.guardian(leader)
        self.assertNotEqual(second, first)
        self.assertIn("The jobs' guardian (pid %d) ended (signal 9); another (pid %d) guards "
                      "the 1 running job(s)." % (first, second), self.dirs[leader].log())
        self.servers[leader].proc.send_signal(signal.SIGKILL)
        self.servers[leader].proc.wait()
        jqtest.wait_for(lambda: process_gone(old_run), "the old run to die with its server")
        jqtest.wait_for(lambda: process_gone(second), "the guardian to end after its server")
        # the job runs again on the next leader
        self.leader()
        with open(gate, "w"):
            pass
        self.wait_ended("long", 1)

    def test_leader_that_cannot_renew_ends_its_job(self):
        leader = self.leader()
        gate = os.path.join(self.dirs[0].root, "gate")
        self.assertEqual(self.proxy(leader).addjob(
            self.job("long", "--record-term", "--wait", gate), 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        # A session holds the lease row: no server can renew or take it.
        psql = Psql(self.db)
        try:
            self.assertEqual(psql.send("BEGIN; SELECT 'locked' FROM bots_jobqueue.lease FOR UPDATE;"),
                             "locked")
            self.dirs[leader].wait_log("lost the lead of the cluster")
            # ... and ended its job (recorded by the job itself).
            self.wait_ended("long")
            self.dirs[leader].wait_log("was ended because this server lost the lead")
            # Queued meanwhile on a follower: nobody may start it yet.
            self.assertEqual(self.proxy((leader + 1) % 3).addjob(self.job("meanwhile"), 5), 0)
            with open(gate, "w"):
                pass
        finally:
            psql.close()
        self.leader()
        self.wait_ended("long", 2)
        self.wait_ended("meanwhile")
        assert_no_overlap(self, self.record)
        names = [n for w, n, _ in records(self.record) if w == "start"]
        self.assertEqual(names, ["long", "long", "meanwhile"])

    def test_database_clock_step_hands_nothing_over(self):
        """A step of the database's wall clock (date -s, an NTP step)
        between a renewal and a follower's beat made the lease look
        expired: a follower took over while the leader's job ran, and
        two engines overlapped (an outside test).  Here every renewal
        reads as an hour past, as after a step forward; the followers
        judge the lease by their own clocks and take nothing."""
        leader = self.leader()
        gate = os.path.join(self.dirs[0].root, "gate")
        self.assertEqual(self.proxy(leader).addjob(self.job("long", "--wait", gate), 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        PG.psql("CREATE FUNCTION bots_jobqueue.stepped () RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.holder = OLD.holder AND NEW.term = OLD.term THEN "
                "NEW.expires := clock_timestamp () - interval '1 hour'; END IF; RETURN NEW; END $$; "
                "CREATE TRIGGER stepped BEFORE UPDATE ON bots_jobqueue.lease "
                "FOR EACH ROW EXECUTE FUNCTION bots_jobqueue.stepped ()", self.db)
        since = PG.psql("SELECT clock_timestamp ()", self.db)
        try:
            # every member beats on past two whole leases of stepped renewals
            jqtest.wait_for(lambda: PG.psql(
                "SELECT count(*) FROM bots_jobqueue.members WHERE heartbeat > "
                "'%s'::timestamptz + interval '%d seconds'" % (since, 2 * LEASE), self.db) == "3",
                "two leases of beats")
            self.assertTrue(self.proxy(leader).status()["cluster"]["leading"])
            self.assertEqual([n for w, n, _ in records(self.record) if w == "start"], ["long"])
        finally:
            PG.psql("DROP TRIGGER stepped ON bots_jobqueue.lease", self.db)
        with open(gate, "w"):
            pass
        self.wait_ended("long")
        self.assertEqual([n for w, n, _ in records(self.record) if w == "start"], ["long"])
        assert_no_overlap(self, self.record)

    def running_everywhere(self):
        """The running tasks as each live server shows them; None while
        one answers a fault (its journal reconnecting)."""
        try:
            return [[r["task"] for r in s.proxy().status()["running"]]
                    for s in self.servers if s.proc.poll() is None]
        except xmlrpc.client.Fault:
            return None

    def assert_settled(self, ran):
        """Nothing waits, nothing is recorded as running on any server,
        and every job of @ran is in the history."""
        jqtest.wait_for(lambda: self.running_everywhere() == [[]] * 3,
                        "no server to show a running job: %r" % (self.running_everywhere(),))
        self.assertEqual(self.proxy(0).listjobs(), 0)
        self.assertEqual(PG.psql("SELECT count(*) FROM bots_jobqueue.jobs", self.db), "0")
        done = [h["task"] for h in self.proxy(1).history(1000)]
        for task in ran:
            self.assertIn(task, done)

    def test_takeover_retried_until_done(self):
        """A take-over that fails (here on the queue's lock, held by a
        stalled member) is tried again until it succeeds: the job the old
        lead ended runs again, and no row stays running."""
        leader = self.leader()
        gate = os.path.join(self.dirs[0].root, "gate")
        long = self.job("long", "--record-term", "--wait", gate)
        self.assertEqual(self.proxy(leader).addjob(long, 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        lease, queue = Psql(self.db), Psql(self.db)
        try:
            # Nobody can renew: the leader steps down and ends its job.
            self.assertEqual(lease.send("BEGIN; SELECT 'locked' FROM bots_jobqueue.lease FOR UPDATE;"),
                             "locked")
            self.dirs[leader].wait_log("was ended because this server lost the lead")
            self.assertIn("Terminating job 1 (this server lost the lead)", self.dirs[leader].log())
            self.assertNotIn("server stopping", self.dirs[leader].log())
            # The queue's lock held: whoever leads next cannot take over.
            self.assertEqual(queue.send("BEGIN; SELECT 'queue', %s;" % LOCK_QUEUE), "queue|")
            lease.close()
            jqtest.wait_for(lambda: any("Cluster: taking over" in d.log() for d in self.dirs),
                            "a take-over to fail on the queue's lock")
        finally:
            lease.close()
            queue.close()
        # Every server shows the job the database records: the same one.
        with open(gate, "w"):
            pass
        self.wait_ended("long", 2)
        assert_no_overlap(self, self.record)
        self.assert_settled([long])

    def test_postgresql_restart_while_a_job_runs(self):
        """The database goes away while the leader runs a job, long enough
        for the leader to lose the lead; when it is back, the job runs
        again (issue 22: the take-over failed once and was never tried
        again, the row stayed running)."""
        leader = self.leader()
        gate = os.path.join(self.dirs[0].root, "gate")
        long = self.job("long", "--record-term", "--wait", gate)
        self.assertEqual(self.proxy(leader).addjob(long, 5), 0)
        jqtest.wait_for(lambda: any(w == "start" and n == "long" for w, n, _ in records(self.record)),
                        "the job to start")
        PG.stop_server()
        try:
            self.dirs[leader].wait_log("was ended because this server lost the lead")
        finally:
            PG.start()
        self.leader()
        # While it runs again, every server shows that one job.
        jqtest.wait_for(lambda: self.running_everywhere() == [[long]] * 3,
                        "every server to show the job running again: %r"
                        % (self.running_everywhere(),))
        with open(gate, "w"):
            pass
        self.wait_ended("long", 2)
        assert_no_overlap(self, self.record)
        self.assert_settled([long])

    @staticmethod
    def holds_queue_lock(monitor, i):
        """Whether server i's session holds the queue's lock, idle in its
        transaction (the server stopped between two statements), asked
        on @monitor (a Psql session: quicker than the idle time-out)."""
        return monitor.send(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.classid = 1114599283 AND l.objid = 1 "
            "AND l.granted AND a.state = 'idle in transaction' "
            "AND a.application_name = 'jqmember%d';" % i) == "1"

    def test_frozen_follower_holding_the_queue_lock(self):
        """A follower stopped (SIGSTOP) inside a transaction, holding the
        queue's lock, stalls the others only until the database ends its
        idle session (a quarter lease): adds on the leader succeed again
        while it is still stopped, and no acknowledged job is lost."""
        self.proxy(0).pause()
        leader = self.leader()
        follower = (leader + 1) % 3
        pid = self.servers[follower].pid
        acked, stop = [], threading.Event()

        def busy():
            # the follower adds without a pause: most of its time is spent
            # inside transactions
            proxy, n = self.proxy(follower), 0
            while not stop.is_set():
                task = ["bots-engine", "f%d" % n]
                n += 1
                try:
                    if proxy.addjob(task, 5) == 0:
                        acked.append(task)
                except (xmlrpc.client.Fault, OSError):
                    pass
        thread = threading.Thread(target=busy)
        thread.start()
        monitor = Psql(self.db)
        try:
            jqtest.wait_for(lambda: len(acked) > 5, "the follower's first adds")
            for _ in range(1000):
                os.kill(pid, signal.SIGSTOP)
                jqtest.wait_for(lambda: process_state(pid) == "T", "the follower to stop")
                if self.holds_queue_lock(monitor, follower):
                    break
                os.kill(pid, signal.SIGCONT)
            else:
                self.fail("the follower was never stopped inside a transaction")
            # Adds on the leader: faults while the lock is held, then 0
            # once the database has ended the stopped member's session.
            tries = []

            def add_on_leader():
                task = ["bots-engine", "l%d" % len(tries)]
                tries.append(task)
                try:
                    return self.proxy(leader).addjob(task, 5) == 0 and task
                except xmlrpc.client.Fault:
                    return False
            acked.append(jqtest.wait_for(add_on_leader, "an add on the leader to succeed"))
            self.assertEqual(process_state(pid), "T")
            self.assertFalse(self.holds_queue_lock(monitor, follower))
            for i in range(3):
                acked.append(jqtest.wait_for(add_on_leader, "an add on the leader to succeed"))
        finally:
            os.kill(pid, signal.SIGCONT)
            stop.set()
            thread.join()
            monitor.close(commit=False)
        self.dirs[follower].wait_log("journal again")
        # No acknowledged job lost: every server lists each one, once.
        for i in range(3):
            tasks = [task for _, _, task in self.listjobs_when_up(i)]
            for task in acked:
                self.assertIn(task, tasks)
            self.assertEqual(len(tasks), len(set(map(tuple, tasks))))

    def listjobs_when_up(self, i):
        """listjobs of server i, once its journal answers again."""
        def listed():
            try:
                return self.proxy(i).listjobs() or [None]
            except xmlrpc.client.Fault:
                return None
        return [j for j in jqtest.wait_for(listed, "server %d to answer listjobs" % i) if j]

    def add_when_reachable(self, i, task):
        def add():
            try:
                return ("answer", self.proxy(i).addjob(task, 5))
            except xmlrpc.client.Fault as fault:
                if "cannot be reached; nothing was changed" in fault.faultString:
                    return None
                raise
        return jqtest.wait_for(add, "server %d to reach the journal" % i, interval=0.2)[1]

    def test_sigstop_leader_past_its_lease(self):
        leader = self.leader()
        frozen = self.servers[leader]
        guardian = self.guardian(leader)
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            others = [i for i in range(3) if i != leader]
            new = jqtest.wait_for(lambda: next((i for i in others
                                                if self.proxy(i).status()["cluster"]["leading"]), None) is not None
                                  and next(i for i in others if self.proxy(i).status()["cluster"]["leading"]),
                                  "another leader")
            self.assertEqual(self.proxy(others[0]).addjob(self.job("while-frozen"), 5), 0)
            self.wait_ended("while-frozen")
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        self.dirs[leader].wait_log("lost the lead of the cluster")
        started_before = self.dirs[leader].log().count("Starting job")
        for i in range(3):
            # PostgreSQL ended the frozen server's sessions meanwhile (the
            # bounds of doc/durability.md): its first call may get the
            # fault that says nothing was changed, until it reconnects
            self.assertEqual(self.add_when_reachable(i, self.job("after%d" % i)), 0)
        for i in range(3):
            self.wait_ended("after%d" % i)
        self.assertEqual(self.dirs[leader].log().count("Starting job"), started_before)
        self.assertTrue(self.proxy(new).status()["cluster"]["leading"])
        self.assertFalse(self.proxy(leader).status()["cluster"]["leading"])
        assert_no_overlap(self, self.record)
        # the fence that woke with it killed its jobs, not its guardian
        self.assertEqual(self.guardian(leader), guardian)
        self.assertNotIn("The jobs' guardian", self.dirs[leader].log())

    def test_postgresql_restart_during_adds(self):
        self.proxy(0).pause()
        acked, faults, odd, stop = [], [], [], threading.Event()
        lock = threading.Lock()

        def burst(i):
            proxy = self.proxy(i)
            n = 0
            while not stop.is_set():
                task = ["bots-engine", "s%d-%d" % (i, n)]
                n += 1
                try:
                    answer = proxy.addjob(task, 5)
                except xmlrpc.client.Fault:
                    with lock:
                        faults.append(task)
                    time.sleep(0.01)
                    continue
                with lock:
                    (acked if answer == 0 else odd).append((task, answer))
        threads = [threading.Thread(target=burst, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        jqtest.wait_for(lambda: len(acked) > 30, "adds before the restart")
        PG.restart()
        before = len(acked)
        # The servers reconnect by themselves: adds are accepted again.
        jqtest.wait_for(lambda: len(acked) > before + 30, "adds after the restart")
        stop.set()
        for t in threads:
            t.join()
        # a server whose reconnect found the database still starting tries
        # again a second later: the others' adds may have been all, and a
        # server reconnects its journal only when a call needs it
        for i in (0, 2):
            self.listjobs_when_up(i)
        waiting = self.listjobs_when_up(1)
        tasks = [task for _, _, task in waiting]
        self.assertEqual(odd, [])
        for task, _ in acked:
            self.assertIn(task, tasks)
        numbers = [n for _, n, _ in waiting]
        self.assertEqual(len(numbers), len(set(numbers)))
        for d in self.dirs:
            log = d.log()
            # once per outage, not once per call
            self.assertEqual(log.count("journal lost"), 1, log[-2000:])
            self.assertEqual(log.count("journal again"), 1, log[-2000:])
            self.assertLessEqual(log.count("Cluster: connection to"), 1, log[-2000:])
        self.assertEqual(self.proxy(2).listjobs(), waiting)
        # The lease connections come back too, and a server leads again.
        for d in self.dirs:
            jqtest.wait_for(lambda: d.log().count("Cluster: connection to")
                            == d.log().count("Cluster: connected to"),
                            "the lease connection back; log:\n" + d.log()[-2000:])
        self.leader()
        # Every acknowledged job runs, once the queue is resumed.
        self.proxy(0).resume()
        wanted = sorted(task for task, _ in acked)

        def ran():
            done = [h["task"] for h in self.proxy(2).history(100000)]
            return all(task in done for task in wanted)
        jqtest.wait_for(ran, "every acknowledged job to run")
        self.assertEqual(self.proxy(1).listjobs(), 0)
        print("restart: %d adds acknowledged, %d faults" % (len(acked), len(faults)),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
