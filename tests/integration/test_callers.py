"""Know who is calling (issue 19): the server finds the uid behind each
loopback connection, names the user in the log line of every change,
lets only admins steer other users' jobs, and keeps a share of the
connections for every user.  The callers are real unprivileged users,
made with useradd for the test (names start with "jqcl"), running
Python's xmlrpc.client through runuser, as the attacker did."""

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

    def __init__(self, *tags):
        self.names = []
        for tag in tags:
            name = "jqcl%s%d" % (tag, os.getpid() % 100000)
            subprocess.run(["userdel", name], capture_output=True)
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name],
                           check=True, capture_output=True)
            self.names.append(name)

    def remove(self):
        for name in self.names:
            subprocess.run(["userdel", name], capture_output=True)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root, to make unprivileged users with useradd"
    if not shutil.which("useradd") or not shutil.which("runuser"):
        return "needs useradd and runuser"
    if user_python() is None:
        return "no Python that an unprivileged user may run"
    return None


@unittest.skipIf(skip_reason(), skip_reason())
class CallersTestCase(jqtest.ServerTestCase):
    """A server with the queue paused (jobs stay waiting), and two users."""

    jobqueue = {"authorized_tasks": "*"}

    @classmethod
    def setUpClass(cls):
        cls.users = Users("a", "b")
        cls.alice, cls.bob = cls.users.names

    @classmethod
    def tearDownClass(cls):
        cls.users.remove()

    def setUp(self):
        super().setUp()
        self.rpc.pause()

    def call_as(self, user, method, *args):
        out = subprocess.run(["runuser", "-u", user, "--", user_python(), "-c", CLIENT,
                              str(self.bots.port), method, json.dumps(list(args))],
                             capture_output=True, text=True, timeout=jqtest.DEADLINE, cwd="/")
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def ok_as(self, user, method, *args):
        answer = self.call_as(user, method, *args)
        self.assertIn("ok", answer, answer)
        return answer["ok"]


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


if __name__ == "__main__":
    jqtest.main()
