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


if __name__ == "__main__":
    jqtest.main()
