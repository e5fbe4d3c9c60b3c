"""Know who is calling (issue 19): the server finds the uid behind each
loopback connection, names the user in the log line of every change,
lets only admins steer other users' jobs, and keeps a share of the
connections for every user.  The callers are real unprivileged users,
made with useradd for the test (names start with "jqcl", and "jqi19a"
for the rights' tests), running
Python's xmlrpc.client through setpriv, as the attacker did."""

import json
import os
import pwd
import shutil
import subprocess
import unittest

import jqtest

# The client each test user runs: one call, its answer or fault as JSON.
CLIENT = r"""
import json, sys, xmlrpc.client
port, method, args = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % port)
try:
    print(json.dumps({"ok": getattr(proxy, method)(*args)}))
except xmlrpc.client.Fault as e:
    print(json.dumps({"fault": e.faultString}))
"""


def user_python():
    """A Python the test users may run (the tests' own may be in /root)."""
    for path in ("/usr/bin/python3", jqtest.PYTHON):
        if path and os.path.exists(path) and os.stat(path).st_mode & 0o001:
            return path
    return None


class Users:
    """Unprivileged users made for a test class, removed after it."""

    def __init__(self, *tags, prefix="jqcl"):
        self.names = []
        for tag in tags:
            name = "%s%s%d" % (prefix, tag, os.getpid() % 100000)
            subprocess.run(["userdel", name], capture_output=True)
            subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/false", name],
                           check=True, capture_output=True)
            self.names.append(name)

    def remove(self):
        for name in self.names:
            subprocess.run(["userdel", name], capture_output=True)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root, to make unprivileged users with useradd"
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        return "needs useradd and setpriv"
    if user_python() is None:
        return "no Python that an unprivileged user may run"
    return None


@unittest.skipIf(skip_reason(), skip_reason())
class CallersTestCase(jqtest.ServerTestCase):
    """A server with the queue paused (jobs stay waiting), and two users."""

    jobqueue = {"authorized_tasks": "*"}
    prefix = "jqcl"

    @classmethod
    def setUpClass(cls):
        cls.users = Users("a", "b", prefix=cls.prefix)
        cls.alice, cls.bob = cls.users.names

    @classmethod
    def tearDownClass(cls):
        cls.users.remove()

    def setUp(self):
        super().setUp()
        self.rpc.pause()

    def call_as(self, user, method, *args):
        # setpriv rather than runuser: no PAM session, a call in
        # milliseconds instead of two seconds.
        out = subprocess.run(["setpriv", "--reuid", user, "--regid", user, "--init-groups",
                              "--reset-env", user_python(), "-c", CLIENT,
                              str(self.bots.port), method, json.dumps(list(args))],
                             capture_output=True, text=True, timeout=jqtest.DEADLINE, cwd="/")
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def ok_as(self, user, method, *args):
        answer = self.call_as(user, method, *args)
        self.assertIn("ok", answer, answer)
        return answer["ok"]

    def refused(self, user, method, *args):
        answer = self.call_as(user, method, *args)
        self.assertIn("fault", answer, (method, answer))
        self.assertIn("PermissionError", answer["fault"])
        return answer["fault"]


class LogNamesTheUser(CallersTestCase):
    def test_each_change_names_its_user(self):
        a = self.alice
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a"], 5), 0)
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a"], 5), 4)
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a"], 3), 0)
        self.assertEqual(self.ok_as(a, "setpriority", 1, 2), 0)
        self.assertEqual(self.ok_as(a, "removejob", 1), 0)
        by = " (by user %s)\n" % a
        self.bots.wait_log("Removed job 1: ['echo', 'a']" + by)
        log = self.bots.log()
        self.assertIn("Added job 1, priority 5: ['echo', 'a']" + by, log)
        self.assertIn("Duplicate job not added: ['echo', 'a']" + by, log)
        self.assertIn("Duplicate job, changed priority to 3: ['echo', 'a']" + by, log)
        self.assertIn("Job 1, changed priority to 2: ['echo', 'a']" + by, log)
        self.assertIn("Job queue paused: no job starts until it is resumed. (by user root)\n", log)

    def test_bots_own_lines_stay_bots_for_the_servers_user(self):
        # The server runs as root here: root's calls are the server's own
        # user's, as the GUI's and the dirmonitor's are the bots user's.
        self.assertEqual(self.rpc.addjob(["echo", "own"], 5), 0)
        self.assertEqual(self.rpc.clearjobq(), 0)
        self.rpc.resume()
        self.bots.wait_log("Job queue resumed. (by user root)\n")
        log = self.bots.log()
        self.assertIn(": Added job 1, priority 5: ['echo', 'own']\n", log)
        self.assertIn(": Job queue cleared.\n", log)

    def test_getjob_names_its_caller(self):
        # Our line, not Bots': it names the caller, the server's own user
        # (root here) included, as removejob's does.
        self.assertEqual(self.rpc.addjob(["echo", "taken"], 5), 0)
        self.assertEqual(self.rpc.getjob()[1], 1)
        self.bots.wait_log("Job 1 handed to a client (getjob): ['echo', 'taken'] (by user root)\n")


