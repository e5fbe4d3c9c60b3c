"""bots-jobqueue-switch run by root never acts through a path another
user controls, and never runs that user's code as root (issue 19, items
1 and 2).  Written the way the attack was made: a real unprivileged
user (created here with useradd) owns a fake Bots installation, plants
links where the switch writes (to a root-only 0600 file, dangling ones
into a root-only folder, under the predictable names for every process
id about to be used), and names as Bots' Python a script that records
who ran it.  Root then switches, asks botspath, and goes back."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest

import fakebots
import jqtest

# Bots' Python as the attacker writes it: records the uid it runs as,
# then is a Python as before.
RECORDER = """#!/bin/sh
id -u >> %(record)s
exec %(python)s "$@"
"""

# How many process ids ahead the predictable names are planted: more
# than the machine uses between planting and the switch's start.
PIDS_AHEAD = 4000
SYSTEM_PYTHON = "/usr/bin/python3"


def last_pid():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())


@unittest.skipUnless(os.geteuid() == 0, "needs root: the attack is on what root does")
@unittest.skipUnless(os.access(SYSTEM_PYTHON, os.X_OK), "needs a Python every user may run")
class SwitchAsRoot(unittest.TestCase):
    version = 3

    @classmethod
    def setUpClass(cls):
        cls.user = "jqsw" + os.urandom(3).hex()
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", cls.user],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(cls.user)
        cls.uid, cls.gid = entry.pw_uid, entry.pw_gid

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["userdel", cls.user], capture_output=True)

    def setUp(self):
        # a Python the user may run (the tests' own may live in root's home)
        self.bots = fakebots.FakeBots(self.version, interpreter=SYSTEM_PYTHON)
        os.chmod(self.bots.top, 0o755)
        # What root owns, out of the user's reach: a 0600 file and a folder.
        self.vault = tempfile.mkdtemp(prefix="jqsw-vault-")
        self.secret = os.path.join(self.vault, "secret")
        with open(self.secret, "w") as f:
            f.write("root only\n")
        os.chmod(self.secret, 0o600)
        os.chmod(self.vault, 0o711)   # links into it resolve; listing needs root
        self.record = os.path.join(self.bots.top, "uids")
        self.give_to_user(self.bots.top)
        self.python_records()

    def tearDown(self):
        self.bots.cleanup()
        shutil.rmtree(self.vault, ignore_errors=True)

    def give_to_user(self, top):
        for folder, dirs, files in os.walk(top):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.lchown(name, self.uid, self.gid)

    def python_records(self):
        """Bots' Python (the `#!` of its scripts) records who runs it."""
        real = self.bots.python + ".real"
        os.rename(self.bots.python, real)
        fakebots.write(self.bots.python, RECORDER % {
            "record": self.record, "python": real}, 0o755)
        os.chown(self.bots.python, self.uid, self.gid)

    def uids_recorded(self):
        try:
            with open(self.record) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def vault_state(self):
        st = os.stat(self.secret)
        with open(self.secret, "rb") as f:
            body = f.read()
        return (sorted(os.listdir(self.vault)), body, stat.S_IMODE(st.st_mode),
                st.st_uid, st.st_gid)

    def plant_links(self, folder):
        """As the user would: every predictable temporary name of the next
        PIDS_AHEAD processes, for each script, a link to the 0600 file or
        a dangling one into the root-only folder."""
        start = last_pid()
        for pid in range(start + 1, start + PIDS_AHEAD):
            for i, name in enumerate(self.bots.names):
                link = os.path.join(folder, ".%s.bots-jobqueue.%d" % (name, pid))
                target = self.secret if (pid + i) % 2 else os.path.join(
                    self.vault, "made-%d-%d" % (pid, i))
                os.symlink(target, link)
                os.lchown(link, self.uid, self.gid)

    def switch(self, action):
        r = self.bots.switch(action)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (action, r.stdout, r.stderr))
        return r

    def assert_round_trip(self, before):
        vault = self.vault_state()
        self.switch("to")
        for n in self.bots.names:
            st = os.lstat(self.bots.script(n))
            self.assertTrue(stat.S_ISREG(st.st_mode), "%s is not a plain file" % n)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o755, n)
            self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), n)
            self.assertIn(b"compatibility names for the", self.bots.bytes_of(n))
        self.assertEqual(self.vault_state(), vault, "a root file changed")
        r = self.switch("botspath")
        self.assertEqual(r.stdout.strip(), self.bots.pkg)
        self.switch("back")
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n], n)
        self.assertEqual(self.vault_state(), vault, "a root file changed")

    def test_to_writes_nothing_through_planted_links(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        self.plant_links(self.bots.bin)
        self.assert_round_trip(before)

    def test_bots_python_never_runs_as_root(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        self.switch("botspath")
        self.switch("to")
        self.switch("back")   # asks botspath to find a server of ours
        self.assertEqual(self.uids_recorded()[:1], [self.uid], "Bots' Python did not run")
        self.assertEqual(set(self.uids_recorded()), {self.uid},
                         "Bots' Python ran as another user than its owner")
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n], n)

    def test_root_folder_with_scripts_linked_into_the_users(self):
        # /usr/local/bin (root's) holding links to the scripts of a Bots
        # the user unpacked: the user's Python runs as the user, and
        # root's folder gets plain wrappers owned as the scripts are
        rootbin = tempfile.mkdtemp(prefix="jqsw-bin-")
        try:
            os.chmod(rootbin, 0o755)
            for n in self.bots.names:
                os.symlink(self.bots.script(n), os.path.join(rootbin, n))
            before = {n: os.readlink(os.path.join(rootbin, n)) for n in self.bots.names}
            vault = self.vault_state()
            for action in ("botspath", "to", "back"):
                r = self.bots.switch(action, rootbin)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                if action == "to":
                    for n in self.bots.names:
                        st = os.lstat(os.path.join(rootbin, n))
                        self.assertTrue(stat.S_ISREG(st.st_mode), n)
                        self.assertEqual(st.st_uid, self.uid, n)
            self.assertEqual(set(self.uids_recorded()), {self.uid})
            self.assertEqual({n: os.readlink(os.path.join(rootbin, n))
                              for n in self.bots.names}, before)
            self.assertEqual(self.vault_state(), vault)
        finally:
            shutil.rmtree(rootbin)


    def test_a_script_linked_to_roots_file_is_not_read_as_root(self):
        # root's folder links to the user's scripts; the user points one
        # of them at a file in a folder only root may enter: `to` must not
        # copy its first line into a wrapper (an outside tester read a
        # root-only "#!" line back from the wrapper, as the user)
        rootbin = tempfile.mkdtemp(prefix="jqsw-bin-")
        hidden = tempfile.mkdtemp(prefix="jqsw-hidden-")   # 0700, root's
        try:
            os.chmod(rootbin, 0o755)
            token = "TOKEN-" + os.urandom(4).hex()
            target = os.path.join(hidden, "open.py")
            fakebots.write(target, "#!/usr/bin/python3 %s\nprint(1)\n" % token, 0o644)
            for n in self.bots.names:
                os.symlink(self.bots.script(n), os.path.join(rootbin, n))
            planted = self.bots.script(self.bots.names[0])
            os.unlink(planted)
            os.symlink(target, planted)
            os.lchown(planted, self.uid, self.gid)
            self.bots.switch("to", rootbin)
            for n in os.listdir(rootbin):
                path = os.path.join(rootbin, n)
                # what the switch wrote (the links left are root's own)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    with open(path, "rb") as f:
                        self.assertNotIn(token.encode(), f.read(), n)
        finally:
            shutil.rmtree(rootbin)
            shutil.rmtree(hidden)

class SwitchAsRootBots4(SwitchAsRoot):
    version = 4


if __name__ == "__main__":
    jqtest.main()
