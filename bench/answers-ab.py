"""Two builds side by side: the server CPU of listjobs at 100,000 waiting.

Usage: answers-ab.py BUILDDIR_A BUILDDIR_B [ROUNDS [DURABILITY]]

Both servers are started and filled alike (in memory unless DURABILITY
says otherwise: with full, each page's hop to the loop is a batch of
the door, with its journal transaction around it), then asked
listjobs in turn, ROUNDS times each (20 by default), on a raw socket
that reads the answer to its end.  On a machine shared with other work a
figure of one run moves by a third from one minute to the next; taking
the two in turn within the same minutes is what makes them comparable.
Printed for each: the server's CPU per answer (utime+stime from /proc,
in 10 ms ticks, and with perf installed `perf stat`'s task-clock, which
counts exactly), its context switches per answer with perf, and the
median time from the request to the answer's last byte."""

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench

BODY = (b"<?xml version='1.0'?><methodCall><methodName>listjobs</methodName>"
        b"<params></params></methodCall>")
REQUEST = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
           b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


def one_answer(b):
    """Server CPU (ms), wall time (ms) and bytes of one listjobs."""
    cpu = bench.cpu_ms(b.server.pid)
    t0 = time.perf_counter()
    size = 0
    with socket.create_connection(("127.0.0.1", b.port), 30) as s:
        s.sendall(REQUEST)
        # the streamed answer is chunked (HTTP/1.1): it ends with its last,
        # empty chunk, and the connection goes on
        tail = b""
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            size += len(data)
            tail = (tail + data)[-7:]
            if tail == b"\r\n0\r\n\r\n":
                break
    return bench.cpu_ms(b.server.pid) - cpu, (time.perf_counter() - t0) * 1000, size


def perf_stat(pid, out):
    try:
        return subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock,context-switches",
                                 "-o", out, "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        return None


def perf_figures(out, rounds):
    figures = {}
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                fields = line.split(",")
                if len(fields) > 2 and fields[2] in ("task-clock", "context-switches"):
                    figures[fields[2]] = float(fields[0]) / rounds
    return figures


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    dirs = [os.path.abspath(d) for d in sys.argv[1:3]]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    durability = sys.argv[4] if len(sys.argv) > 4 else "none"
    benches = []
    scratch = tempfile.mkdtemp(prefix="jqab-")
    try:
        for d in dirs:
            benches.append(bench.Bench(d, False, durability))
            benches[-1].hold("ab")
            benches[-1].loadgen(16, 100000 // 16, "mem")
        outs = [os.path.join(scratch, "perf%d" % i) for i in range(2)]
        perfs = [perf_stat(b.server.pid, out) for b, out in zip(benches, outs)]
        time.sleep(1)           # perf attached
        load = os.getloadavg()[0]
        rows = [[], []]
        for _ in range(rounds):
            for i, b in enumerate(benches):
                rows[i].append(one_answer(b))
        for p in perfs:
            if p is not None:
                p.send_signal(signal.SIGINT)
                p.wait()
        print("listjobs of %d waiting, durability %s, %d rounds each in turn, load %.1f -> %.1f" % (
            100000 // 16 * 16, durability, rounds, load, os.getloadavg()[0]))
        for d, row, out in zip(dirs, rows, outs):
            figures = perf_figures(out, rounds)
            print("%-40s CPU %5.1f ms/answer (/proc)  task-clock %s  switches %s  "
                  "to last byte %6.1f ms  %d bytes" % (
                      d[-40:], statistics.mean(r[0] for r in row),
                      "%5.1f ms" % figures["task-clock"] if "task-clock" in figures else "-",
                      "%4.0f" % figures["context-switches"] if "context-switches" in figures else "-",
                      statistics.median(r[1] for r in row), row[0][2]))
    finally:
        for b in benches:
            b.close()
        subprocess.run(["rm", "-rf", scratch])


if __name__ == "__main__":
    main()
