"""make bench, the PostgreSQL part: a throwaway PostgreSQL (the tests'
pgtest.py) and servers on it.  Measures addjob/s at 16 connections on one
server and spread over three, the launch gap when the add arrives at a
follower (add sent -> job's exec), and the failover time after SIGKILL
of the leader (kill -> a survivor leads)."""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import pgtest  # noqa: E402

LEASE = 2


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("bench: timed out")
        time.sleep(0.005)


class Node:
    def __init__(self, builddir, dsn, port):
        self.builddir, self.port = builddir, port
        self.root = tempfile.mkdtemp(prefix="jqbench-pg-")
        os.makedirs(os.path.join(self.root, "config"))
        with open(os.path.join(self.root, "config", "bots.ini"), "w") as f:
            f.write("[jobqueue]\nenabled = True\nport = %d\nauthorized_tasks = *\n"
                    "log_console = False\nstop_grace = 1\njournal = postgresql\n"
                    "journal_dsn = %s\njournal_lease = %d\n" % (port, dsn, LEASE))
        self.proc = subprocess.Popen([os.path.join(builddir, "src", "bots-jobqueueserver"),
                                      "-c" + os.path.join(self.root, "config")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % port)
        wait_for(self.up)

    def up(self):
        try:
            self.rpc.isup()
            return True
        except OSError:
            return False

    def leading(self):
        try:
            return self.rpc.status()["cluster"]["leading"]
        except (OSError, xmlrpc.client.Fault):
            return False

    def loadgen(self, connections, calls, tag):
        return subprocess.Popen([os.path.join(self.builddir, "bench", "loadgen"), str(self.port),
                                 str(connections), str(calls), tag],
                                stdout=subprocess.PIPE, text=True)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        subprocess.run(["rm", "-rf", self.root])


def collect(procs):
    import json
    rows = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        if p.returncode != 0:
            raise SystemExit("bench: loadgen failed")
        rows.append(json.loads(out))
    calls = sum(r["calls"] for r in rows)
    seconds = max(r["seconds"] for r in rows)
    return {"calls": calls, "per_second": int(calls / seconds),
            "p99_us": max(r["p99_us"] for r in rows), "errors": sum(r["errors"] for r in rows)}


def run(builddir, quick, free_port):
    pg = pgtest.PostgreSQL()
    nodes = []
    results = {}
    try:
        calls = 150 if quick else 600
        one = Node(builddir, pg.dsn(pg.create_database("bench1")), free_port())
        nodes.append(one)
        wait_for(one.leading)
        one.rpc.pause()
        results["one_server_16"] = collect([one.loadgen(16, calls, "one")])
        one.close()
        nodes.remove(one)

        dsn = pg.dsn(pg.create_database("bench3"))
        nodes = [Node(builddir, dsn, free_port()) for _ in range(3)]
        wait_for(lambda: any(n.leading() for n in nodes))
        nodes[0].rpc.pause()
        results["three_servers_16"] = collect([n.loadgen(c, calls, "three%d" % i)
                                               for i, (n, c) in enumerate(zip(nodes, (6, 5, 5)))])
        nodes[0].rpc.clearjobq()
        nodes[0].rpc.resume()

        # launch gap: an add sent to a follower, until the job's exec
        leader = next(i for i, n in enumerate(nodes) if n.leading())
        follower = nodes[(leader + 1) % 3]
        stamps = os.path.join(follower.root, "stamps")
        stamp = os.path.join(builddir, "bench", "stamp")
        gaps = []
        for i in range(20 if quick else 100):
            t0 = time.monotonic_ns()
            follower.rpc.addjob([stamp, stamps, str(i)], 5)
            wait_for(lambda: os.path.exists(stamps) and sum(1 for _ in open(stamps)) > i)
            with open(stamps) as f:
                start = int(f.readlines()[i].split()[0])
            gaps.append((start - t0) / 1e6)
        gaps.sort()
        results["follower_launch_gap_ms"] = {"jobs": len(gaps), "median": round(statistics.median(gaps), 3),
                                             "p99": round(gaps[int(len(gaps) * 0.99)], 3)}

        # failover: SIGKILL the leader, until a survivor says it leads
        t0 = time.monotonic()
        nodes[leader].proc.send_signal(signal.SIGKILL)
        nodes[leader].proc.wait()
        survivors = [n for i, n in enumerate(nodes) if i != leader]
        wait_for(lambda: any(n.leading() for n in survivors))
        results["failover_seconds"] = round(time.monotonic() - t0, 3)
        results["lease_seconds"] = LEASE
    finally:
        for n in nodes:
            n.close()
        pg.stop()
    return results


def table(r):
    lines = ["", "PostgreSQL journal (throwaway local server, unix socket)"]
    for key, what in (("one_server_16", "addjob, 16 connections, 1 server"),
                      ("three_servers_16", "addjob, 16 connections, 3 servers")):
        row = r[key]
        lines.append("%-34s %10d calls/s, p99 %.3f ms, %d errors" % (
            what, row["per_second"], row["p99_us"] / 1000, row["errors"]))
    g = r["follower_launch_gap_ms"]
    lines.append("%-34s %10.3f ms median, %.3f ms p99 (%d jobs)" % (
        "launch gap, add at a follower", g["median"], g["p99"], g["jobs"]))
    lines.append("%-34s %10.3f s (lease %d s)" % ("failover after SIGKILL", r["failover_seconds"],
                                                 r["lease_seconds"]))
    return "\n".join(lines)
