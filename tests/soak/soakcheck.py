"""The soak test's checker: a pure function over a recorded run.

A recorded run is a folder (soak.py writes it; test_soakcheck.py writes
small ones and records a 3-second soak):

  acks       one acknowledged addjob a line: "NAME CLIENT_TIME"
  clears     one clearjobq that answered a line: "CLIENT_TIME"
  clears-unanswered  one clearjobq that got no answer (a kill) a line:
             "K", the server start whose listing would show its effect.
             The server writes a batch's log lines after its commit, so
             a kill in between keeps the clear and loses its line: a
             waiting job missing from listing K is then not lost.
  ran        what the jobs wrote themselves: "start NAME PID", "end NAME PID",
             or "overlap NAME PID" when a job found another one running
  restarts   one JSON object a line per server start, in order:
             {"start": K, "waiting": [NAME, ...] or null}, the waiting
             jobs listjobs() returned right after start K, before any
             client call reached that server
  driver.json  counts: calls, errors, kills, rss_start, rss_end
  botssys/   the server's folder: logging/jobqueue.log* and
             jobqueue/queue.db (the journal)

Every judgement about order comes from the server: the order of its log
lines ("Added job N, priority P: TASK", "Job queue cleared.", "Starting
job N", "Bots jobqueue started.") and what listjobs() said after each
start.  Client clocks are recorded only to be shown; they never decide.
Why: two client threads read their clocks after their calls returned, so
under load an add that the server applied before a clear can look later
than it (a false "lost job"), and a real loss can hide behind a clear the
client saw late.

A job counts as lost when the server acknowledged it (addjob answered 0),
it never ran, and no clear removed it.  The job is followed in server
order from its "Added job" line: it waits until a "Starting job" line
names it; a restart whose list names it makes it waiting again (a job
started before a kill is queued again); a restart whose list lacks a
waiting job has lost it; a "Job queue cleared." line removes it only
while it is waiting.

Usage: python3 soakcheck.py FOLDER   (exit 0 clean, 1 invariant violated)
"""

import bisect
import glob
import json
import os
import re
import sqlite3
import sys

NAME = re.compile(r"\bsoak-c\d+-\d+\b")

# A log record starts with a time stamp: Bots 3's "20261127 14:03:07"
# or Bots 4's "2026.11.27 14:03:07".  Anything else (indented job output,
# the rest of a task with a newline in it) continues the record before.
STAMP = re.compile(r"(?:\d{8}|\d{4}\.\d\d\.\d\d) \d\d:\d\d:\d\d ")
ADDED = re.compile(r"Added job (\d+), priority (-?\d+): (.*)")
STARTING = re.compile(r"Starting job (\d+)\b")
FINISHED = re.compile(r"Finished job (\d+)\b")
CLEARED = re.compile(r"Job queue cleared\.")
STARTED = re.compile(r"[Jj]obqueue started\.")

CONTEXT = 3     # log lines shown before and after each piece of evidence
MAX_SHOWN = 20  # lost jobs shown with their evidence; the rest are counted


class LogLine:
    """One log record: where it is, what it says, what it means."""

    def __init__(self, index, where, text):
        self.index = index      # position in server order
        self.where = where      # "jobqueue.log:123"
        self.text = text
        self.kind = None        # added, starting, finished, cleared, started
        self.number = None
        self.name = None
        stamp = STAMP.match(text)
        if stamp is None:
            return              # a continuation: job output, never an event
        body = text[stamp.end():]
        for kind, pattern in (("added", ADDED), ("starting", STARTING),
                              ("finished", FINISHED), ("cleared", CLEARED),
                              ("started", STARTED)):
            m = pattern.search(body)
            if m:
                self.kind = kind
                if m.groups():
                    self.number = int(m.group(1))
                if kind == "added":
                    found = NAME.search(m.group(3))
                    self.name = found.group(0) if found else None
                break


def log_files(botssys):
    """The server's log files, oldest first (rotated ones end in a date)."""
    found = []
    for base in (os.path.join(botssys, "logging", "jobqueue.log"),
                 os.path.join(botssys, "logging", "jobqueue", "jobqueue.log")):
        rotated = sorted(p for p in glob.glob(base + ".*") if not p.endswith(".lock"))
        found += rotated + ([base] if os.path.exists(base) else [])
    return found


def read_log(botssys):
    """Every log record in server order.  A SIGKILL can leave a line cut
    short with the next start's line glued to it: the two are split."""
    lines = []
    for path in log_files(botssys):
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, physical in enumerate(f, 1):
                physical = physical.rstrip("\n")
                starts = [m.start() for m in STAMP.finditer(physical)]
                if not starts or starts[0] != 0:
                    starts = [0] + starts
                for i, s in enumerate(starts):
                    end = starts[i + 1] if i + 1 < len(starts) else len(physical)
                    where = "%s:%d" % (os.path.basename(path), n)
                    lines.append(LogLine(len(lines), where, physical[s:end]))
    return lines


