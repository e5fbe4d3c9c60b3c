"""Partitions (issue 22): three servers, each a host of its own -- a
network namespace and a PID namespace made by the test, the server its
first process, so that a kill takes its jobs with it as a host's crash
does, and no server sees another's jobs -- on one throwaway PostgreSQL in
the root namespace, reached through one veth pair per host.  While two
clients per server add distinct jobs, links are cut (either end set
down: a silent network, or one that refuses) and restored, leaders
killed, followers frozen, all of them cut at once, and the database
restarted.  Then everything is healed and the queue runs dry.

Fails on two jobs at once (each job holds an flock while it runs, job.py
--exclusive: a second one records the overlap even when the first was
SIGKILLed by the fence), on an acknowledged job that never finished, and
on a row left in the queue.  Prints the figures of doc/durability.md:
failover times, the longest call on a server that was not itself cut or
frozen, and the shortest hand-over gap (a job's end on one host to the
next start on another).

Short form in make check (JQ_PARTITION_SECONDS, default 20 s of faults);
long form: make soak-cluster DURATION=600.  Needs root and ip netns;
skipped otherwise.  Namespaces and links are named after the test's pid
and removed at exit, failed or not."""

import atexit
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import unittest
import xmlrpc.client

sys.path.insert(0, os.path.dirname(__file__))
import jqtest  # noqa: E402
import pgtest  # noqa: E402

LEASE = 2  # seconds
SECONDS = float(os.environ.get("JQ_PARTITION_SECONDS", "20"))
HOSTS = 3
TAG = "jqp%d" % (os.getpid() % 100000)   # interface names stay under 16
CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def ip(*args, check=True):
    proc = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), proc.stdout))
    return proc


def skip_reason():
    if os.geteuid() != 0:
        return "needs root: it makes network namespaces"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return "%s is not installed (tools/install-deps installs iproute2)" % tool
    probe = TAG + "-probe"
    made = ip("netns", "add", probe, check=False)
    ip("netns", "del", probe, check=False)
    if made.returncode != 0:
        return "ip netns add failed: %s" % made.stdout.strip()
    return None


def stale_tags():
    """Tags of earlier runs of this test whose process is gone (a run
    killed before its atexit left its namespaces and links behind)."""
    tags = set()
    listed = ip("netns", "list", check=False).stdout + ip("-o", "link", check=False).stdout
    for pid in re.findall(r"\bjqp(\d+)[rn-]\d", listed):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                alive = b"test_partition" in f.read()
        except OSError:
            alive = False
        if not alive:
            tags.add("jqp" + pid)
    return tags


def sweep_stale():
    for tag in stale_tags():
        for i in range(HOSTS):
            ip("link", "del", "%sr%d" % (tag, i), check=False)
            ip("netns", "del", "%s-%d" % (tag, i), check=False)


def free_prefix():
    """10.N: a /16 no interface of this machine uses."""
    used = ip("-4", "-o", "addr").stdout
    for n in [200 + (os.getpid() + k) % 50 for k in range(50)]:
        if " 10.%d." % n not in used:
            return "10.%d" % n
    raise AssertionError("no free 10.N.0.0/16 for the test's links")


