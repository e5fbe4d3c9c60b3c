"""make screenshot: doc/status-page.png from a demo queue.

A day of Bots engine runs is written into a fresh journal's history (as
bench.py writes its million jobs: the server would take a day to make
them), the real server is started on it, one job is left running and a
few wait behind it; headless Chromium takes the picture."""

import argparse
import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import browser  # noqa: E402
import jqtest  # noqa: E402

ENGINE = ["/usr/local/bin/bots-engine.py", "-cconfig"]


def history(now_us):
    """(number, priority, argv, task, queued, started, ended, exit, signal,
    maxruntime_hit, start_error) for a day: a --new run every 20 minutes that
    takes longer in the afternoon, with a backlog around 14:00."""
    rows, number, t = [], 1, now_us - 24 * 3600 * 10**6
    minute = 60 * 10**6
    while t < now_us - 25 * minute:
        hour = (t // (3600 * 10**6)) % 24
        took = (2 + (8 if 12 <= hour <= 16 else 0) + number % 3) * minute
        # a backlog in the early afternoon: runs were asked for faster
        # than they ended
        queued = t - ((number % 5) * 15 if 12 <= hour <= 15 else number % 4) * minute
        exit_code, signal, hit, error = 0, None, 0, None
        if number % 17 == 0:
            exit_code = 1
        if number == 40:
            exit_code, signal, hit = -15, 15, 1
        argv = ENGINE + ["--new"]
        if number % 9 == 0:
            argv = ENGINE + ["--resend"]
        if number == 50:
            argv, error, took = ["/usr/local/bin/cleanup-archive"], "No such file or directory", 0
        started = None if error else t
        ended = t + took
        rows.append((number, 5, "\0".join(argv).encode() + b"\0", repr(argv), queued, started,
                     ended, None if error else exit_code, signal, hit, error))
        number += 1
        t = ended + (20 * minute if not 13 <= hour <= 14 else minute)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--builddir", default=".")
    p.add_argument("--output", default="doc/status-page.png")
    args = p.parse_args()
    os.environ.setdefault("JQ_BUILDDIR", os.path.abspath(args.builddir))
    jqtest.SERVER = os.path.join(os.path.abspath(args.builddir), "src", "bots-jobqueueserver")
    bots = jqtest.BotsDir({"authorized_tasks": "*"})
    server = chrome = None
    try:
        # a first start makes the journal; the day goes into its history
        server = jqtest.Server(bots)
        server.stop()
        rows = history(int(time.time() * 10**6))
        db = sqlite3.connect(bots.path("botssys", "jobqueue", "queue.db"))
        with db:
            db.executemany("INSERT INTO history (number, priority, argv, task, queued_us, started_us,"
                           " ended_us, exit_code, signal, maxruntime_hit, start_error)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_number', ?)",
                       (len(rows) + 1,))
        db.close()
        server = jqtest.Server(bots)
        rpc = server.proxy()
        gate = bots.path("gate")
        # the running "engine" waits for the gate
        engine = bots.path("bots-engine.py")
        with open(engine, "w") as f:
            f.write("#!/bin/sh\nwhile [ ! -e %s ] && [ -d %s ]; do sleep 0.1; done\n" % (gate, bots.root))
        os.chmod(engine, 0o755)
        rpc.submit([engine, "-cconfig", "--new"], 5)
        for argv, prio in ((ENGINE + ["--new"], 5), (ENGINE + ["--resend"], 3),
                           (ENGINE + ["--new", "-Cconfigprod"], 5), (["/usr/local/bin/report-to-erp", "daily"], 7)):
            rpc.submit(argv, prio)
        chrome = browser.Browser()
        chrome.open("http://127.0.0.1:%d/" % bots.port)
        jqtest.wait_for(lambda: chrome.eval("document.querySelectorAll('#next tr[data-job]').length") == 4
                        and chrome.eval("document.querySelectorAll('#running td.elapsed')[0].textContent")
                        not in (None, "0:00:00"),
                        "the page to show the demo queue", interval=0.2)
        chrome.screenshot(args.output)
        print("screenshot: wrote", args.output)
        rpc.clearjobq()
        open(gate, "w").close()
    finally:
        if chrome:
            chrome.close()
        if server:
            server.stop()
        bots.cleanup()


if __name__ == "__main__":
    main()