def read_words(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def read_restarts(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def journal_rows(botssys, name):
    """The journal's rows that mention @name, for the evidence."""
    path = os.path.join(botssys, "jobqueue", "queue.db")
    if not os.path.exists(path):
        return []
    rows = []
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            for table, cols in (("jobs", "number, priority, state"),
                                ("history", "number, priority, started_us, ended_us, exit_code")):
                for row in db.execute("SELECT %s FROM %s WHERE task LIKE ?" % (cols, table),
                                      ("%" + name + "%",)):
                    rows.append("journal %s: %s" % (table, dict(zip(cols.split(", "), row))))
        finally:
            db.close()
    except sqlite3.Error as e:
        rows.append("journal: cannot read %s: %s" % (path, e))
    return rows


class Verdict:
    """What check() found: the figures and, for each failure, its evidence."""

    def __init__(self):
        self.results = []    # (what, value, ok)
        self.evidence = []   # blocks of text

    @property
    def ok(self):
        return all(ok for _, _, ok in self.results)

    def add(self, what, value, ok=True):
        self.results.append((what, value, ok))

    def report(self):
        out = ["%-55s %12s  %s" % (what, value, "ok" if ok else "FAILED")
               for what, value, ok in self.results]
        for block in self.evidence:
            out += ["", block]
        out.append("soak: %s" % ("clean" if self.ok else "INVARIANT VIOLATED"))
        return "\n".join(out)


def context(log, indexes):
    """The log lines around @indexes, the marked ones with '>'."""
    shown = set()
    for i in indexes:
        shown.update(range(max(i - CONTEXT, 0), min(i + CONTEXT + 1, len(log))))
    out, last = [], None
    for i in sorted(shown):
        if last is not None and i != last + 1:
            out.append("    ...")
        out.append("  %s %-18s %s" % (">" if i in indexes else " ", log[i].where, log[i].text))
        last = i
    return out


def check(folder):
    """Judges the recorded run in @folder; returns a Verdict.  Reads only."""
    botssys = os.path.join(folder, "botssys")
    log = read_log(botssys)
    acks = {w[0]: (w[1] if len(w) > 1 else "?") for w in read_words(os.path.join(folder, "acks"))}
    client_clears = read_words(os.path.join(folder, "clears"))
    unanswered = {int(w[0]) for w in read_words(os.path.join(folder, "clears-unanswered"))}
    restarts = read_restarts(os.path.join(folder, "restarts"))
    try:
        with open(os.path.join(folder, "driver.json")) as f:
            driver = json.load(f)
    except FileNotFoundError:
        driver = {}

    runs, overlaps = {}, []
    for w in read_words(os.path.join(folder, "ran")):
        if w[0] == "start":
            runs[w[1]] = runs.get(w[1], 0) + 1
        elif w[0] == "overlap":
            overlaps.append(w[1])

    # Server order: the first "Added" line of each name, its "Starting"
    # lines (a number names the job last added with it: a kill can undo an
    # add whose line was already written, and the number is given again),
    # the clears and the starts.
    added, starting, clears, starts = {}, {}, [], []
    by_number = {}
    for line in log:
        if line.kind == "added" and line.name is not None:
            added.setdefault(line.name, line)
            by_number[line.number] = line.name
        elif line.kind == "starting" and line.number in by_number:
            starting.setdefault(by_number[line.number], []).append(line)
        elif line.kind == "cleared":
            clears.append(line)
        elif line.kind == "started":
            starts.append(line)
    # restarts[k] belongs to the k-th start line; unknown when they differ
    waiting_after, maybe_cleared = {}, set()
    if len(restarts) == len(starts):
        for k, (line, r) in enumerate(zip(starts, restarts)):
            if r.get("waiting") is not None:
                waiting_after[line.index] = set(r["waiting"])
            if k in unanswered:
                maybe_cleared.add(line.index)

    clear_at = [c.index for c in clears]   # in server order, for bisect
    v = Verdict()
    lost, removed, removed_unlogged = [], 0, 0
    for name in sorted(acks):
        if runs.get(name):
            continue
        why, marks = removal(name, added.get(name), starting.get(name, []),
                             clear_at, starts, waiting_after, maybe_cleared)
        if why is None:
            removed += 1
            continue
        if why is UNANSWERED_CLEAR:
            removed_unlogged += 1
            continue
        lost.append(name)
        if len(lost) > MAX_SHOWN:
            continue
        block = ["LOST %s: acknowledged (client time %s, shown only), never ran; %s"
                 % (name, acks[name], why)]
        marks = sorted(set(marks) | {l.index for l in log if name in l.text})
        block += context(log, marks) if marks else ["  (no line of the log names it)"]
        block += ["  " + r for r in journal_rows(botssys, name)]
        v.evidence.append("\n".join(block))

    if len(lost) > MAX_SHOWN:
        v.evidence.append("(%d more lost jobs not shown)" % (len(lost) - MAX_SHOWN))

    twice = sorted(n for n, c in runs.items() if c > 1)
    kills = driver.get("kills", 0)
    unacked = sorted(n for n in runs if n not in acks)

    v.add("jobs acknowledged", len(acks))
    v.add("jobs run", len(runs))
    v.add("jobs run without an acknowledgement (a kill ate it)", len(unacked))
    v.add("calls", driver.get("calls", "?"))
    v.add("calls refused while restarting", driver.get("errors", "?"))
    v.add("clears (server log / client answers)", "%d / %d" % (len(clears), len(client_clears)))
    v.add("SIGKILL + restart", kills)
    v.add("server starts with the waiting jobs listed",
          "%d / %d" % (len(waiting_after), len(starts)))
    v.add("acknowledged, then removed by a clear", removed)
    v.add("acknowledged, then removed by an unanswered clear", removed_unlogged)
    v.add("acknowledged, never run, not cleared (must be 0)", len(lost), not lost)
    v.add("runs that found another running (must be 0)", len(overlaps), not overlaps)
    for name in overlaps:
        block = ["OVERLAP %s started while another job was running" % name]
        block += context(log, [l.index for l in starting.get(name, [])])
        v.evidence.append("\n".join(block))
    # A kill may land between a job's spawn and the commit that records it
    # with the previous job's end: both then run again, one after the other
    # (doc/durability.md, "The launch window").
    v.add("jobs run twice (at most two per kill)", len(twice), len(twice) <= 2 * kills)
    if len(twice) > 2 * kills:
        for name in twice:
            block = ["RAN %d TIMES %s" % (runs[name], name)]
            block += context(log, [l.index for l in starting.get(name, [])])
            v.evidence.append("\n".join(block))
    if "rss_start" in driver and "rss_end" in driver:
        v.add("RSS at start / end, KiB", "%d / %d" % (driver["rss_start"], driver["rss_end"]),
              driver["rss_end"] <= 2 * driver["rss_start"] + 10240)
    if not log:
        v.add("server log lines (must not be 0)", 0, False)
    return v


UNANSWERED_CLEAR = "gone with a clear the kill left unanswered"


def removal(name, added, starting, clear_at, starts, waiting_after, maybe_cleared=frozenset()):
    """Why the never-run job @name was not removed by a clear (None: it was;
    UNANSWERED_CLEAR: missing after a restart that an unanswered clear
    came before, in @maybe_cleared), and the log lines that show it.
    Follows the job in server order from its "Added job" line: waiting
    until the server starts it; a restart that lists it as waiting makes
    it waiting again (a started job is queued again); a clear removes it
    only while it is waiting."""
    if added is None:
        return "the server's log never says it was added", []

    def clear_between(after, before):
        i = bisect.bisect_right(clear_at, after)
        return i < len(clear_at) and clear_at[i] < before

    events = sorted([(l.index, "starting", l) for l in starting if l.index > added.index]
                    + [(l.index, "restart", l) for l in starts if l.index > added.index],
                    key=lambda e: e[0])
    state, since = "waiting", added
    for index, kind, line in events:
        if state == "waiting" and clear_between(since.index, index):
            return None, []
        if kind == "starting":
            state, since = "started", line
        elif index in waiting_after:
            if name in waiting_after[index]:
                state, since = "waiting", line
            elif state == "waiting" and index in maybe_cleared:
                return UNANSWERED_CLEAR, []
            elif state == "waiting":
                return ("it was missing from the waiting jobs listed after the restart "
                        "at log line %s" % line.where), [added.index, since.index, index]
            else:
                break           # started, then gone
        else:
            state, since = "waiting", line  # not listed: it may be waiting
    if state == "started":
        return ("the server started it (log line %s), but it never ran" % since.where), \
            [added.index, since.index]
    if clear_between(since.index, float("inf")):
        return None, []
    return "no clear follows its \"Added job\" line", [added.index, since.index]


def main(argv):
    if len(argv) != 2:
        print("usage: soakcheck.py FOLDER", file=sys.stderr)
        return 2
    verdict = check(argv[1])
    print(verdict.report())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
