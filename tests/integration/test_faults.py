"""Faults from outside the protocol: a full or read-only disk under the
journal, the journal deleted or replaced under the running server, a low
limit of file descriptors, job trees that outlive their job, and bots.ini
files that are not files.  The server must never hang, never answer 0 for
what it did not save, and never let one of these end the listener."""

import http.client
import os
import re
import resource
import shutil
import select
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import xmlrpc.client

import jqtest

CLIENT_ERRORS = (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault,
                 http.client.HTTPException)


def is_root():
    return os.geteuid() == 0


class TimeoutTransport(xmlrpc.client.Transport):
    """A client that gives up instead of hanging: a hang fails the test."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = jqtest.DEADLINE
        return conn


def proxy(port):
    return xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % port,
                                     transport=TimeoutTransport())


def start_server(bots, preexec=None, env=None, test=None):
    environ = dict(os.environ)
    environ.update(env or {})
    server = jqtest.Server.__new__(jqtest.Server)
    server.bots = bots
    server.proc = subprocess.Popen(
        [jqtest.SERVER, "-c" + bots.config], env=environ,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=bots.root,
        preexec_fn=preexec)
    if test is not None:
        # Whatever the test asserts, no server outlives it.
        test.addCleanup(lambda: server.proc.poll() is None
                        and (server.proc.kill(), server.proc.communicate()))
    jqtest.wait_for(server._ready, "server to listen on port %d" % bots.port)
    return server


def waiting_tasks(bots):
    """The tasks the journal holds, read with SQLite itself."""
    db = sqlite3.connect(os.path.join(bots.botssys, "jobqueue", "queue.db"))
    try:
        return sorted(row[0] for row in db.execute("SELECT task FROM jobs"))
    finally:
        db.close()


class JournalFailure(jqtest.unittest.TestCase):
    """A commit that fails: every call of that moment gets a fault, no call
    hangs, the log does not claim what was not saved, the server exits 1,
    and a restart finds exactly the jobs that were answered 0."""

    def setUp(self):
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        self.mounted = None

    def tearDown(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.mounted], check=False)
        self.bots.cleanup()

    def flood_until_refused(self, server, clients=6, per_client=3000):
        """Adds distinct jobs from several clients at once until the server
        refuses; returns the tasks answered 0 and the number of faults."""
        acked, faults, hung = [], [], []
        lock = threading.Lock()
        stop = threading.Event()
        big = "x" * 200

        def client(c):
            p = proxy(self.bots.port)
            for i in range(per_client):
                if stop.is_set():
                    return
                task = ["/bin/true", "c%di%d" % (c, i), big]
                try:
                    answer = p.addjob(task, 5)
                except xmlrpc.client.Fault:
                    with lock:
                        faults.append(task)
                    stop.set()
                    return
                except socket.timeout:
                    hung.append(task)
                    stop.set()
                    return
                except CLIENT_ERRORS:
                    stop.set()   # the server stopped after the fault
                    return
                self.assertEqual(answer, 0)
                with lock:
                    acked.append(task)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(jqtest.DEADLINE * 3)
            self.assertFalse(t.is_alive(), "a client hung")
        self.assertEqual(hung, [], "calls got no answer")
        self.assertTrue(faults, "the disk never filled")
        return acked, faults

    def check_failure(self, server, acked):
        # The server stops by itself, with status 1, and answers SIGTERM.
        try:
            status = server.proc.wait(jqtest.DEADLINE)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.communicate()
            self.fail("the server did not stop after the journal failed")
        _, err = server.proc.communicate()
        self.assertEqual(status, 1)
        for mark in (b"Sanitizer", b"runtime error:"):
            self.assertNotIn(mark, err)
        log = self.bots.log()
        self.assertIn("CRITICAL", log)
        self.assertIn("changes were not saved got a fault", log)
        # Not one "Added job" line more than jobs that were answered 0.
        self.assertEqual(log.count("INFO     : Added job "), len(acked))
        return log

    def check_restart(self, acked, extra_env=None):
        server = start_server(self.bots, env=extra_env, test=self)
        try:
            listed = proxy(self.bots.port).listjobs()
            tasks = sorted(str(entry[2]) for entry in (listed or []))
            self.assertEqual(tasks, sorted(str(t) for t in acked))
            numbers = sorted(entry[1] for entry in (listed or []))
            self.assertEqual(numbers, list(range(1, len(acked) + 1)))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_file_size_limit(self):
        """A full disk, portably: RLIMIT_FSIZE makes the journal's writes
        fail with EFBIG once its WAL reaches 1 MiB (SIGXFSZ ignored)."""
        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        # The log grows slower than the WAL (a line per job against pages
        # per commit), so the journal is what fills first.
        server = start_server(self.bots, preexec=limit, test=self)
        proxy(self.bots.port).pause()
        acked, _ = self.flood_until_refused(server)
        self.check_failure(server, acked)
        self.check_restart(acked)

    def test_full_disk_at_start(self):
        """A journal that cannot be read for lack of room (a file size
        limit below SQLite's 32 KiB shared-memory file) was "left untouched:
        move it away (a new one is then made) or restore a backup": advice
        that loses every waiting job.  Now the reason, and advice that
        loses nothing; with room again the jobs are all there."""
        seed = start_server(self.bots, test=self)
        self.assertEqual(proxy(self.bots.port).pause(), 0)
        self.assertEqual(proxy(self.bots.port).addjob(["/bin/true", "kept"], 5), 0)
        self.assertEqual(seed.stop(), 0)

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        r = subprocess.run([jqtest.SERVER, "-c" + self.bots.config], capture_output=True,
                           preexec_fn=limit, timeout=jqtest.DEADLINE, cwd=self.bots.root)
        self.assertEqual(r.returncode, 1)
        err = r.stderr.decode()
        self.assertIn("File too large", err)
        self.assertIn("free space or fix the cause", err)
        self.assertIn("do not move the journal away", err)
        self.assertNotIn("a new one is then made", err)
        server = start_server(self.bots, test=self)
        try:
            self.assertEqual([j[2] for j in proxy(self.bots.port).listjobs()], [["/bin/true", "kept"]])
        finally:
            self.assertEqual(server.stop(), 0)

    def test_full_tmpfs(self):
        """A really full file system: the journal's folder on a 512 KiB
        tmpfs (needs root; skipped otherwise), mode 0750 as the server makes
        the folder (a world-writable one is refused: SQLite opens by name)."""
        if not is_root():
            self.skipTest("mounting a tmpfs needs root")
        folder = os.path.join(self.bots.botssys, "jobqueue")
        os.makedirs(folder)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0750", "tmpfs", folder],
                          capture_output=True).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        self.mounted = folder
        server = start_server(self.bots, test=self)
        proxy(self.bots.port).pause()
        acked, _ = self.flood_until_refused(server)
        self.check_failure(server, acked)
        # The disk has room again: the journal holds exactly what was acked.
        subprocess.run(["mount", "-o", "remount,size=64m", folder], check=True)
        self.check_restart(acked)

    def test_read_only_journal(self):
        """A journal on a read-only file system: refused at start with a
        message and exit 1, never a hang (root: a read-only bind mount;
        otherwise write-protected files)."""
        seed = start_server(self.bots, test=self)
        self.assertEqual(proxy(self.bots.port).addjob(["/bin/true", "kept"], 5), 0)
        self.assertEqual(seed.stop(), 0)
        folder = os.path.join(self.bots.botssys, "jobqueue")
        if is_root():
            if subprocess.run(["mount", "--bind", folder, folder],
                              capture_output=True).returncode != 0:
                self.skipTest("cannot bind-mount here")
            self.mounted = folder
            subprocess.run(["mount", "-o", "remount,bind,ro", folder], check=True)
        else:
            for name in os.listdir(folder):
                os.chmod(os.path.join(folder, name), 0o444)
            os.chmod(folder, 0o555)
        with open(os.path.join(folder, "queue.db"), "rb") as f:
            before = f.read()
        proc = subprocess.run([jqtest.SERVER, "-c" + self.bots.config],
                              capture_output=True, timeout=jqtest.DEADLINE,
                              cwd=self.bots.root)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("jobqueue", (proc.stderr + proc.stdout).decode() + self.bots.log())
        with open(os.path.join(folder, "queue.db"), "rb") as f:
            self.assertEqual(f.read(), before)
        if not is_root():
            os.chmod(folder, 0o755)

    def mount_ext4(self, folder, image):
        """An ext4 file system on a loop device at @folder that turns
        read-only on the first error (errors=remount-ro), as a real disk's
        does.  Skips the test where that cannot be had."""
        if not is_root():
            self.skipTest("loop devices need root")
        for tool in ("mkfs.ext4", "losetup", "e2fsck"):
            if shutil.which(tool) is None:
                self.skipTest(tool + " is missing")
        with open(image, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, capture_output=True)
        r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("no loop device: " + r.stderr.strip())
        loop = r.stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", loop], capture_output=True)
        os.makedirs(folder, exist_ok=True)
        r = subprocess.run(["mount", "-o", "errors=remount-ro", loop, folder],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount ext4 here: " + r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", folder], capture_output=True)
        trigger = "/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(loop)
        if not os.path.exists(trigger):
            self.skipTest("this kernel cannot be told of an ext4 error")
        return loop, trigger

    def test_read_only_at_run_time(self):
        """The journal's file system turns read-only under the running
        server (ext4 after an error, errors=remount-ro; root and a loop
        device needed, skipped otherwise)."""
        folder = os.path.join(self.bots.botssys, "jobqueue")
        image = self.bots.path("disk.img")
        loop, trigger = self.mount_ext4(folder, image)
        server = start_server(self.bots, test=self)
        p = proxy(self.bots.port)
        p.pause()
        acked = [["/bin/true", "kept%d" % i] for i in range(3)]
        for task in acked:
            self.assertEqual(p.addjob(task, 5), 0)
        with open(trigger, "w") as f:
            f.write("test: the disk turns read-only\n")
        with self.assertRaises(xmlrpc.client.Fault):
            p.addjob(["/bin/true", "lost"], 5)
        self.check_failure(server, acked)
        # The disk is repaired: what was answered 0 is there.
        subprocess.run(["umount", folder], check=True)
        self.repair_and_mount(loop, folder)
        self.check_restart(acked)

    def repair_and_mount(self, loop, folder):
        """fsck until it leaves no error (it refuses a device still held),
        then the file system back at @folder, writable: once, the restart
        found it read-only."""
        def repaired():
            r = subprocess.run(["e2fsck", "-fy", loop], capture_output=True)
            return r.returncode < 4
        jqtest.wait_for(repaired, "e2fsck to repair " + loop)
        subprocess.run(["mount", "-o", "rw", loop, folder], check=True)
        with open("/proc/self/mountinfo") as f:
            options = [line.split()[5] for line in f
                       if line.split()[4] == os.path.realpath(folder)]
        if options and "ro" in options[-1].split(","):
            subprocess.run(["mount", "-o", "remount,rw", folder], check=True)

    def deleted_or_replaced(self, change):
        server = start_server(self.bots, test=self)
        p = proxy(self.bots.port)
        # paused: the job's own end must not be the commit that finds the
        # journal changed (the server would stop before "after" is asked)
        p.pause()
        self.assertEqual(p.addjob(["/bin/true", "before"], 5), 0)
        change(os.path.join(self.bots.botssys, "jobqueue", "queue.db"))
        with self.assertRaises(xmlrpc.client.Fault):
            p.addjob(["/bin/true", "after"], 5)
        self.check_failure(server, [["/bin/true", "before"]])
        self.assertIn("deleted or replaced", self.bots.log())

    def test_journal_deleted(self):
        def delete(db):
            for suffix in ("", "-wal", "-shm"):
                os.unlink(db + suffix)
        self.deleted_or_replaced(delete)

    def test_journal_replaced(self):
        def replace(db):
            with open(db, "rb") as old, open(db + ".new", "wb") as f:
                f.write(old.read())
            os.rename(db + ".new", db)
        self.deleted_or_replaced(replace)

    def test_faulted_job_never_runs(self):
        """The journal deleted under a running, unpaused server: the addjob
        that finds it gets a fault, and its job must never start (it did:
        started in the batch before the failed commit, and the log said
        it "runs again at the next start", which it could not)."""
        server = start_server(self.bots, test=self)
        p = proxy(self.bots.port)
        marker = self.bots.path("ran")
        db = os.path.join(self.bots.botssys, "jobqueue", "queue.db")
        for suffix in ("", "-wal", "-shm"):
            os.unlink(db + suffix)
        with self.assertRaises(xmlrpc.client.Fault):
            p.addjob(["/bin/sh", "-c", "touch %s; exec sleep 30" % marker], 5)
        log = self.check_failure(server, [])
        self.assertFalse(os.path.exists(marker), "a job answered with a fault ran")
        self.assertNotIn("runs again at the next start", log)


class LogDiskFull(jqtest.unittest.TestCase):
    """A full log disk: jobs ran with no record and one line on stderr.
    The lines that could not be written are counted, and the count is
    written once the log can be written again."""

    def test_lost_lines_are_counted(self):
        bots = jqtest.BotsDir({"authorized_tasks": "*", "durability": "none"})
        self.addCleanup(bots.cleanup)

        def ignore_xfsz():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        server = start_server(bots, preexec=ignore_xfsz, test=self)
        try:
            p = proxy(bots.port)
            size = os.path.getsize(bots.log_path)
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
            for i in range(5):
                self.assertEqual(p.addjob(["/bin/true", str(i)], 5), 0)
            jqtest.wait_for(lambda: p.status()["totals"]["succeeded"] == 5, "five jobs to run")
            self.assertNotIn("Finished job", bots.log())
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            self.assertEqual(p.addjob(["/bin/true", "after"], 5), 0)
            bots.wait_log("log lines could not be written")
            lost = int(bots.log().split(" log lines could not be written")[0].split()[-1])
            self.assertGreaterEqual(lost, 15)     # added, starting, finished: 3 a job
        finally:
            self.assertEqual(server.stop(), 0)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class LowLimit(jqtest.unittest.TestCase):
    """A server under RLIMIT_NOFILE LIMIT (soft and hard), its bots.ini's
    [jobqueue] given by jobqueue(); connections the test holds in
    self.held are closed after it, and the gate file made."""

    LIMIT = 128

    def jobqueue(self):
        return None

    def connection_limit(self, timeout=jqtest.DEADLINE):
        """The XML-RPC port's connections at once, as the start line says."""
        self.bots.wait_log("connections at once", timeout=timeout)
        return int(re.search(r"kept for the server and its jobs, up to (\d+) connections",
                             self.bots.log()).group(1))

    def setUp(self):
        self.bots = jqtest.BotsDir(self.jobqueue())
        self.gate = self.bots.path("gate")
        self.held = []

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.LIMIT, self.LIMIT))
        self.server = start_server(self.bots, preexec=limit, test=self)

    def tearDown(self):
        for s in self.held:
            s.close()
        open(self.gate, "w").close()
        try:
            self.assertEqual(self.server.stop(), 0)
        finally:
            self.bots.cleanup()


