"""make bench: how fast bots-jobqueueserver takes jobs and launches them,
and how much memory it holds.  Loopback only, bounded in time; stops what
it starts.

Usage: bench.py --builddir DIR [--quick] [--json]
                [--only launch|addjob|answers]
                [--results FILE] [--compare COMMAND]

Every figure is compared with the previous run's, read from --results
(bench/results.json), and the new figures are written there for the next
run (a full run only: --quick and --only compare but keep the file).
--compare starts another job queue server (a command, {configdir}
standing for the config folder holding its bots.ini) and measures it
side by side: addjob/s at 16 connections and the launch gap."""

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kib(pid, field):
    """A figure of /proc/PID/smaps_rollup in KiB: Rss (resident), or
    Private_Dirty (the process's own: anonymous and written pages, which
    shared library text, counted in Rss, is not)."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return memory_kib(pid, "Rss")


def private_kib(pid):
    return memory_kib(pid, "Private_Dirty")


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("bench: timed out")
        time.sleep(0.01)


# The launch gap's jobs: the key of each figure and its program.  The raw
# stamp (bench/stamp-raw.c, no C library) reads the clock at its first and
# before its last instruction, as the issue defines the gap; the static
# one (glibc) after its own start-up and before its exit handlers; the
# dynamic one also loads its shared libraries.
STAMPS = (("launch_gap_raw_ms", "stamp-raw"), ("launch_gap_ms", "stamp"),
          ("launch_gap_dynamic_ms", "stamp-dynamic"))


def cpu_ms(pid):
    """The CPU time process @pid has used (user and system, all its
    threads, not its children's), in ms: a figure that the machine's
    load moves much less than any duration."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def launch_gap(rpc, stamp, root, gate, n, tag, pid=None):
    """Queues @n runs of @stamp behind a held job, opens the gate and
    returns the median and p99 of the gaps between one run's end and the
    next one's start, in ms, and with @pid the server's CPU per launch."""
    stamps = os.path.join(root, "stamps-" + tag)
    for i in range(n):
        rpc.addjob([stamp, stamps, str(i)], 5)
    before = cpu_ms(pid) if pid else 0
    open(gate, "w").close()
    wait_for(lambda: os.path.exists(stamps) and sum(1 for _ in open(stamps)) >= n, 120)
    result = gap_figures(stamps)
    if pid:
        result["server_cpu_ms"] = round((cpu_ms(pid) - before) / n, 3)
    return result


def gap_figures(stamps):
    """The median and p99 of the gaps between one stamp's end and the
    next one's start in the file @stamps, in ms."""
    with open(stamps) as f:
        spans = [tuple(map(int, line.split())) for line in f]
    gaps = sorted((b[0] - a[1]) / 1e6 for a, b in zip(spans, spans[1:]))
    return {"jobs": len(spans), "median": round(statistics.median(gaps), 3),
            "p99": round(gaps[int(len(gaps) * 0.99)], 3)}


def floor_gap(builddir, stamp, root, n, tag):
    """The same stamps started by bench/floor (vfork, exec, wait and
    nothing else): the gap no job queue can go below on this machine."""
    stamps = os.path.join(root, "floor-" + tag)
    subprocess.run([os.path.join(builddir, "bench", "floor"), str(n), stamp, stamps],
                   stdout=subprocess.DEVNULL, check=True, timeout=120)
    return gap_figures(stamps)


class Bench:
    def __init__(self, builddir, quick, durability="full"):
        self.builddir = builddir
        self.quick = quick
        self.root = tempfile.mkdtemp(prefix="jqbench-")
        self.port = free_port()
        os.makedirs(os.path.join(self.root, "config"))
        with open(os.path.join(self.root, "config", "bots.ini"), "w") as f:
            f.write("[jobqueue]\nenabled = True\nport = %d\nauthorized_tasks = *\n"
                    "log_console = False\nstop_grace = 1\ndurability = %s\n"
                    # the queue's caps (100,000 jobs by default) would
                    # refuse the adds of the figures with many waiting
                    "max_waiting_jobs = 0\nmax_waiting_bytes = 0\n"
                    % (self.port, durability))
        self.gate = os.path.join(self.root, "gate")
        self.server = None
        self.start()
        self.results = {}

    def start(self):
        t0 = time.monotonic()
        self.server = subprocess.Popen(
            [os.path.join(self.builddir, "src", "bots-jobqueueserver"),
             "-c" + os.path.join(self.root, "config")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.listening)
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % self.port)
        return time.monotonic() - t0

    def stop(self):
        self.rpc("close")()
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(60)

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def hold(self, name):
        """Starts a job that runs until the gate file exists, so that
        everything queued behind it waits."""
        if os.path.exists(self.gate):
            os.unlink(self.gate)
        self.rpc.addjob(["sh", "-c", "while [ ! -e %s ] && [ -d %s ]; do sleep 0.01; done; : %s"
                         % (self.gate, self.root, name)], 0)

    def loadgen(self, connections, calls, tag, program="bots-engine"):
        out = subprocess.run([os.path.join(self.builddir, "bench", "loadgen"), str(self.port),
                              str(connections), str(calls), tag, program],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise SystemExit("bench: loadgen failed: " + out.stdout + out.stderr)
        return json.loads(out.stdout)

    def status_pages(self):
        """GET of the status page, its JSON and the metrics with the queue
        full: median and worst of 20 round trips on one keep-alive
        connection (the server's share is at most that)."""
        import http.client
        rows = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for path in ("/status.json", "/metrics", "/"):
            times, size = [], 0
            for _ in range(20):
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                size = len(resp.read())
                times.append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    raise SystemExit("bench: GET %s answered %d" % (path, resp.status))
            rows.append({"path": path, "median_ms": round(statistics.median(times), 3),
                         "max_ms": round(max(times), 3), "bytes": size})
        conn.close()
        return rows

    def answer_times(self, rounds=3):
        """Each answer with the queue full, timed from the request's last
        byte sent to the answer's last byte received, on a raw socket with
        no parsing (so close to the server's own time): median of
        @rounds, and the server's CPU per answer over them."""
        rows = []
        for method, params in (("listjobs", ""), ("status", ""), ("isup", ""),
                               ("history", "<param><value><int>100</int></value></param>")):
            body = ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s"
                    "</params></methodCall>" % (method, params)).encode()
            request = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body)) + body
            times, size = [], 0
            before = cpu_ms(self.server.pid)
            for _ in range(rounds):
                with socket.create_connection(("127.0.0.1", self.port), 30) as s:
                    t0 = time.perf_counter()
                    s.sendall(request)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += s.recv(65536)
                    head, rest = data.split(b"\r\n\r\n", 1)
                    rest = bytearray(rest)  # grows in place: linear
                    fields = head.lower().split(b"\r\n")
                    lengths = [int(h.split(b":")[1]) for h in fields
                               if h.startswith(b"content-length:")]
                    # a streamed answer has none: chunked, it ends with its
                    # last (empty) chunk and the connection goes on; to an
                    # HTTP/1.0 client it would end with the connection
                    chunked = any(h.startswith(b"transfer-encoding:") and b"chunked" in h
                                  for h in fields)
                    length = lengths[0] if lengths else float("inf")
                    while len(rest) < length:
                        if chunked and rest.endswith(b"\r\n0\r\n\r\n"):
                            break
                        chunk = s.recv(1 << 20)
                        if not chunk:
                            break
                        rest += chunk
                    times.append((time.perf_counter() - t0) * 1000)
                    size = len(rest)
            rows.append({"method": method, "median_ms": round(statistics.median(times), 3),
                         "bytes": size,
                         "server_cpu_ms": round((cpu_ms(self.server.pid) - before) / rounds, 1)})
        return rows

    def free_slot(self):
        """addjob from one connection into a free slot: every added job is
        started at once, after its add's commit (the held launch).  Its
        program does not exist, so it fails to start and leaves no process
        behind: the add, the start and its record are what is timed."""
        self.rpc.clearjobq()
        row = self.loadgen(1, 250 if self.quick else 1000, "free",
                           os.path.join(self.root, "no-such-program"))
        self.rpc.clearjobq()
        return row

    def addjob_sweep(self, tag):
        total = 4000 if self.quick else 24000
        rows = []
        for conns in (1, 4, 16, 64):
            # a single client is slow when every call is fsynced: fewer calls
            calls = max(total // conns // (4 if conns == 1 else 1), 50)
            rows.append(self.loadgen(conns, calls, "%s%d" % (tag, conns)))
            self.rpc.clearjobq()
        return rows

    def run(self):
        time.sleep(0.2)  # let start-up allocations settle before reading RSS
        self.results["idle_rss_kib"] = rss_kib(self.server.pid)
        self.results["idle_private_dirty_kib"] = private_kib(self.server.pid)
        self.results["addjob_free_slot"] = self.free_slot()
        self.hold("throughput")
        rows = self.addjob_sweep("c")
        self.results["addjob"] = rows

        # listing 10,000 waiting jobs
        self.loadgen(16, 10000 // 16 + 1, "list")
        t0 = time.monotonic()
        listed = self.rpc.listjobs()
        self.results["list_10000_seconds"] = round(time.monotonic() - t0, 3)
        self.results["list_10000_count"] = len(listed)
        self.rpc.clearjobq()

        # memory with many waiting jobs
        waiting = 20000 if self.quick else 100000
        before = rss_kib(self.server.pid)
        self.loadgen(16, waiting // 16, "mem")
        after = rss_kib(self.server.pid)
        self.results["waiting_jobs"] = waiting
        self.results["rss_with_waiting_kib"] = after
        self.results["bytes_per_waiting_job"] = round((after - before) * 1024 / waiting)
        self.results["status_pages"] = self.status_pages()
        self.results["answers"] = self.answer_times()
        # addjob cost with a full queue, against the empty-queue figure
        full = self.loadgen(16, rows[2]["calls"] // 16, "full")
        self.results["addjob_16_with_waiting"] = full
        self.results["full_to_empty_ratio"] = round(full["per_second"] / rows[2]["per_second"], 2)
        # start-up with that many jobs in the journal
        self.stop()
        self.results["startup_seconds"] = round(self.start(), 3)
        self.results["startup_waiting"] = len(self.rpc.listjobs())
        self.launch_gaps()
        self.million()

    def launch_gaps(self):
        """Trivial jobs back to back: the gap from one job's last
        instruction to the next one's first.  The static stamp loads no
        shared library (exit to exec); the dynamic one is the end-to-end
        figure a real program sees."""
        n = 200 if self.quick else 1000
        for key, program in STAMPS:
            if not os.path.exists(os.path.join(self.builddir, "bench", program)):
                continue        # the raw stamp is built on x86-64 Linux only
            self.rpc.clearjobq()
            self.hold("launch")
            path = os.path.join(self.builddir, "bench", program)
            self.results[key] = launch_gap(self.rpc, path, self.root, self.gate, n, key,
                                           self.server.pid)
            # in the same minute, so that the load is alike
            if key != "launch_gap_dynamic_ms":
                self.results.setdefault("launch_floor", {})[key] = floor_gap(
                    self.builddir, path, self.root, n, key)

    def million(self):
        """Memory and start-up with a huge queue: the rows are written into
        the stopped server's journal directly (adding them one by one would
        take minutes), in the journal's own format."""
        import sqlite3
        n = 200000 if self.quick else 1000000
        self.stop()
        db = sqlite3.connect(os.path.join(self.root, "botssys", "jobqueue", "queue.db"))
        with db:
            db.execute("DELETE FROM jobs")
            rows = ((i, 1 + i % 9, b"bots-engine\0-cconfig\0--run=%d\0" % i,
                     "['bots-engine', '-cconfig', '--run=%d']" % i, i) for i in range(1, n + 1))
            db.executemany("INSERT INTO jobs (number, priority, argv, task, queued_us, state, at_head)"
                           " VALUES (?, ?, ?, ?, ?, 'waiting', 0)", rows)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_number', ?)", (n + 1,))
            # paused, so that the restarted server holds them all waiting
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('paused', 1)")
        db.close()
        self.results["million_waiting"] = n
        self.results["million_startup_seconds"] = round(self.start(), 3)
        time.sleep(0.5)
        self.results["million_rss_kib"] = rss_kib(self.server.pid)
        self.results["million_bytes_per_job"] = round(
            (self.results["million_rss_kib"] - self.results["idle_rss_kib"]) * 1024 / n)

    def close(self):
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def table(r):
    lines = ["bots-jobqueueserver benchmark (loopback; durability full unless said)", ""]
    lines.append("%-34s %10s %10s %10s" % ("addjob, keep-alive connections", "calls/s", "p50 ms", "p99 ms"))
    for level in ("none", "fast", "full"):
        lines.append("  durability %s%s" % (level, " (in memory)" if level == "none" else ""))
        for row in r["durability"][level]:
            lines.append("%-34s %10d %10.3f %10.3f" % (
                "    %d connection%s" % (row["connections"], "s" if row["connections"] > 1 else ""),
                row["per_second"], row["p50_us"] / 1000, row["p99_us"] / 1000))
    full = r["durability"]["full"]
    lines.append("%-34s %10.1f" % ("  full: 16 clients / 1 client", full[2]["per_second"] / full[0]["per_second"]))
    lines.append("%-34s %10.2f" % ("  full / in memory, 16 connections",
                                   full[2]["per_second"] / r["durability"]["none"][2]["per_second"]))
    free = r.get("addjob_free_slot")
    if free:
        lines.append("%-34s %10d %10.3f %10.3f" % ("  1, each job started at once", free["per_second"],
                                                   free["p50_us"] / 1000, free["p99_us"] / 1000))
    if "addjob_16_with_waiting" not in r:
        return "\n".join(lines)
    full = r["addjob_16_with_waiting"]
    lines.append("%-34s %10d %10.3f %10.3f" % ("  16, %d already waiting" % r["waiting_jobs"],
                                               full["per_second"], full["p50_us"] / 1000, full["p99_us"] / 1000))
    lines.append("%-34s %10.2f" % ("  ratio full/empty queue", r["full_to_empty_ratio"]))
    lines.append("")
    g = r.get("launch_gap_raw_ms")
    if g:
        lines.append("%-34s %10.3f ms median, %.3f ms p99 (%d jobs)" % (
            "launch gap, first to last instr.", g["median"], g["p99"], g["jobs"]))
        if "server_cpu_ms" in g:
            lines.append("%-34s %10.3f ms" % ("  server CPU per launch", g["server_cpu_ms"]))
        lines += floor_lines(r, "launch_gap_raw_ms")
    g = r["launch_gap_ms"]
    lines.append("%-34s %10.3f ms median, %.3f ms p99 (%d jobs)" % ("launch gap, static stamp",
                                                                   g["median"], g["p99"], g["jobs"]))
    lines += floor_lines(r, "launch_gap_ms")
    g = r["launch_gap_dynamic_ms"]
    lines.append("%-34s %10.3f ms median, %.3f ms p99 (%d jobs)" % ("  end to end, dynamic stamp",
                                                                   g["median"], g["p99"], g["jobs"]))
    lines.append("%-34s %10.1f MB (%.1f MB private dirty, the rest mapped library pages)"
                 % ("resident memory, idle", r["idle_rss_kib"] / 1024, r["idle_private_dirty_kib"] / 1024))
    lines.append("%-34s %10.1f MB (%d bytes per job)" % ("  with %d waiting" % r["waiting_jobs"],
                                                          r["rss_with_waiting_kib"] / 1024,
                                                          r["bytes_per_waiting_job"]))
    lines.append("%-34s %10.3f s" % ("listjobs of %d waiting" % r["list_10000_count"], r["list_10000_seconds"]))
    for row in r["status_pages"]:
        lines.append("%-34s %10.3f ms median, %.3f ms worst of 20 (%d bytes)" % (
            "GET %s, %d waiting" % (row["path"], r["waiting_jobs"]), row["median_ms"], row["max_ms"],
            row["bytes"]))
    for row in r.get("answers", []):
        lines.append("%-34s %10.3f ms (%d bytes; no parsing; server CPU %.1f ms)" % (
            "%s answer, %d waiting" % (row["method"], r["waiting_jobs"]), row["median_ms"], row["bytes"],
            row.get("server_cpu_ms", 0)))
    lines.append("%-34s %10.3f s" % ("start-up with %d in the journal" % r["startup_waiting"], r["startup_seconds"]))
    lines.append("%-34s %10.3f s" % ("start-up with %d in the journal" % r["million_waiting"],
                                      r["million_startup_seconds"]))
    lines.append("%-34s %10.1f MB (%d bytes per job)" % ("  resident with them waiting",
                                                          r["million_rss_kib"] / 1024, r["million_bytes_per_job"]))
    return "\n".join(lines)


class Other:
    """Another job queue server, started by a command given by the user
    (BENCH_COMPARE), in a scratch config folder whose bots.ini names a free
    port: addjob/s at 16 connections from an empty queue held by a running
    job, and the launch gap with the same stamp jobs."""

    def __init__(self, builddir, command, quick):
        self.builddir, self.quick = builddir, quick
        self.root = tempfile.mkdtemp(prefix="jqbench-other-")
        self.config = os.path.join(self.root, "config")
        self.port = free_port()
        self.gate = os.path.join(self.root, "gate")
        os.makedirs(self.config)
        with open(os.path.join(self.config, "bots.ini"), "w") as f:
            f.write("[jobqueue]\nenabled = True\nport = %d\n" % self.port)
        argv = [a.replace("{configdir}", self.config) for a in shlex.split(command)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % self.port)
        wait_for(self.up, 30)

    def up(self):
        if self.proc.poll() is not None:
            raise SystemExit("bench: the compared server exited (%d)" % self.proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def hold(self):
        if os.path.exists(self.gate):
            os.unlink(self.gate)
        self.rpc.addjob(["sh", "-c", "while [ ! -e %s ] && [ -d %s ]; do sleep 0.01; done"
                         % (self.gate, self.root)], 0)

    def run(self):
        time.sleep(0.2)
        results = {"idle_rss_kib": rss_kib(self.proc.pid)}
        self.hold()
        calls = (4000 if self.quick else 24000) // 16
        out = subprocess.run([os.path.join(self.builddir, "bench", "loadgen"), str(self.port),
                              "16", str(calls), "other"], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise SystemExit("bench: loadgen against the compared server failed: " + out.stdout)
        results["addjob_16"] = json.loads(out.stdout)
        # the jobs just added run to their end (bots-engine is not there):
        # let them, then hold again for the stamps
        open(self.gate, "w").close()
        time.sleep(0.5)
        self.hold()
        n = 200 if self.quick else 500
        held = True
        for key, program in STAMPS[:2]:
            path = os.path.join(self.builddir, "bench", program)
            if not os.path.exists(path):
                continue
            if not held:
                self.hold()     # the last stamps have all run
            results[key] = launch_gap(self.rpc, path, self.root, self.gate, n, "other-" + program)
            held = False
        return results

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def floor_lines(r, key):
    """The floor beside a launch gap, and what is left of the gap above it."""
    floor = r.get("launch_floor", {}).get(key)
    if not floor:
        return []
    return ["%-34s %10.3f ms median (vfork, exec, wait only); the server's own: %.3f ms"
            % ("  floor of this machine", floor["median"], r[key]["median"] - floor["median"])]


def compare_table(ours, other, command):
    lines = ["", "Side by side with: %s" % command]
    a, b = ours["durability"]["full"][2]["per_second"], other["addjob_16"]["per_second"]
    lines.append("%-34s %10d  against %d: %.1fx" % ("addjob/s, 16 connections, full", a, b, a / b if b else 0))
    for key, label in (("launch_gap_raw_ms", "launch gap median (raw stamp)"),
                       ("launch_gap_ms", "launch gap median (static stamp)")):
        if key in ours and key in other:
            a, b = ours[key]["median"], other[key]["median"]
            floor = ours.get("launch_floor", {}).get(key)
            lines.append("%-34s %10.3f  against %.3f ms: %.2fx%s" % (
                label, a, b, b / a if a else 0,
                "; above the floor (%.3f ms): %.3f against %.3f ms" % (
                    floor["median"], a - floor["median"], b - floor["median"]) if floor else ""))
    a, b = ours["idle_rss_kib"] / 1024, other["idle_rss_kib"] / 1024
    lines.append("%-34s %10.1f  against %.1f MB" % ("resident memory, idle", a, b))
    return "\n".join(lines)


def get(r, path):
    for part in path:
        if isinstance(r, list):
            r = next((x for x in r if part in (x.get("connections"), x.get("path"), x.get("method"))),
                     None)
        elif isinstance(r, dict):
            r = r.get(part)
        if r is None:
            return None
    return r


# Every figure compared with the previous run: label, path in the JSON,
# and whether more is better.
FIGURES = (
    [("addjob/s %s, %d conn" % (d, c), ("durability", d, c, "per_second"), True)
     for d in ("none", "fast", "full") for c in (1, 4, 16, 64)]
    + [("addjob/s full, 1 conn, started at once", ("addjob_free_slot", "per_second"), True)]
    + [("addjob p99 us %s, 16 conn" % d, ("durability", d, 16, "p99_us"), False)
       for d in ("none", "full")]
    + [("full as a share of none, 16 conn", ("full_share_of_none",), True),
       ("addjob/s 16 conn, 100k waiting", ("addjob_16_with_waiting", "per_second"), True),
       ("launch gap median ms, raw", ("launch_gap_raw_ms", "median"), False),
       ("server CPU ms per launch, raw", ("launch_gap_raw_ms", "server_cpu_ms"), False),
       ("launch gap median ms, static", ("launch_gap_ms", "median"), False),
       ("launch gap p99 ms, static", ("launch_gap_ms", "p99"), False),
       ("launch gap floor ms, raw", ("launch_floor", "launch_gap_raw_ms", "median"), False),
       ("launch gap floor ms, static", ("launch_floor", "launch_gap_ms", "median"), False),
       ("launch gap median ms, dynamic", ("launch_gap_dynamic_ms", "median"), False),
       ("RSS idle KiB", ("idle_rss_kib",), False),
       ("private dirty idle KiB", ("idle_private_dirty_kib",), False),
       ("bytes per waiting job, 100k", ("bytes_per_waiting_job",), False),
       ("bytes per waiting job, 1M", ("million_bytes_per_job",), False),
       ("listjobs of 10,000 s", ("list_10000_seconds",), False),
       ("GET /status.json ms, 100k", ("status_pages", "/status.json", "median_ms"), False),
       ("GET /metrics ms, 100k", ("status_pages", "/metrics", "median_ms"), False),
       ("listjobs answer ms, 100k", ("answers", "listjobs", "median_ms"), False),
       ("listjobs server CPU ms, 100k", ("answers", "listjobs", "server_cpu_ms"), False),
       ("status answer ms, 100k", ("answers", "status", "median_ms"), False),
       ("start-up s, 100k+ journal", ("startup_seconds",), False),
       ("start-up s, 1M journal", ("million_startup_seconds",), False),
       ("pg addjob/s, one server", ("postgresql", "one_server_16", "per_second"), True),
       ("pg addjob/s, three servers", ("postgresql", "three_servers_16", "per_second"), True),
       ("pg launch gap ms via follower", ("postgresql", "follower_launch_gap_ms", "median"), False),
       ("other server addjob/s, 16 conn", ("compared", "addjob_16", "per_second"), True),
       ("other server launch gap ms", ("compared", "launch_gap_ms", "median"), False)])

# A change smaller than this is within this shared machine's noise.
NOISE = 0.10


def changes_table(previous, now):
    meta = previous.get("meta", {})
    lines = ["", "Against the previous run (%s, commit %s%s):" % (
        meta.get("date", "?"), meta.get("commit", "?"), ", --quick" if meta.get("quick") else ""),
        "%-36s %12s %12s %9s" % ("figure", "before", "now", "change")]
    for label, path, more_is_better in FIGURES:
        a, b = get(previous, path), get(now, path)
        if a is None or b is None:
            continue
        change = (b - a) / a if a else 0.0
        worse = change < -NOISE if more_is_better else change > NOISE
        better = change > NOISE if more_is_better else change < -NOISE
        lines.append("%-36s %12s %12s %+8.0f%%%s" % (label, a, b, change * 100,
                                                     "  SLOWER" if worse else "  better" if better else ""))
    return "\n".join(lines)


def meta(quick):
    here = os.path.dirname(os.path.abspath(__file__))
    commit = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit or "?",
            "quick": quick, "cpus": os.cpu_count()}


def answers_only(builddir, quick):
    """The answers at 100,000 waiting (20,000 with --quick), ten rounds
    each: the queue is filled in memory (durability does not touch the
    answers) and nothing else is measured."""
    bench = Bench(builddir, quick, "none")
    try:
        bench.hold("answers")
        waiting = 20000 if quick else 100000
        bench.loadgen(16, waiting // 16, "mem")
        bench.results["waiting_jobs"] = waiting // 16 * 16
        bench.results["answers"] = bench.answer_times(10)
    finally:
        bench.close()
    return bench.results


def ours(builddir, args):
    if args.only == "answers":
        return answers_only(builddir, args.quick)
    if args.only == "launch":
        bench = Bench(builddir, args.quick, "full")
        try:
            bench.launch_gaps()
        finally:
            bench.close()
        return bench.results
    durability = {}
    for level in ("none", "fast") + (("full",) if args.only == "addjob" else ()):
        b = Bench(builddir, args.quick, level)
        try:
            if level == "full":
                results_free = b.free_slot()
            b.hold("sweep")
            durability[level] = b.addjob_sweep(level)
        finally:
            b.close()
    results = {"addjob_free_slot": results_free} if args.only == "addjob" else {}
    if args.only != "addjob":
        bench = Bench(builddir, args.quick, "full")
        try:
            bench.run()
        finally:
            bench.close()
        results = bench.results
        durability["full"] = results.pop("addjob")
    results["durability"] = durability
    results["full_share_of_none"] = round(durability["full"][2]["per_second"]
                                          / durability["none"][2]["per_second"], 2)
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--builddir", default=".")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--only", choices=("launch", "addjob", "answers"),
                   help="only the launch gaps, the addjob sweeps, or the answers "
                        "at 100,000 waiting")
    p.add_argument("--results", help="the previous run's JSON: compared with, then replaced")
    p.add_argument("--compare", default="",
                   help="command starting another server to compare with; {configdir} is replaced")
    p.add_argument("--no-postgresql", action="store_true",
                   help="skip the PostgreSQL journal's figures (bench/cluster.py)")
    p.add_argument("--only-postgresql", action="store_true")
    args = p.parse_args()
    builddir = os.path.abspath(args.builddir)
    if args.only_postgresql:
        import cluster
        results = cluster.run(builddir, args.quick, free_port)
        print(json.dumps(results, indent=2) if args.json else cluster.table(results))
        return
    results = ours(builddir, args)
    text = "" if args.json or args.only in ("launch", "answers") else table(results)
    if args.only == "launch":
        text = "\n".join("%-34s %10.3f ms median, %.3f ms p99 (%d jobs; server CPU %.3f ms each)" % (
            label, results[k]["median"], results[k]["p99"], results[k]["jobs"],
            results[k].get("server_cpu_ms", 0))
            for label, k in (("launch gap, first to last instr.", "launch_gap_raw_ms"),
                             ("launch gap, static stamp", "launch_gap_ms"),
                             ("  end to end, dynamic stamp", "launch_gap_dynamic_ms"))
            if k in results)
        text += "\n" + "\n".join(
            "%-34s %10.3f ms median (vfork, exec, wait only); the server's own: %.3f ms" % (
                "floor, " + label, floor["median"], results[k]["median"] - floor["median"])
            for label, k in (("raw stamp", "launch_gap_raw_ms"), ("static stamp", "launch_gap_ms"))
            for floor in [results.get("launch_floor", {}).get(k)] if floor)
    if args.only == "answers":
        text = "\n".join("%-10s %10.3f ms median, %9d bytes, server CPU %.1f ms each (%d waiting)" % (
            r["method"], r["median_ms"], r["bytes"], r["server_cpu_ms"], results["waiting_jobs"])
            for r in results["answers"])
    if not args.no_postgresql and not args.only:
        import cluster
        results["postgresql"] = cluster.run(builddir, args.quick, free_port)
        text += "" if args.json else cluster.table(results["postgresql"])
    if args.compare.strip():
        other = Other(builddir, args.compare, args.quick)
        try:
            results["compared"] = other.run()
        finally:
            other.close()
        results["compared"]["command"] = args.compare
        if "durability" in results and "launch_gap_ms" in results:
            text += "" if args.json else compare_table(results, results["compared"], args.compare)
    results["meta"] = meta(args.quick)
    previous = None
    if args.results and os.path.exists(args.results):
        with open(args.results) as f:
            previous = json.load(f)
        text += "" if args.json else changes_table(previous, results)
    print(json.dumps(results, indent=2) if args.json else text)
    if args.results and not args.quick and not args.only:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write("\n")
        print("\n(figures written to %s: commit it with a change to the hot path)" % args.results)


if __name__ == "__main__":
    main()