# Holds N idle connections to the port as the user it runs as; each line
# on stdin: open new ones for those the server closed, then say how many.
HOLDER = r"""
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
def alive(s):
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)     # data (a 503) or b"" (closed): gone
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
for line in sys.stdin:
    for s in held:
        if not alive(s):
            s.close()
    held = [s for s in held if s.fileno() >= 0]
    while len(held) < n:
        held.append(socket.create_connection(("127.0.0.1", port)))
    print(len(held), flush=True)
"""


def server_held(pid, port):
    """Connections the server process has accepted on its port."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[3] == "01" and int(fields[1].split(":")[1], 16) == port
                    and fields[9] in inodes):
                count += 1
    return count


@unittest.skipIf(skip_reason(), skip_reason())
class ConnectionShare(unittest.TestCase):
    """One user holding every connection the server takes does not keep
    cron's bots-job2queue out: the user keeps half, its longest idle ones
    are closed for the caller that waits.  Before, the caller got HTTP
    503 (3 to 4 of 6 tries with 1,024 connections)."""

    LIMIT = 64          # descriptors: 8 connections (the log says so)

    def setUp(self):
        self.users = Users("h")
        self.holder_user = self.users.names[0]
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        script = os.path.join(self.bots.bin, "server-%d-fds" % self.LIMIT)
        with open(script, "w") as f:
            f.write("#!/bin/sh\nulimit -n %d || exit 99\nexec %s \"$@\"\n"
                    % (self.LIMIT, jqtest.SERVER))
        os.chmod(script, 0o755)
        self.server = jqtest.Server(self.bots, binary=script)
        self.holder = None

    def tearDown(self):
        try:
            if self.holder is not None:
                self.holder.stdin.close()
                self.holder.wait(jqtest.DEADLINE)
            self.server.stop()
        finally:
            self.bots.cleanup()
            self.users.remove()

    def test_one_user_holding_all_does_not_stop_cron(self):
        self.bots.wait_log("up to 8 connections at once")
        port = self.bots.port
        self.holder = subprocess.Popen(
            ["setpriv", "--reuid", self.holder_user, "--regid", self.holder_user,
             "--init-groups", "--reset-env", user_python(), "-c", HOLDER, str(port), "8"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        results = []
        for attempt in range(6):
            self.holder.stdin.write("fill\n")
            self.holder.stdin.flush()
            self.assertEqual(self.holder.stdout.readline().strip(), "8")
            # All 8 taken by the holder, or (the server quicker) its 4.
            jqtest.wait_for(lambda: server_held(self.server.pid, port) >= 4,
                            "the holder's connections to be taken")
            r = subprocess.run([jqtest.JOB2QUEUE, "-c" + self.bots.config, "echo",
                                "from-cron-%d" % attempt],
                               capture_output=True, text=True, timeout=jqtest.DEADLINE)
            results.append((r.returncode, r.stdout + r.stderr))
        self.assertEqual([r[0] for r in results], [0] * 6, results)
        log = self.bots.log()
        self.assertIn("connection(s) beyond a user's share (4) were closed", log)
        self.assertIn("of user %s." % self.holder_user, log)


class Rights(CallersTestCase):
    """A user steers only its own jobs; pause, resume, clear and getjob
    are for admins.  Before, any local user could pause the queue (kept
    across restarts), remove or reprioritise anybody's job."""

    prefix = "jqi19a"

    def test_others_jobs_and_the_queue_are_not_yours(self):
        a, b = self.alice, self.bob
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a"], 5), 0)
        self.assertEqual(self.ok_as(b, "addjob", ["echo", "b"], 5), 0)
        uid_a = pwd.getpwnam(a).pw_uid
        self.assertIn("queued by uid %d" % uid_a, self.refused(b, "removejob", 1))
        self.refused(b, "setpriority", 1, 1)
        self.refused(b, "clearjobq")
        self.refused(b, "getjob")
        self.refused(b, "pause")
        self.refused(b, "resume")
        # Queueing alice's task again does not move it either.
        self.assertEqual(self.ok_as(b, "addjob", ["echo", "a"], 1), 4, self.bots.log())
        self.assertEqual(self.rpc.listjobs(), [[5, 1, ["echo", "a"]], [5, 2, ["echo", "b"]]])
        self.assertTrue(self.rpc.status()["paused"])
        self.assertIn("Refused: removejob(): job 1 was queued by uid %d" % uid_a, self.bots.log())
        self.assertIn("Refused: pause(): only an admin", self.bots.log())
        self.assertIn(" (by user %s)\n" % b, self.bots.log())

        # Their own they may steer; the owner may move its job by addjob.
        self.assertEqual(self.ok_as(b, "setpriority", 2, 1), 0)
        self.assertEqual(self.ok_as(b, "removejob", 2), 0)
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a2"], 5), 0)
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "a2"], 2), 0)
        self.assertEqual(self.ok_as(a, "removejob", 3), 0)
        # Job 1, which bob asked for too, is no longer alice's alone.
        self.assertIn("has no one owner", self.refused(a, "removejob", 1))
        # The server's own user (Bots' GUI and dirmonitor) steers any job.
        self.assertEqual(self.rpc.removejob(1), 0)
        self.assertEqual(self.rpc.listjobs(), 0)

    def test_owners_survive_a_restart(self):
        a, b = self.alice, self.bob
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "kept"], 5), 0)
        self.server.stop()
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()
        self.refused(b, "removejob", 1)
        self.assertEqual(self.ok_as(a, "removejob", 1), 0)


