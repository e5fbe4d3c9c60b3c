"""Shared helpers for the integration tests: a Bots folder in a temporary
directory, the real bots-jobqueueserver started on a free loopback port,
and waits that poll for a condition with a deadline (never a fixed sleep
for ordering)."""

import glob
import http.client
import http.server
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client

BUILDDIR = os.environ.get("JQ_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SRCDIR = os.environ.get("JQ_SRCDIR", BUILDDIR)
SERVER = os.path.join(BUILDDIR, "src", "bots-jobqueueserver")
# The same server with failure injection (tests/faults.h): tests only.
FAULTS_SERVER = os.path.join(BUILDDIR, "tests", "bots-jobqueueserver-faults")
JOB2QUEUE = os.path.join(BUILDDIR, "src", "bots-job2queue")
ADMIN = os.path.join(BUILDDIR, "src", "bots-jobqueue")
JOB = os.path.join(SRCDIR, "tests", "integration", "job.py")
PYTHON = sys.executable

# The programs under test do not ask the machine's python3 where a bots
# package is (src/botsenv.c): a Bots installed on the test machine must not
# move the tests' botssys.  fakebots.py runs programs with env -i and tests
# the asking.
os.environ.setdefault("BOTS_JOBQUEUE_BOTSPATH", "")

DEADLINE = 20.0  # seconds any single wait may take before the test fails


# Tests about the SQLite file itself (its levels, its damage, reading it
# with sqlite3) do not apply when test_pg_suites.py runs a suite on
# PostgreSQL.
sqlite_only = unittest.skipIf(os.environ.get("JQ_TEST_PG"),
                              "about the SQLite journal file")

# On a shared (PostgreSQL) journal a job dies with its server (a
# parent-death signal: the next leader may be on another host and could
# not see the old run), so tests of a job that outlives a killed server
# and is waited for after the restart apply to the SQLite journal only.
outlives_its_server = unittest.skipIf(
    os.environ.get("JQ_TEST_PG"),
    "on a shared journal a job dies with its server (doc/durability.md)")


def _ephemeral_ports():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(n) for n in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port for a test's server, outside the kernel's ephemeral range.
    A port from bind(0) comes from that range, which every outgoing
    connection of the tests running beside this one draws from too: a
    client holding the port (or its TIME_WAIT) made the server's bind fail
    with "Address already in use" (reproduced).  Ports below the range are
    never taken by a connect(); the bind probe skips one another test holds."""
    low, _ = _ephemeral_ports()
    first = 10000 if low > 12000 else 1024
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(first, low)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_to_close(sock, size=65536):
    """Everything @sock receives until the other side ends the
    connection."""
    data = b""
    while True:
        chunk = sock.recv(size)
        if not chunk:
            return data
        data += chunk


def wait_for(predicate, what, timeout=DEADLINE, interval=0.01):
    """Polls predicate() until it returns a true value, which is returned."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def proc_status_kib(pid, field):
    """A memory figure of /proc/PID/status in KiB (VmRSS, VmHWM, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def vm_hwm_kib(pid):
    """Peak resident memory of a process."""
    return proc_status_kib(pid, "VmHWM")


def vm_rss_kib(pid):
    return proc_status_kib(pid, "VmRSS")


def post(port, body, path="/RPC2", headers=None, timeout=DEADLINE):
    """POSTs raw bytes; returns (HTTP status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "text/xml"}
        hdrs.update(headers or {})
        conn.request("POST", path, body, hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def call_raw(port, body):
    """POSTs an XML-RPC body; returns the decoded answer or raises Fault."""
    status, reply = post(port, body)
    if status != 200:
        raise AssertionError("HTTP %d: %r" % (status, reply[:200]))
    return xmlrpc.client.loads(reply)[0][0]


class BotsDir:
    """A Bots installation folder: <root>/config/bots.ini and botssys."""

    def __init__(self, jobqueue=None, settings=None, extra=""):
        self.root = tempfile.mkdtemp(prefix="jqtest-")
        self.config = os.path.join(self.root, "config")
        self.botssys = os.path.join(self.root, "botssys")
        self.log_path = os.path.join(self.botssys, "logging", "jobqueue.log")
        self.port = free_port()
        os.makedirs(self.config)
        # What a Bots installation has on PATH: a bots-engine and a
        # bots-engine.py (doing nothing), for the tests that queue them.
        self.bin = os.path.join(self.root, "bin")
        os.makedirs(self.bin)
        for name in ("bots-engine", "bots-engine.py"):
            with open(os.path.join(self.bin, name), "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(os.path.join(self.bin, name), 0o755)
        jq = {"enabled": "True", "port": str(self.port),
              "authorized_tasks": PYTHON + " " + JOB,
              "log_console": "False", "stop_grace": "1"}
        jq.update(jobqueue or {})
        # JQ_TEST_PG=<socket folder>:<port> (test_pg_suites.py): the suites
        # run on a PostgreSQL journal, a fresh database per Bots folder.
        pg = os.environ.get("JQ_TEST_PG")
        if pg and "journal" not in jq:
            host, pg_port = pg.rsplit(":", 1)
            db = "jq_" + "".join(c for c in os.path.basename(self.root) if c.isalnum()).lower()
            psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
            subprocess.run([psql, "-h", host, "-p", pg_port, "-U", "postgres", "-X", "-q",
                            "-d", "postgres", "-c", "CREATE DATABASE " + db], check=True,
                           stdout=subprocess.DEVNULL)
            jq.update({"journal": "postgresql",
                       "journal_dsn": "host=%s port=%s dbname=%s user=postgres" % (host, pg_port, db)})
        st = {"maxruntime": "60"}
        st.update(settings or {})
        self.write_ini(jq, st, extra)

    def write_ini(self, jq, st, extra=""):
        lines = ["[settings]"] + ["%s = %s" % kv for kv in st.items()]
        lines += ["", "[directories]", "botssys = botssys", "", "[jobqueue]"]
        lines += ["%s = %s" % kv for kv in jq.items()]
        with open(os.path.join(self.config, "bots.ini"), "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text, count=1, timeout=DEADLINE):
        return wait_for(lambda: self.log().count(text) >= count,
                        "log line %r (x%d); log so far:\n%s" % (text, count, self.log()[-3000:]),
                        timeout)

    def cleanup(self):
        # A job that writes its start record while the tree is removed can
        # leave the folder behind with just that file; jobs waiting for a
        # file in it end only when the folder is gone, so try again.
        for _ in range(50):
            shutil.rmtree(self.root, ignore_errors=True)
            if not os.path.exists(self.root):
                break
            time.sleep(0.01)


class Server:
    """The real server process on a BotsDir."""

    def __init__(self, bots, env=None, args=None, cwd=None, binary=SERVER):
        # maxruntime in seconds is a test aid of the faults server only
        if binary == SERVER and env and "BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS" in env:
            binary = FAULTS_SERVER
        self.bots = bots
        environ = dict(os.environ)
        if "PATH" not in (env or {}):
            environ["PATH"] = bots.bin + os.pathsep + environ.get("PATH", "/usr/bin:/bin")
        environ.update(env or {})
        self.proc = subprocess.Popen(
            [binary, "-c" + bots.config] + (args or []), env=environ,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or bots.root)
        wait_for(self._ready, "server to listen on port %d" % bots.port)

    def _ready(self):
        if self.proc.poll() is not None:
            out, err = self.proc.communicate()
            raise AssertionError("server exited with %s: %s %s" % (self.proc.returncode, out, err))
        try:
            socket.create_connection(("127.0.0.1", self.bots.port), 0.2).close()
            return True
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def proxy(self, path="/RPC2"):
        return xmlrpc.client.ServerProxy("http://127.0.0.1:%d%s" % (self.bots.port, path))

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE):
        """Stops the server; fails on anything a sanitizer reported."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("server did not stop within %ss" % timeout)
        for mark in (b"Sanitizer", b"runtime error:"):
            if mark in err:
                raise AssertionError("server reported:\n" + err.decode(errors="replace"))
        return self.proc.returncode


class ServerTestCase(unittest.TestCase):
    """Starts a server per test; subclasses tune the bots.ini."""

    jobqueue = None
    settings = None
    env = None

    def setUp(self):
        self.bots = BotsDir(self.jobqueue, self.settings)
        self.addCleanup(self._stop_leftover)
        self.server = Server(self.bots, env=self.env)
        self.rpc = self.server.proxy()

    def _stop_leftover(self):
        """A subclass's setUp that fails after this one skips tearDown:
        its server ran on after make check (seen after a failed CI run).
        Cleanups run either way; after tearDown there is nothing left."""
        server = getattr(self, "server", None)
        if server is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()
        self.bots.cleanup()

    def tearDown(self):
        self.rpc("close")()
        try:
            self.server.stop(signal.SIGTERM)
        finally:
            self.bots.cleanup()

    def job(self, *args):
        """A task running tests/integration/job.py with @args."""
        return [PYTHON, JOB] + [str(a) for a in args]

    def events(self, name="events"):
        """Lines the test jobs appended to their record file."""
        path = self.bots.path(name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f if line.strip()]


class FakeServer:
    """Whatever else may listen on the port: answers every POST with HTTP
    200 and the bytes in self.answer.  Use as a context manager."""

    def __init__(self, port, answer=b""):
        self.answer = answer
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(fake.answer)))
                self.end_headers()
                self.wfile.write(fake.answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def response(value_xml):
    """A methodResponse holding one value, written as given."""
    return ("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>%s</value>\n"
            "</param>\n</params>\n</methodResponse>\n" % value_xml).encode()


# Answers no client of ours expects (issue 12): each must give a clear
# error and exit 1, never a crash.
ODD_ANSWERS = [
    response("<int>-1</int>"), response("<int>7</int>"), response("<int>2147483647</int>"),
    response("<i8>99999999999999999999</i8>"), response("<i8>-99999999999999999999</i8>"),
    response("<i8 >abc</i8>"), response("<i8>5</i8>"), response("<string>0</string>"),
    response("0"), response("<nil/>"), response("<boolean>1</boolean>"),
    response("<double>0.0</double>"), response("<array><data/></array>"),
    response("<array><data><value><array><data><value><int>1</int></value></data></array>"
             "</value></data></array>"),
    response("<struct><member><name>running</name><value><int>1</int></value></member></struct>"),
    response("<struct><member><name>running</name><value><array><data><value><int>1</int>"
             "</value></data></array></value></member></struct>"),
    response("<struct><member><name>running</name><value><array><data><value><struct>"
             "</struct></value></data></array></value></member><member><name>totals</name>"
             "<value><int>1</int></value></member></struct>"),
    response("<struct><member><name>task</name><value><int>1</int></value></member></struct>"),
    response("<base64>AAAA</base64>"),
    b"", b"garbage", b"<html><body>It works!</body></html>",
    b"<?xml version='1.0'?><methodResponse><params>", response("<int>1</int>")[:-30],
    b"<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
    b"<methodResponse>" + b"<params><param><value><array><data>" * 3000,
    b'<a b="/>">' * 7000,
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>]><methodResponse><params>"
    b"<param><value><string>&a;</string></value></param></params></methodResponse>",
]


def main():
    unittest.main(verbosity=2)
