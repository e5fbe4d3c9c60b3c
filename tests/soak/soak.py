"""Load and soak test (make soak DURATION=seconds; not part of make check).

Many clients add, re-prioritise, list and clear jobs while short jobs run;
the server is SIGKILLed and restarted at random moments.  At the end the
queue is drained and the invariants are checked and printed:
  - never two jobs at once (nr_threads 1);
  - every accepted job ran, or was waiting when a clear happened;
  - no job ran twice, except the (at most two) jobs a kill interrupts;
  - the server's memory did not grow (start vs. end, both idle).
Loopback only; bounded in time; stops everything it starts."""

import argparse
import os
import random
import signal
import sys
import threading
import time
import xml.parsers.expat
import xmlrpc.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import jqtest  # noqa: E402


class Soak:
    def __init__(self, duration, clients):
        self.duration = duration
        self.clients = clients
        self.bots = jqtest.BotsDir({"authorized_tasks": "*", "stop_grace": "1"})
        self.record = self.bots.path("ran")
        self.lock = threading.Lock()
        self.acked = {}            # name -> time acknowledged
        self.clears = []           # times a clear returned
        self.kills = []            # times of SIGKILL
        self.calls = {"addjob": 0, "setpriority": 0, "listjobs": 0, "clearjobq": 0, "errors": 0}
        self.server = None
        self.stop = threading.Event()

    def task(self, name):
        # a short job that records its start and end (monotonic ns)
        return ["sh", "-c", 'echo "start $0 $(date +%s%N)" >> "$1"; '
                            'echo "end $0 $(date +%s%N)" >> "$1"', name, self.record]

    def start_server(self):
        self.server = jqtest.Server(self.bots)

    def client(self, c):
        i = 0
        while not self.stop.is_set():
            proxy = self.server.proxy()
            try:
                r = random.random()
                if r < 0.75:
                    name = "c%di%d" % (c, i)
                    i += 1
                    if proxy.addjob(self.task(name), random.randint(1, 9)) == 0:
                        with self.lock:
                            self.acked[name] = time.time()
                    self.calls["addjob"] += 1
                elif r < 0.87:
                    listed = proxy.listjobs()
                    self.calls["listjobs"] += 1
                    if listed:
                        job = random.choice(listed)
                        try:
                            proxy.setpriority(job[1], random.randint(1, 9))
                            self.calls["setpriority"] += 1
                        except xmlrpc.client.Fault:
                            pass  # it started meanwhile
                elif r < 0.875:
                    proxy.clearjobq()
                    with self.lock:
                        self.clears.append(time.time())
                    self.calls["clearjobq"] += 1
                else:
                    proxy.listjobs()
                    self.calls["listjobs"] += 1
            except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault,
                    jqtest.http.client.HTTPException, xml.parsers.expat.ExpatError):
                self.calls["errors"] += 1
                time.sleep(0.05)   # the server is being restarted
            finally:
                proxy("close")()

    def rss(self):
        return jqtest.vm_rss_kib(self.server.pid)

    def drain(self):
        proxy = self.server.proxy()
        jqtest.wait_for(lambda: proxy.status()["waiting"] == 0 and not proxy.status()["running"],
                        "the queue to drain", timeout=300, interval=0.2)
        proxy("close")()

    def run(self):
        self.start_server()
        time.sleep(1)
        rss_start = self.rss()
        threads = [threading.Thread(target=self.client, args=(c,)) for c in range(self.clients)]
        for t in threads:
            t.start()
        end = time.monotonic() + self.duration
        while time.monotonic() < end:
            time.sleep(min(random.uniform(3, 15), max(end - time.monotonic(), 0)))
            if time.monotonic() >= end:
                break
            self.server.proc.send_signal(signal.SIGKILL)
            self.kills.append(time.time())
            self.server.proc.wait(30)
            self.server.stop()
            self.start_server()
        self.stop.set()
        for t in threads:
            t.join(60)
        self.drain()
        time.sleep(1)
        rss_end = self.rss()
        self.server.stop()
        return self.check(rss_start, rss_end)

    def check(self, rss_start, rss_end):
        starts, ends = {}, {}
        events = []
        with open(self.record) as f:
            for line in f:
                kind, name, t = line.split()
                (starts if kind == "start" else ends).setdefault(name, []).append(int(t))
                events.append((int(t), kind))
        events.sort()
        running = most = 0
        for _, kind in events:
            running += 1 if kind == "start" else -1
            most = max(most, running)
        twice = [n for n, s in starts.items() if len(s) > 1]
        last_clear = max(self.clears) if self.clears else 0
        lost = [n for n, t in self.acked.items() if n not in starts and t > last_clear]
        results = [
            ("jobs accepted", len(self.acked), True),
            ("jobs run", len(starts), True),
            ("calls", sum(v for k, v in self.calls.items() if k != "errors"), True),
            ("calls refused while restarting", self.calls["errors"], True),
            ("clears", len(self.clears), True),
            ("SIGKILL + restart", len(self.kills), True),
            ("most jobs at once (must be 1)", most, most <= 1),
            ("accepted after the last clear, never run (must be 0)", len(lost), not lost),
            # A kill may land between a job's spawn and the commit that
            # records it with the previous job's end: both then run again,
            # one after the other (doc/durability.md, "The launch window").
            ("jobs run twice (at most two per kill)", len(twice), len(twice) <= 2 * len(self.kills)),
            ("RSS at start / end, KiB", "%d / %d" % (rss_start, rss_end),
             rss_end <= 2 * rss_start + 10240),
        ]
        ok = all(r[2] for r in results)
        for what, value, good in results:
            print("%-55s %12s  %s" % (what, value, "ok" if good else "FAILED"))
        print("soak: %s" % ("clean" if ok else "INVARIANT VIOLATED"))
        return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--builddir", default=".")
    p.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "60")))
    p.add_argument("--clients", type=int, default=8)
    args = p.parse_args()
    os.environ["JQ_BUILDDIR"] = os.path.abspath(args.builddir)
    jqtest.SERVER = os.path.join(os.path.abspath(args.builddir), "src", "bots-jobqueueserver")
    soak = Soak(args.duration, args.clients)
    try:
        ok = soak.run()
    finally:
        if soak.server is not None and soak.server.proc.poll() is None:
            soak.server.proc.kill()
        soak.bots.cleanup()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