HIT_AND_RUN = r"""
import socket, sys
port, method, tries = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = (b"<?xml version='1.0'?><!--" + b"x" * 100000 + b"--><methodCall><methodName>"
        + method.encode() + b"</methodName><params></params></methodCall>")
head = (b"POST /RPC2 HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body))
for _ in range(tries):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect(("127.0.0.1", port))
    s.sendall(head + body)
    s.close()
"""


class ClosedCaller(CallersTestCase):
    """A caller that closes its end right after sending: the kernel then
    reports its socket's remnant as uid 0, and the server took the call
    for root's (an outside tester paused and resumed the queue, removed
    others' jobs, all logged "by user root", in 8 of 20 tries)."""

    prefix = "jqi19c"

    def resume_calls(self):
        conn = jqtest.http.client.HTTPConnection("127.0.0.1", self.bots.port, timeout=jqtest.DEADLINE)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        for line in text.splitlines():
            if line.startswith('bots_jobqueue_xmlrpc_calls_total{method="resume"} '):
                return float(line.split()[-1])
        return 0

    def test_is_never_root(self):
        out = subprocess.run(["setpriv", "--reuid", self.alice, "--regid", self.alice,
                              "--init-groups", "--reset-env", user_python(), "-c", HIT_AND_RUN,
                              str(self.bots.port), "resume", "20"],
                             capture_output=True, text=True, timeout=jqtest.DEADLINE * 3, cwd="/")
        self.assertEqual(out.returncode, 0, out.stderr)
        jqtest.wait_for(lambda: self.resume_calls() >= 20, "the 20 calls to be answered")
        self.assertTrue(self.rpc.status()["paused"], self.bots.log())
        log = self.bots.log()
        self.assertNotIn("Job queue resumed", log)
        self.assertEqual(log.count("(by user root)"), 1, log)   # setUp's pause