class Net:
    """One namespace per host, linked to the root namespace by a veth
    pair: the root end 10.N.i.1 (where PostgreSQL listens), the host's
    end 10.N.i.2."""

    def __init__(self):
        sweep_stale()
        self.prefix = free_prefix()
        self.hosts = []
        atexit.register(self.remove)
        for i in range(HOSTS):
            ns, root_if, ns_if = "%s-%d" % (TAG, i), "%sr%d" % (TAG, i), "%sn%d" % (TAG, i)
            self.hosts.append((ns, root_if, ns_if))
            ip("netns", "add", ns)
            ip("link", "add", root_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
            ip("addr", "add", self.db_addr(i) + "/24", "dev", root_if)
            ip("link", "set", root_if, "up")
            ip("-n", ns, "addr", "add", "%s.%d.2/24" % (self.prefix, i), "dev", ns_if)
            ip("-n", ns, "link", "set", ns_if, "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def db_addr(self, i):
        return "%s.%d.1" % (self.prefix, i)

    def ns(self, i):
        return self.hosts[i][0]

    def cut(self, i, side):
        """The root end down: the host's packets are dropped in silence.
        The host's end down: its own sends fail at once."""
        ns, root_if, ns_if = self.hosts[i]
        if side == "root":
            ip("link", "set", root_if, "down")
        else:
            ip("-n", ns, "link", "set", ns_if, "down")

    def restore(self, i):
        ns, root_if, ns_if = self.hosts[i]
        ip("link", "set", root_if, "up")
        ip("-n", ns, "link", "set", ns_if, "up")

    def remove(self):
        for ns, root_if, _ in self.hosts:
            ip("link", "del", root_if, check=False)   # both ends go
            ip("netns", "del", ns, check=False)
        self.hosts = []
        left = [n for n in ip("netns", "list", check=False).stdout.split()
                if n.startswith(TAG + "-")]
        if left:
            sys.stderr.write("test_partition: namespaces left behind: %s\n" % left)


def ns_socket(ns, address, timeout):
    """A TCP connection made inside network namespace @ns (this thread
    enters it and comes back; a socket keeps the namespace it was made
    in)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if LIBC.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            return socket.create_connection(address, timeout)
        finally:
            if LIBC.setns(own, CLONE_NEWNET) != 0:
                os._exit(99)   # never go on in the wrong namespace
    finally:
        os.close(target)
        os.close(own)


class NsTransport(xmlrpc.client.Transport):
    def __init__(self, ns):
        super().__init__()
        self.ns = ns

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = 60
        conn.connect = lambda: setattr(conn, "sock", ns_socket(self.ns, (conn.host, conn.port),
                                                               conn.timeout))
        return conn


def children(pid):
    """Pids of @pid's children (a host's jobs, orphans included: the
    server is its PID namespace's init)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


class Host:
    """A server in its host's namespaces."""

    def __init__(self, index, bots, ns):
        self.index, self.bots, self.ns = index, bots, ns
        self.start()

    def start(self):
        env = dict(os.environ, PATH=self.bots.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                   JQ_TEST_HOST=str(self.index))
        with open(self.bots.path("stderr"), "ab") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "unshare", "--pid", "--fork", "--mount-proc",
                 jqtest.SERVER, "-c" + self.bots.config],
                env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=self.bots.root)
        self.pid = jqtest.wait_for(lambda: self._exited() or (children(self.proc.pid) or [None])[0],
                                   "server %d's process" % self.index)
        jqtest.wait_for(self._ready, "server %d to listen" % self.index)

    def _exited(self):
        if self.proc.poll() is not None:
            raise AssertionError("server %d exited (%s): %s" % (
                self.index, self.proc.returncode, open(self.bots.path("stderr")).read()[-2000:]))

    def _ready(self):
        self._exited()
        try:
            ns_socket(self.ns, ("127.0.0.1", self.bots.port), 0.5).close()
            return True
        except OSError:
            return False

    def alive(self):
        return self.proc.poll() is None

    def proxy(self):
        return xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % self.bots.port,
                                         transport=NsTransport(self.ns))

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGCONT)
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(jqtest.DEADLINE)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("server %d did not stop" % self.index)
        with open(self.bots.path("stderr"), errors="replace") as f:
            err = f.read()
        for mark in ("Sanitizer", "runtime error:"):
            if mark in err:
                raise AssertionError("server %d reported:\n%s" % (self.index, err))


REASON = skip_reason()


