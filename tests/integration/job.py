"""A job for the integration tests.  Usage:
    job.py RECORD NAME [--wait FILE] [--exit N] [--out TEXT] [--err TEXT]
           [--bytes N] [--sleep S] [--stdin] [--ignore-term] [--record-term]
           [--exclusive FILE] [--in-child]
Appends "start NAME T" to RECORD when it starts and "end NAME T" when it
ends (T: time.monotonic_ns, comparable across processes), waiting in
between for FILE to exist when asked to.  With --record-term a SIGTERM
records "end NAME T" too before it ends the job as it would have.  With
--exclusive FILE (first of the options) it holds an flock on FILE while
it runs, and records "overlap NAME T" when another job holds it: that
catches two runs at once even when one was SIGKILLed (no end record).
With --in-child (the first option) the job's own process only waits
for a child that does the rest, as a wrapper script does.
When $JQ_TEST_HOST is set (test_partition.py: which server ran the job),
each line ends with it.

A job always ends: a wait also ends when FILE's folder is gone (the test
is over) and, whatever happens to the folder, after MAX_WAIT seconds
($JQ_JOB_MAX_WAIT; no test waits that long).  A folder being removed
while the job writes its start record can survive the removal with just
that record in it, so the folder alone does not say the test is over."""

import fcntl
import os
import signal
import sys
import time

MAX_WAIT = float(os.environ.get("JQ_JOB_MAX_WAIT", "300"))


def record(path, what, name):
    line = "%s %s %d %d %d" % (what, name, time.monotonic_ns(), os.getpid(), os.getpgid(0))
    line += " %s\n" % os.environ["JQ_TEST_HOST"] if "JQ_TEST_HOST" in os.environ else "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main(argv):
    path, name = argv[1], argv[2]
    opts = argv[3:]
    if opts[:1] == ["--in-child"]:
        # as a wrapper script would: the rest runs in a child, waited for
        opts = opts[1:]
        child = os.fork()
        if child != 0:
            return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    record(path, "start", name)
    exit_code = 0
    i = 0
    while i < len(opts):
        opt, val = opts[i], opts[i + 1] if i + 1 < len(opts) else None
        i += 2
        if opt == "--wait":
            # a test that is over removes its folder: never outlive it
            give_up = time.monotonic() + MAX_WAIT
            while not os.path.exists(val) and os.path.isdir(os.path.dirname(val) or "."):
                if time.monotonic() > give_up:
                    sys.stderr.write("job.py: gave up waiting for %s\n" % val)
                    return 3
                time.sleep(0.005)
        elif opt == "--exclusive":
            held = os.open(val, os.O_RDWR | os.O_CREAT, 0o644)  # noqa: F841 (held until exit)
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                record(path, "overlap", name)
        elif opt == "--exit":
            exit_code = int(val)
        elif opt == "--out":
            sys.stdout.write(val + "\n")
        elif opt == "--err":
            sys.stderr.write(val + "\n")
        elif opt == "--bytes":
            sys.stdout.write("x" * int(val))
        elif opt == "--sleep":
            time.sleep(float(val))
        elif opt == "--stdin":
            i -= 1
            sys.stdout.write("stdin had %d bytes\n" % len(sys.stdin.buffer.read()))
        elif opt == "--record-term":
            def on_term(signum, frame):
                record(path, "end", name)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            signal.signal(signal.SIGTERM, on_term)
            i -= 1
        elif opt == "--ignore-term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            i -= 1
    sys.stdout.flush()
    sys.stderr.flush()
    record(path, "end", name)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
