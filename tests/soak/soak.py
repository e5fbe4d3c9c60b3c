"""Load and soak test (make soak DURATION=seconds; not part of make check).

The load driver: many clients add, re-prioritise, list and clear jobs
while short jobs run; the server is SIGKILLed and restarted at random
moments.  At the end the queue is drained and the run is recorded in a
folder, which soakcheck.py judges (it holds the invariants and why they
are judged by the server's order).  A clean run's folder is removed; a
failed one is kept and its path printed, so that the failure can be read
(python3 tests/soak/soakcheck.py FOLDER) instead of re-run.
Loopback only; bounded in time; stops everything it starts."""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import xml.parsers.expat
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import jqtest  # noqa: E402
import soakcheck  # noqa: E402

# Each job records its run; one that cannot take the lock at once is
# running beside another job and says so (no clocks involved).
JOB_SCRIPT = ('exec 9>>"$2"; '
              'if flock -n 9; then echo "start $0 $$" >> "$1"; echo "end $0 $$" >> "$1"; '
              'else echo "overlap $0 $$" >> "$1"; fi')

CALL_ERRORS = (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault,
               jqtest.http.client.HTTPException, xml.parsers.expat.ExpatError)


class Soak:
    def __init__(self, duration, clients, kill_every=(3, 15)):
        self.duration = duration
        self.clients = clients
        self.kill_every = kill_every   # seconds between SIGKILLs: (least, most)
        self.bots = jqtest.BotsDir({"authorized_tasks": "*", "stop_grace": "1"})
        self.folder = self.bots.root
        self.record = self.bots.path("ran")
        self.lock_file = self.bots.path("ran.lock")
        self.lock = threading.Lock()
        self.acked = []            # (name, client time): shown, never judged
        self.clears = []           # client times of answered clears: the same
        self.unanswered_clears = []  # per clear with no answer: the start
                                     # whose listing may show its effect
        self.restarts = []         # per server start: the waiting jobs listed
        self.kills = 0
        self.calls = {"addjob": 0, "setpriority": 0, "listjobs": 0, "clearjobq": 0, "errors": 0}
        self.server = None
        self.stop = threading.Event()
        # While the server restarts, clients hold their next call, so that
        # the first call the new server answers is the driver's listjobs().
        self.gate = threading.Condition()
        self.gate_closed = False
        self.in_flight = 0

    def task(self, name):
        return ["sh", "-c", JOB_SCRIPT, name, self.record, self.lock_file]

    def start_server(self):
        self.server = jqtest.Server(self.bots)
        proxy = self.server.proxy()
        try:
            listed = proxy.listjobs()
            waiting = [n for job in (listed or []) for n in soakcheck.NAME.findall(" ".join(job[2]))]
        except CALL_ERRORS:
            waiting = None         # unknown: the checker gives the benefit of the doubt
        finally:
            proxy("close")()
        self.restarts.append({"start": len(self.restarts), "waiting": waiting})

    def count(self, what):
        with self.lock:
            self.calls[what] += 1

    def enter(self):
        with self.gate:
            while self.gate_closed and not self.stop.is_set():
                self.gate.wait(0.5)
            self.in_flight += 1

    def leave(self):
        with self.gate:
            self.in_flight -= 1
            self.gate.notify_all()

    def client(self, c):
        i = 0
        while not self.stop.is_set():
            self.enter()
            proxy = self.server.proxy()
            try:
                r = random.random()
                if r < 0.75:
                    name = "soak-c%d-%d" % (c, i)
                    i += 1
                    if proxy.addjob(self.task(name), random.randint(1, 9)) == 0:
                        with self.lock:
                            self.acked.append((name, time.time()))
                    self.count("addjob")
                elif r < 0.87:
                    listed = proxy.listjobs()
                    self.count("listjobs")
                    if listed:
                        job = random.choice(listed)
                        try:
                            proxy.setpriority(job[1], random.randint(1, 9))
                            self.count("setpriority")
                        except xmlrpc.client.Fault:
                            pass  # it started meanwhile
                elif r < 0.875:
                    try:
                        proxy.clearjobq()
                    except CALL_ERRORS:
                        # Applied or not: a kill between its commit and
                        # its log line leaves no trace but the queue.
                        with self.lock:
                            self.unanswered_clears.append(len(self.restarts))
                        raise
                    with self.lock:
                        self.clears.append(time.time())
                    self.count("clearjobq")
                else:
                    proxy.listjobs()
                    self.count("listjobs")
            except CALL_ERRORS:
                self.count("errors")
                time.sleep(0.05)   # the server is being restarted
            finally:
                proxy("close")()
                self.leave()

    def restart(self):
        """SIGKILL (calls in flight fail), then a new server whose first
        answer is the list of the jobs it recovered."""
        self.server.proc.send_signal(signal.SIGKILL)
        self.kills += 1
        self.server.proc.wait(30)
        self.server.stop()
        with self.gate:
            self.gate_closed = True
            quiet = self.gate.wait_for(lambda: self.in_flight == 0, timeout=60)
        try:
            self.start_server()
            if not quiet:
                self.restarts[-1]["waiting"] = None  # a call may have come first
        finally:
            with self.gate:
                self.gate_closed = False
                self.gate.notify_all()

    def rss(self):
        return jqtest.vm_rss_kib(self.server.pid)

    def drain(self):
        proxy = self.server.proxy()
        jqtest.wait_for(lambda: proxy.status()["waiting"] == 0 and not proxy.status()["running"],
                        "the queue to drain", timeout=300, interval=0.2)
        proxy("close")()

    def run(self):
        """Runs the load, then writes the record; returns the run's folder."""
        self.start_server()
        time.sleep(1)
        rss_start = self.rss()
        threads = [threading.Thread(target=self.client, args=(c,)) for c in range(self.clients)]
        for t in threads:
            t.start()
        try:
            end = time.monotonic() + self.duration
            while time.monotonic() < end:
                time.sleep(min(random.uniform(*self.kill_every), max(end - time.monotonic(), 0)))
                if time.monotonic() >= end:
                    break
                self.restart()
        finally:
            self.stop.set()
            for t in threads:
                t.join(60)
        self.drain()
        time.sleep(1)
        rss_end = self.rss()
        self.server.stop()
        self.write_record(rss_start, rss_end)
        return self.folder

    def write_record(self, rss_start, rss_end):
        with open(os.path.join(self.folder, "acks"), "w") as f:
            f.writelines("%s %.6f\n" % a for a in self.acked)
        with open(os.path.join(self.folder, "clears"), "w") as f:
            f.writelines("%.6f\n" % t for t in self.clears)
        with open(os.path.join(self.folder, "clears-unanswered"), "w") as f:
            f.writelines("%d\n" % k for k in self.unanswered_clears)
        with open(os.path.join(self.folder, "restarts"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in self.restarts)
        with open(os.path.join(self.folder, "driver.json"), "w") as f:
            json.dump({"duration": self.duration, "clients": self.clients,
                       "calls": sum(v for k, v in self.calls.items() if k != "errors"),
                       "errors": self.calls["errors"], "kills": self.kills,
                       "rss_start": rss_start, "rss_end": rss_end}, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--builddir", default=".")
    p.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "60")))
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the run's folder even when clean")
    args = p.parse_args()
    os.environ["JQ_BUILDDIR"] = os.path.abspath(args.builddir)
    jqtest.SERVER = os.path.join(os.path.abspath(args.builddir), "src", "bots-jobqueueserver")
    soak = Soak(args.duration, args.clients)
    ok = False
    try:
        verdict = soakcheck.check(soak.run())
        print(verdict.report())
        ok = verdict.ok
    finally:
        if soak.server is not None and soak.server.proc.poll() is None:
            soak.server.proc.kill()
            soak.server.proc.wait()
        if ok and not args.keep:
            soak.bots.cleanup()
        else:
            print("soak: the run is kept in %s; judge it again with\n"
                  "      python3 %s %s" % (soak.folder, os.path.join(HERE, "soakcheck.py"),
                                           soak.folder))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