class SharedJobsAndPriorities(CallersTestCase):
    """Issue 19, F4, as the outside tester did it: a user queued cron's
    nightly task first; cron's own run (bots-job2queue as the server's
    user) was then a duplicate, or moved the user's job; and the user
    removed it, so cron's run never happened.  And a user kept its jobs
    ahead of cron's 1 to 9 with setpriority(N, -99999999)."""

    prefix = "jqi19r"

    def cron(self, *args):
        return subprocess.run([jqtest.JOB2QUEUE, "-c" + self.bots.config] + list(args),
                              capture_output=True, text=True, timeout=jqtest.DEADLINE)

    def test_a_job_cron_asked_for_too_is_not_the_users_alone(self):
        a = self.alice
        nightly = self.ok_as(a, "submit", ["echo", "nightly"], 5)["jobnumber"]
        weekly = self.ok_as(a, "submit", ["echo", "weekly"], 5)["jobnumber"]
        r = self.cron("-p5", "echo", "nightly")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        r = self.cron("-p3", "echo", "weekly")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for n in (nightly, weekly):
            self.assertIn("has no one owner", self.refused(a, "removejob", n))
            self.refused(a, "setpriority", n, 1)
        self.assertEqual(self.rpc.listjobs(), [[3, weekly, ["echo", "weekly"]],
                                               [5, nightly, ["echo", "nightly"]]])
        log = self.bots.log()
        self.assertIn("Job %d is shared now (queued by uid %d, asked for again): only an admin "
                      "may remove or reprioritise it: ['echo', 'nightly'] (by user root)"
                      % (nightly, pwd.getpwnam(a).pw_uid), log)
        # Kept in the journal: still shared after a restart.
        self.server.stop()
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()
        self.refused(a, "removejob", nightly)
        self.assertEqual(self.rpc.removejob(nightly), 0)

    def test_users_keep_to_bots_priorities(self):
        a = self.alice
        self.assertEqual(self.ok_as(a, "addjob", ["echo", "mine"], 9), 0)
        fault = self.refused(a, "setpriority", 1, -99999999)
        self.assertIn("setpriority(): priority -99999999: only an admin", fault)
        self.assertIn("outside Bots' 1 to 9", fault)
        self.refused(a, "setpriority", 1, 0)
        self.refused(a, "addjob", ["echo", "early"], 0)
        self.refused(a, "submit", ["echo", "early"], 10)
        self.assertEqual(self.ok_as(a, "setpriority", 1, 1), 0)
        # An admin (Bots' GUI, root) may use any priority.
        self.assertEqual(self.rpc.addjob(["echo", "first"], -5), 0)
        self.assertEqual(self.rpc.setpriority(1, 12), 0)
        self.assertEqual(self.rpc.listjobs(), [[-5, 2, ["echo", "first"]],
                                               [12, 1, ["echo", "mine"]]])


class QueueShare(CallersTestCase):
    """Issue 19, F3, as the outside tester did it: one user submitted
    jobs of 60 KB until the queue was full, and everybody else, cron's
    bots-job2queue as the bots user included, got "queue is full".  Now
    the user fills its share (user_queue_share, half by default) and the
    others still have room."""

    prefix = "jqi19r"
    jobqueue = {"authorized_tasks": "*", "max_waiting_bytes": "600000"}

    def test_one_user_cannot_fill_the_queue(self):
        a, b = self.alice, self.bob
        big = "x" * 60000
        added = 0
        while True:
            answer = self.call_as(a, "submit", ["echo", big, str(added)], 5)
            if "fault" in answer:
                break
            added += 1
            self.assertLess(added, 20, "the user was never refused")
        self.assertIn("user_queue_share", answer["fault"])
        self.assertEqual(added, 4)      # 4 of 60 KB fit in 300,000 bytes
        self.bots.wait_log("Queue full for this user (user_queue_share 50% of "
                           "max_waiting_bytes: 300000), not added: ")
        self.assertIn("(by user %s)" % a, self.bots.log())
        # Cron (the server's own user) and another user still get in.
        r = subprocess.run([jqtest.JOB2QUEUE, "-c" + self.bots.config, "-p5", "echo",
                            "nightly", big], capture_output=True, text=True,
                           timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.ok_as(b, "addjob", ["echo", big, "b"], 5), 0)
        # A job of hers that leaves gives her room again.
        self.assertEqual(self.ok_as(a, "removejob", 1), 0)
        self.assertEqual(self.ok_as(a, "addjob", ["echo", big, "again"], 5), 0)