@unittest.skipIf(REASON, REASON)
class PartitionTest(unittest.TestCase):
    def setUp(self):
        self.net = Net()
        prefix = self.net.prefix
        self.pg = pgtest.PostgreSQL(tcp=([self.net.db_addr(i) for i in range(HOSTS)],
                                         prefix + ".0.0/16"))
        self.addCleanup(self.pg.stop)
        self.addCleanup(self.net.remove)
        self.db = self.pg.create_database("partition%d" % os.getpid())
        self.hosts, self.dirs = [], []
        self.addCleanup(self.stop_all)
        for i in range(HOSTS):
            bots = jqtest.BotsDir(jobqueue={
                "journal": "postgresql",
                "journal_dsn": "host=%s port=%d dbname=%s user=postgres application_name=jqm%d"
                               % (self.net.db_addr(i), self.pg.port, self.db, i),
                "journal_member": "m%d" % i,
                "journal_lease": str(LEASE), "kill_grace": "1"})
            self.dirs.append(bots)
            self.hosts.append(Host(i, bots, self.net.ns(i)))
        self.record = self.dirs[0].path("record")
        self.lock = self.dirs[0].path("engine.lock")
        self.calls = []          # (host, t0, t1, outcome)
        self.acked = []
        self.odd = []            # answers other than 0 or a fault
        self.affected = []       # (host or None for all, t0, t1)
        self.failovers = []
        self.cuts = []           # (host, t0, t1): its link down
        self.calls_lock = threading.Lock()

    def stop_all(self):
        failed = []
        for h in self.hosts:
            try:
                h.stop()
            except AssertionError as e:
                failed.append(str(e))
        for d in self.dirs:
            d.cleanup()
        if failed:
            raise AssertionError("; ".join(failed))

    # -- the database's view
    def holder(self):
        """The index of the member whose lease has not expired, or None."""
        try:
            out = self.pg.psql("SELECT holder FROM bots_jobqueue.lease "
                               "WHERE expires > clock_timestamp ()", self.db)
        except AssertionError:
            return None       # the database restarting
        return int(out[1:]) if out.startswith("m") else None

    def leader(self):
        return jqtest.wait_for(lambda: (lambda h: h is not None and (h,))(self.holder()),
                               "a leader", timeout=60)[0]

    def measure_failover(self, old, since):
        new = jqtest.wait_for(lambda: (lambda h: h not in (None, old) and (h,))(self.holder()),
                              "another server to lead after server %d" % old, timeout=60)[0]
        self.failovers.append(time.monotonic() - since)
        return new

    # -- load
    def client(self, host, n, stop):
        rng = random.Random(host * 100 + n)
        count = 0
        while not stop.is_set():
            name = "h%dc%dn%d" % (host, n, count)
            count += 1
            # one job in five runs a second: a cut often lands in a run
            task = [jqtest.PYTHON, jqtest.JOB, self.record, name, "--exclusive", self.lock,
                    "--record-term", "--sleep", "1" if count % 5 == 0 else "0"]
            t0 = time.monotonic()
            try:
                outcome = self.hosts[host].proxy().addjob(task, rng.randint(1, 9))
            except xmlrpc.client.Fault as fault:
                outcome = "fault: " + fault.faultString
            except OSError as e:          # the host killed, or frozen past 60 s
                outcome = "oserror: %s" % e
            t1 = time.monotonic()
            with self.calls_lock:
                self.calls.append((host, t0, t1, outcome))
                if outcome == 0:
                    self.acked.append(name)
                elif not isinstance(outcome, str):
                    self.odd.append((name, outcome))
            stop.wait(rng.uniform(1, 3))

    # -- faults
    def cut(self, rng, who):
        i = self.leader() if who == "leader" else rng.choice(
            [h for h in range(HOSTS) if h != self.holder()])
        side = rng.choice(["root", "host"])
        t0 = time.monotonic()
        self.net.cut(i, side)
        try:
            if who == "leader":
                self.measure_failover(i, t0)
            time.sleep(rng.uniform(0.5, 2.5) * LEASE)
        finally:
            self.net.restore(i)
        self.affected.append((i, t0, time.monotonic() + LEASE))
        self.cuts.append((i, t0, time.monotonic()))
        return "cut %s %d (%s end) for %.1f s" % (who, i, side, time.monotonic() - t0)

    def cut_all(self, rng):
        t0 = time.monotonic()
        for i in range(HOSTS):
            self.net.cut(i, "root")
        try:
            time.sleep(rng.uniform(0.6, 1.5) * LEASE)
        finally:
            for i in range(HOSTS):
                self.net.restore(i)
        self.affected.append((None, t0, time.monotonic() + LEASE))
        self.cuts += [(i, t0, time.monotonic()) for i in range(HOSTS)]
        return "cut every host for %.1f s" % (time.monotonic() - t0)

    def kill_leader(self, rng):
        i = self.leader()
        t0 = time.monotonic()
        self.hosts[i].kill()
        self.measure_failover(i, t0)
        self.hosts[i].start()
        self.affected.append((i, t0, time.monotonic() + LEASE))
        return "killed leader %d" % i

    def freeze_follower(self, rng):
        lead = self.holder()
        i = rng.choice([h for h in range(HOSTS) if h != lead])
        host = self.hosts[i]
        t0 = time.monotonic()
        os.kill(host.pid, signal.SIGSTOP)
        try:
            # A stopped server that runs a job is the documented overlap
            # (doc/durability.md, "A frozen host"): not this test's case.
            if children(host.pid):
                return "did not freeze %d: it runs a job" % i
            time.sleep(rng.uniform(0.5, 2) * LEASE)
        finally:
            os.kill(host.pid, signal.SIGCONT)
            self.affected.append((i, t0, time.monotonic() + LEASE))
        return "froze follower %d for %.1f s" % (i, time.monotonic() - t0)

    def restart_database(self, rng):
        t0 = time.monotonic()
        self.pg.restart()
        self.affected.append((None, t0, time.monotonic() + LEASE))
        return "restarted the database"

    def chaos(self, seconds, rng):
        faults = [(3, lambda: self.cut(rng, "leader")), (2, lambda: self.cut(rng, "follower")),
                  (2, lambda: self.kill_leader(rng)), (2, lambda: self.freeze_follower(rng)),
                  (1, lambda: self.cut_all(rng)), (1, lambda: self.restart_database(rng))]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            fault = rng.choices([f for _, f in faults], [w for w, _ in faults])[0]
            print("partition: %s" % fault(), file=sys.stderr)
            time.sleep(rng.uniform(0.3, 1.0) * LEASE)

    # -- the verdict
    def runs(self):
        """[(name, host, start, end or None)] from the record."""
        with open(self.record) as f:
            lines = [line.split() for line in f]
        open_runs, done, overlaps = {}, [], []
        for what, name, t, pid, _, host in lines:
            key = (name, host, pid)
            if what == "start":
                open_runs[key] = int(t)
            elif what == "end" and key in open_runs:
                done.append((name, host, open_runs.pop(key), int(t)))
            elif what == "overlap":
                overlaps.append(name)
        return done + [(k[0], k[1], t, None) for k, t in open_runs.items()], overlaps

    def settled(self):
        try:
            rows = self.pg.psql("SELECT count(*) FROM bots_jobqueue.jobs", self.db)
            return rows == "0" and all(h.proxy().status()["running"] == [] for h in self.hosts)
        except (AssertionError, OSError, xmlrpc.client.Fault):
            return False

    def queue_rows(self):
        try:
            return self.pg.psql("SELECT number, state FROM bots_jobqueue.jobs "
                                "ORDER BY number", self.db)
        except AssertionError:
            return None

    def wait_settled(self):
        """Until the queue has run dry: as long as it keeps moving (a long
        run leaves a backlog), failing after a minute without progress."""
        seen, since = None, time.monotonic()
        while not self.settled():
            rows = self.queue_rows()
            if rows != seen:
                seen, since = rows, time.monotonic()
            elif time.monotonic() - since > 60:
                self.fail("the queue stopped moving with rows left (number|state):\n%s" % rows)
            time.sleep(0.2)

    def test_partitions_kills_and_freezes_under_load(self):
        seed = int(os.environ.get("JQ_PARTITION_SEED", time.time()))
        print("partition: seed %d (JQ_PARTITION_SEED), %.0f s" % (seed, SECONDS), file=sys.stderr)
        rng = random.Random(seed)
        self.leader()
        stop = threading.Event()
        clients = [threading.Thread(target=self.client, args=(h, n, stop))
                   for h in range(HOSTS) for n in range(2)]
        for t in clients:
            t.start()
        try:
            self.chaos(SECONDS, rng)
        finally:
            stop.set()
            for t in clients:
                t.join()
        # healed: every acknowledged job runs, and nothing stays queued
        print("partition: healed; %d adds acknowledged" % len(self.acked), file=sys.stderr)
        self.leader()
        self.wait_settled()
        self.assertEqual(self.odd, [], "addjob of a new task answered neither 0 nor a fault")
        runs, overlaps = self.runs()
        self.assertEqual(overlaps, [], "two jobs ran at once")
        ordered = sorted((r for r in runs if r[3] is not None), key=lambda r: r[2])
        for a, b in zip(ordered, ordered[1:]):
            self.assertLessEqual(a[3], b[2], "%s overlapped %s" % (a, b))
        history = self.hosts[0].proxy().history(100000)
        finished = {h["task"][3] for h in history if h.get("exit_code") == 0}
        lost = [n for n in self.acked if n not in finished]
        self.assertEqual(lost, [], "acknowledged jobs that never finished")
        self.report(ordered)

    def report(self, ordered):
        """The figures doc/durability.md quotes."""
        def unaffected(host, t0, t1):
            return not any((a is None or a == host) and t0 < e and t1 > s
                           for a, s, e in self.affected)
        calm = [t1 - t0 for h, t0, t1, _ in self.calls if unaffected(h, t0, t1)]
        faults = sum(1 for h, t0, t1, o in self.calls if o != 0 and unaffected(h, t0, t1))
        on_cut = [t1 - t0 for h, t0, t1, _ in self.calls
                  if any(c == h and t0 < e and t1 > s for c, s, e in self.cuts)]
        gaps = [(b[2] - a[3]) / 1e9 for a, b in zip(ordered, ordered[1:]) if a[1] != b[1]]
        out = ["partition: %d adds acknowledged, %d calls" % (len(self.acked), len(self.calls))]
        if self.failovers:
            out.append("partition: failover (lease to another server) %.2f / %.2f / %.2f s "
                       "(min / median / max of %d)" % (min(self.failovers),
                                                       statistics.median(self.failovers),
                                                       max(self.failovers), len(self.failovers)))
        if calm:
            out.append("partition: calls on servers not cut, frozen or killed: longest %.2f s, "
                       "%d faults of %d" % (max(calm), faults, len(calm)))
        if on_cut:
            out.append("partition: calls on a server while its link was cut: longest %.2f s "
                       "of %d" % (max(on_cut), len(on_cut)))
        with open(self.pg.logfile, errors="replace") as f:
            idle = [line.split()[4] for line in f if "idle-in-transaction timeout" in line]
        frozen = {h: sum(1 for a, _, _ in self.affected if a in (h, None)) for h in range(HOSTS)}
        out.append("partition: sessions ended by the idle-in-transaction timeout: %s "
                   "(faults that touched each server: %s)" % (
                       {"jqm%d" % h: idle.count("jqm%d" % h) for h in range(HOSTS)}, frozen))
        if gaps:
            out.append("partition: hand-over gap (a job's end to the next start on another "
                       "host): shortest %.2f s of %d" % (min(gaps), len(gaps)))
        print("\n".join(out), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