class Descriptors(LowLimit):
    """File descriptors are a budget: under a limit of 128 (soft and hard),
    idle connections take what is left after the reserve for jobs, the
    journal and the log, and no more; one over is refused at once; jobs
    still start; the listener never ends."""

    def job(self, *args):
        return [jqtest.PYTHON, jqtest.JOB] + [str(a) for a in args]

    def events(self):
        try:
            with open(self.bots.path("events")) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def connect_idle(self, count):
        for _ in range(count):
            self.held.append(socket.create_connection(("127.0.0.1", self.bots.port), 5))

    def test_start_line_says_the_budget(self):
        self.bots.wait_log("connections at once")
        log = self.bots.log()
        self.assertRegex(log, r"File descriptors: limit %d \(was %d\), \d+ kept for "
                         r"the server and its jobs, up to \d+ connections at once" %
                         (self.LIMIT, self.LIMIT))

    def test_idle_connections_cannot_starve_jobs(self):
        try:
            limit = self.connection_limit(timeout=2)
        except AssertionError:
            limit = (self.LIMIT - 38) // 3   # a server that does not say
        self.assertLess(limit * 3, self.LIMIT)
        # Every connection the budget allows, idle, plus twice as many more.
        self.connect_idle(limit - 1)
        jqtest.wait_for(lambda: open_fds(self.server.pid) >= 3 * (limit - 1),
                        "the server to take the idle connections")
        # The last connection: bots-job2queue, as cron runs it.
        r = subprocess.run([jqtest.JOB2QUEUE, "-c" + self.bots.config] +
                           self.job(self.bots.path("events"), "one", "--wait", self.gate),
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job added to queue."),
                         r.stderr)
        jqtest.wait_for(lambda: self.events(), "the job to start")
        # Over the limit: refused with 503 at once, not left waiting for a
        # slot.  Two may not answer: the slot bots-job2queue freed, and the
        # one connection Abyss holds, accepted, while it waits for a slot.
        extra = [socket.create_connection(("127.0.0.1", self.bots.port), 5)
                 for _ in range(2 * limit)]
        self.held.extend(extra)
        answered = {}
        end = time.monotonic() + 5
        while len(answered) < len(extra) - 2 and time.monotonic() < end:
            ready, _, _ = select.select([s for s in extra if s not in answered], [], [], 0.5)
            for s in ready:
                answered[s] = jqtest.read_to_close(s)   # the 503 ends with the close
        self.assertGreaterEqual(len(answered), len(extra) - 2)
        for answer in answered.values():
            self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
            head, _, body = answer.partition(b"\r\n\r\n")
            # it said 51 for its 50 bytes
            self.assertIn(b"Content-Length: %d\r\n" % len(body), head + b"\r\n")
        # The job ends normally, and so do the connections; then the server
        # serves as before.
        open(self.gate, "w").close()
        self.bots.wait_log("Finished job 1")
        self.assertNotIn("Error starting job", self.bots.log())
        for s in self.held:
            s.close()
        self.held = []
        jqtest.wait_for(lambda: open_fds(self.server.pid) < 3 * 10,
                        "the server to let the connections go")
        p = proxy(self.bots.port)
        self.assertEqual(p.addjob(self.job(self.bots.path("events"), "two"), 5), 0)
        self.bots.wait_log("Finished job 2")

    def refused_connection(self):
        """Every connection the budget allows held idle, then one more:
        returns it once its 503 has been read to the server's end."""
        limit = self.connection_limit()
        # one more than the limit: Abyss accepts it and waits for room
        self.connect_idle(limit + 1)
        jqtest.wait_for(lambda: open_fds(self.server.pid) >= 3 * limit,
                        "the server to take the idle connections")
        s = socket.create_connection(("127.0.0.1", self.bots.port), 5)
        self.held.append(s)
        s.settimeout(10)
        answer = jqtest.read_to_close(s)
        self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
        return s

    def test_refused_client_still_sending_gets_no_reset(self):
        """A client refused with 503 (all connections taken) that goes on
        sending its request, as a client that reads only once it has
        sent all does, is not reset: the server reads what comes for a
        while before it closes (a close with unread bytes resets the
        connection: the next send failed with EPIPE)."""
        s = self.refused_connection()
        body = b"<value><string>y</string></value>" * 2000
        request = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body)) + body
        # in pieces: a reset answering the first would fail the next
        for start in range(0, len(request), 16384):
            s.sendall(request[start:start + 16384])
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(s.recv(4096), b"")       # an orderly end, not a reset

    def test_refused_xmlrpc_client_gets_the_503(self):
        """What Bots sees when every connection is taken: Python's
        xmlrpc.client gets ProtocolError 503, even for a call larger than
        the socket buffers take before the 503 (it was a reset: the call
        was still being sent when the server closed)."""
        self.refused_connection()
        with self.assertRaises(xmlrpc.client.ProtocolError) as caught:
            proxy(self.bots.port).addjob(["y" * 3000000], 5)
        self.assertEqual(caught.exception.errcode, 503)

    def test_job_waits_out_a_shortage(self):
        """A job that cannot start for want of descriptors stays first in
        the queue and starts when there are some again; it is not recorded
        as a failure (the server's limit is lowered under it, with
        prlimit, below what it holds)."""
        p = proxy(self.bots.port)
        p.pause()
        task = self.job(self.bots.path("events"), "late")
        self.assertEqual(p.addjob(task, 5), 0)
        pid = self.server.pid
        # Below what it holds: descriptors some thread is about to close
        # must not make room.
        held = open_fds(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (held - 10, self.LIMIT))
        p.resume()        # on the same keep-alive connection
        self.bots.wait_log("cannot start now")
        self.bots.wait_log("is tried again", count=2)
        self.assertEqual(self.events(), [])
        self.assertEqual([entry[1] for entry in p.listjobs()], [1])
        self.assertEqual(p.history(10), [] if isinstance(p.history(10), list) else 0)
        # A new client meanwhile: its connection cannot even be accepted.
        answers = []
        late = threading.Thread(target=lambda: answers.append(proxy(self.bots.port).isup()))
        late.start()
        self.bots.wait_log("could not accept a connection")
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (self.LIMIT, self.LIMIT))
        # The listener did not end: that client gets its answer.
        late.join(jqtest.DEADLINE)
        self.assertEqual(answers, [0])
        self.bots.wait_log("Finished job 1")
        self.assertNotIn("Error starting job", self.bots.log())
        self.assertEqual([e[1] for e in self.events()], ["late", "late"])