class AdminUsersAndGroup(CallersTestCase):
    """[jobqueue] admin_users and admin_group give the admin steps."""

    prefix = "jqi19a"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.group = "jqi19ag%d" % (os.getpid() % 100000)
        subprocess.run(["groupdel", cls.group], capture_output=True)
        subprocess.run(["groupadd", cls.group], check=True, capture_output=True)
        subprocess.run(["usermod", "-a", "-G", cls.group, cls.bob], check=True,
                       capture_output=True)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["groupdel", cls.group], capture_output=True)

    def setUp(self):
        self.jobqueue = {"authorized_tasks": "*", "admin_users": "nosuchjqi19auser, " + self.alice,
                         "admin_group": self.group}
        super().setUp()

    def test_admins_steer_everything(self):
        a, b = self.alice, self.bob
        self.assertEqual(self.rpc.addjob(["echo", "own"], 5), 0)
        self.assertEqual(self.ok_as(a, "setpriority", 1, 2), 0)
        self.assertEqual(self.ok_as(b, "resume"), 0)
        self.assertEqual(self.ok_as(a, "pause"), 0)
        self.assertEqual(self.ok_as(b, "addjob", ["echo", "b"], 5), 0)
        self.assertEqual(self.ok_as(a, "clearjobq"), 0)
        self.bots.wait_log("Job queue cleared. (by user %s)\n" % a)
        log = self.bots.log()
        self.assertIn("Job queue resumed. (by user %s)\n" % b, log)
        self.assertIn("no user nosuchjqi19auser on this system; ignored", log)
        # Bob's group made him an admin, not alice's name: a user in
        # neither is still refused.
        self.assertNotIn("Refused:", log)



@unittest.skipIf(skip_reason(), skip_reason())
class BotsUserKeepsRights(unittest.TestCase):
    """Bots' GUI, dirmonitor and cron run as the user who owns botssys,
    which a server started as root becomes: that user keeps every step,
    on every user's job, without being named in admin_users."""

    def setUp(self):
        self.users = Users("g", "o", prefix="jqi19a")
        self.bots_user, self.other = self.users.names
        pw = pwd.getpwnam(self.bots_user)
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        os.chmod(self.bots.root, 0o755)
        for sub in ("jobqueue", "logging"):
            os.makedirs(os.path.join(self.bots.botssys, sub), exist_ok=True)
        for folder, _, files in os.walk(self.bots.root):
            for name in [folder] + [os.path.join(folder, f) for f in files]:
                os.lchown(name, pw.pw_uid, pw.pw_gid)
        self.server = jqtest.Server(self.bots)
        self.server.proxy().pause()

    def tearDown(self):
        try:
            self.server.stop()
        finally:
            self.bots.cleanup()
            self.users.remove()

    call_as = CallersTestCase.call_as
    ok_as = CallersTestCase.ok_as

    def test_the_bots_user_steers_everything(self):
        g, o = self.bots_user, self.other
        self.assertEqual(self.ok_as(o, "addjob", ["echo", "o1"], 5), 0)
        self.assertEqual(self.ok_as(o, "addjob", ["echo", "o2"], 5), 0)
        self.assertEqual(self.ok_as(o, "addjob", ["echo", "o3"], 5), 0)
        # The GUI's Run of a task another user queued moves it (Bots' rule).
        self.assertEqual(self.ok_as(g, "addjob", ["echo", "o1"], 2), 0)
        self.assertEqual(self.ok_as(g, "setpriority", 2, 1), 0)
        self.assertEqual(self.ok_as(g, "removejob", 3), 0)
        self.assertEqual(self.ok_as(g, "getjob"), [1, 2, ["echo", "o2"]])
        self.assertEqual(self.ok_as(g, "resume"), 0)
        self.assertEqual(self.ok_as(g, "pause"), 0)
        self.assertEqual(self.ok_as(g, "clearjobq"), 0)
        self.bots.wait_log("Job queue cleared.\n")
        log = self.bots.log()
        self.assertNotIn("Refused:", log)
        self.assertIn("Duplicate job, changed priority to 2: ['echo', 'o1']\n", log)
        self.assertIn("Removed job 3: ['echo', 'o3'] (by user %s)\n" % g, log)
        # and the other user still may not.
        self.assertIn("fault", self.call_as(o, "resume"))


if __name__ == "__main__":
    jqtest.main()