def alive(pid):
    """True while @pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


class StatusPortLowLimit(LowLimit):
    """[jobqueue] status_listen under a low descriptor limit: its
    connections come out of the budget, not beside it (an outside test:
    "230 kept" of a limit of 128, and 64 stalled GETs on the status port
    took every descriptor: XML-RPC callers were reset)."""

    def jobqueue(self):
        self.status_port = jqtest.free_port()
        return {"status_listen": "127.0.0.1:%d" % self.status_port}

    def test_status_port_cannot_take_the_descriptors(self):
        self.bots.wait_log("Status page and metrics also")
        log = self.bots.log()
        kept, conns = (int(x) for x in re.search(
            r"(\d+) kept for the server and its jobs, up to (\d+) connections", log).groups())
        status = int(re.search(r"no XML-RPC there\), up to (\d+) connections", log).group(1))
        self.assertLessEqual(kept + 3 * conns, self.LIMIT)
        self.assertLess(status, 64)
        # Every connection the status port would take, stalled in its headers.
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", self.status_port), 5)
            s.sendall(b"GET /status.json HTTP/1.1\r\nHost: x\r\n")
            self.held.append(s)
        jqtest.wait_for(lambda: open_fds(self.server.pid) >= 3 * status,
                        "the server to take the status port's connections")
        self.assertEqual(proxy(self.bots.port).isup(), 0)
        r = subprocess.run([jqtest.JOB2QUEUE, "-c" + self.bots.config, jqtest.PYTHON,
                            jqtest.JOB, self.bots.path("events"), "one"],
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job added to queue."),
                         r.stderr)
        self.bots.wait_log("Finished job 1")
        self.assertNotIn("Too many open files", self.bots.log())


class JobTree(jqtest.ServerTestCase):
    """A killed job takes its whole tree with it, also a descendant that
    called setsid() (so left the job's process group); what a job leaves
    behind is reaped, never a zombie of the server."""

    jobqueue = {"authorized_tasks": "*", "killjobsintimeout": "True",
                "kill_grace": "1"}
    # seconds (the faults server's test aid): time for the daemon to start
    # on a loaded machine before its job is killed
    settings = {"maxruntime": "3"}
    env = {"BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS": "1"}

    def daemon_task(self, pidfile, gate):
        # The job starts a daemon in a session of its own that ignores
        # SIGTERM, records its pid, and then waits for the gate itself.
        return ["sh", "-c",
                'setsid sh -c \'trap "" TERM; echo $$ > "$0"; '
                'while [ ! -e "$1" ] && [ -d "${1%/*}" ]; do sleep 0.05; done\' "$0" "$1" & '
                'while [ ! -e "$1" ] && [ -d "${1%/*}" ]; do sleep 0.05; done',
                pidfile, gate]

    def test_killed_job_takes_its_setsid_daemon(self):
        pidfile = self.bots.path("daemon.pid")
        gate = self.bots.path("gate")   # never opened while the job runs
        self.assertEqual(self.rpc.addjob(self.daemon_task(pidfile, gate), 5), 0)
        pid = int(jqtest.wait_for(lambda: read_pid(pidfile), "the daemon to start"))
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        self.assertEqual(int(fields[3]), pid)      # a session of its own
        self.bots.wait_log("exceeded maxruntime")
        self.bots.wait_log("Finished job 1")
        jqtest.wait_for(lambda: not alive(pid), "the daemon to be killed")
        # and reaped: no zombie left with the server
        jqtest.wait_for(lambda: pid not in children(self.server.pid),
                        "the daemon to be reaped")

    def test_orphan_is_reaped(self):
        """A job that ends normally leaving a short-lived child behind: the
        child is the server's (subreaper), and is reaped when it ends."""
        self.leave_child_and_see_it_reaped("sh")

    def test_orphan_without_its_mark_is_reaped(self):
        """What a job leaves behind may have cleared its environment (env
        -i), and a zombie's can no longer be read: without its mark it is
        still adopted and reaped, never left a zombie of the server."""
        self.leave_child_and_see_it_reaped("env -i sh")

    def leave_child_and_see_it_reaped(self, shell):
        pidfile = self.bots.path("child.pid")
        gate = self.bots.path("gate")
        task = ["sh", "-c", shell + ' -c \'echo $$ > "$0"; '
                'while [ ! -e "$1" ] && [ -d "${1%/*}" ]; do sleep 0.05; done\' "$0" "$1" &',
                pidfile, gate]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.bots.wait_log("Finished job 1")
        pid = int(jqtest.wait_for(lambda: read_pid(pidfile), "the child to start"))
        jqtest.wait_for(lambda: pid in children(self.server.pid),
                        "the orphan to be adopted by the server")
        open(gate, "w").close()
        jqtest.wait_for(lambda: pid not in children(self.server.pid),
                        "the orphan to be reaped")


    def test_many_left_behind_take_no_descriptor_each(self):
        """A job that leaves 40 processes behind: each is adopted and
        reaped, but the server does not hold a descriptor for each while
        they run (an outside test: 150 of them under a limit of 128
        descriptors left none for connections, and an addjob was lost)."""
        fifo = self.bots.path("fifo")
        os.mkfifo(fifo)

        def release():
            """A writer that opens and closes the fifo ends every reader
            blocked in it; True once none is left (ENXIO)."""
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return False
            except OSError:
                return True

        def let_them_end():
            release()
            return not children(self.server.pid)
        # also when the test fails: none of them may outlive it
        self.addCleanup(jqtest.wait_for, release, "the 40 to end")
        before = len(os.listdir("/proc/%d/fd" % self.server.pid))
        task = ["sh", "-c", 'for i in $(seq 40); do cat "$0" > /dev/null & done', fifo]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.bots.wait_log("Finished job 1")
        jqtest.wait_for(lambda: len(children(self.server.pid)) >= 40,
                        "the 40 left behind to be the server's")
        # they were adopted where the end was logged, in the same turn of
        # the loop; this call is answered from a later one
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cafter"], 5), 0)
        # a few child watches and this client's connection; 50 before
        held = len(os.listdir("/proc/%d/fd" % self.server.pid)) - before
        self.assertLess(held, 20)
        jqtest.wait_for(let_them_end, "the 40 to end and be reaped")


class JobTreeAtStop(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    daemon_task = JobTree.daemon_task

    def test_stop_takes_the_tree(self):
        """A job terminated because the server stops (after stop_grace)
        takes its setsid() daemon with it."""
        pidfile = self.bots.path("daemon.pid")
        gate = self.bots.path("gate")
        self.assertEqual(self.rpc.addjob(self.daemon_task(pidfile, gate), 1), 0)
        pid = int(jqtest.wait_for(lambda: read_pid(pidfile), "the daemon to start"))
        self.assertEqual(self.server.stop(), 0)
        self.assertIn("was stopped with the server", self.bots.log())
        jqtest.wait_for(lambda: not alive(pid), "the daemon to be killed")


class BotsIni(jqtest.unittest.TestCase):
    """A bots.ini that is a link to /dev/zero (or a FIFO) is refused with a
    message and exit 1, at once, by the server and by bots-job2queue."""

    def setUp(self):
        self.bots = jqtest.BotsDir()

    def tearDown(self):
        self.bots.cleanup()

    def check_refused(self, make):
        ini = os.path.join(self.bots.config, "bots.ini")
        os.unlink(ini)
        make(ini)
        for program in ([jqtest.SERVER], [jqtest.JOB2QUEUE, "isup"]):
            r = subprocess.run([program[0], "-c" + self.bots.config] + program[1:],
                               capture_output=True, text=True, timeout=jqtest.DEADLINE,
                               cwd=self.bots.root)
            self.assertEqual(r.returncode, 1, r)
            self.assertIn("not a regular file", r.stdout + r.stderr)

    def test_dev_zero(self):
        self.check_refused(lambda ini: os.symlink("/dev/zero", ini))

    def test_fifo(self):
        self.check_refused(lambda ini: os.mkfifo(ini))


class TestJob(jqtest.unittest.TestCase):
    """tests/integration/job.py always ends: make check leaves nothing."""

    def run_job(self, folder, env=None):
        environ = dict(os.environ)
        environ.update(env or {})
        return subprocess.run([jqtest.PYTHON, jqtest.JOB, os.path.join(folder, "events"),
                               "holder", "--wait", os.path.join(folder, "gate")],
                              env=environ, capture_output=True, text=True, timeout=10)

    def test_folder_left_with_only_the_record(self):
        """What a removal racing the job's start record leaves: the folder
        with just that record, and no gate ever."""
        folder = tempfile.mkdtemp(prefix="jqtest-job-")
        try:
            r = self.run_job(folder, {"JQ_JOB_MAX_WAIT": "1"})
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("gave up waiting", r.stderr)
        finally:
            shutil.rmtree(folder)

    def test_cleanup_removes_the_folder(self):
        bots = jqtest.BotsDir()
        bots.cleanup()
        self.assertFalse(os.path.exists(bots.root))


if __name__ == "__main__":
    jqtest.main()
