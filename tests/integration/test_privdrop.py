"""The server does not stay root (issue 19, item 3): started as root, it
binds its port and becomes the user who owns botssys (or [jobqueue]
user), and so do its jobs; it never opens a file in botssys through a
link that user planted, dangling or not, before or after it started.

Written as the attacker did it: a real unprivileged user (created here
with useradd, name prefixed jqpd) owns a fake botssys and plants links at
server.lock, jobqueue.log and the journal's files, aimed at a file that
only root may touch and at names in a folder only root may write in."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import unittest
import xmlrpc.client

import jqtest

USER = "jqpd%d" % (os.getpid() % 100000)
# The jobs run as that user, who may not reach the tests' own Python
# (under /root with pyenv): the system's.
SYSTEM_PYTHON = "/usr/bin/python3"


def proc_ids(pid, field):
    """The four ids of the Uid: or Gid: line of /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(v) for v in line.split()[1:]]
    return []


@unittest.skipIf(os.geteuid() != 0, "needs root: the server must be started as root "
                 "and a user created with useradd")
@unittest.skipIf(shutil.which("useradd") is None, "useradd is not installed")
@unittest.skipIf(not os.access(SYSTEM_PYTHON, os.X_OK), SYSTEM_PYTHON + " is not installed")
class Privdrop(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", USER], check=True)
        cls.pw = pwd.getpwnam(USER)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["userdel", USER], check=False)

    def setUp(self):
        self.bots = jqtest.BotsDir({"authorized_tasks": SYSTEM_PYTHON + " " + jqtest.JOB})
        # The Bots folder is the user's, as after "pip install --user" or
        # a checkout of theirs; the test's own temporary folder is root's.
        os.chmod(self.bots.root, 0o755)
        os.makedirs(os.path.join(self.bots.botssys, "jobqueue"))
        os.makedirs(os.path.join(self.bots.botssys, "logging"))
        for folder, _, files in os.walk(self.bots.root):
            for name in [folder] + [os.path.join(folder, f) for f in files]:
                os.lchown(name, self.pw.pw_uid, self.pw.pw_gid)
        # Root's: a file only root may read and write, and a folder only
        # root may write in.
        self.vault = self.bots.path("vault")
        os.mkdir(self.vault, 0o700)
        self.precious = os.path.join(self.vault, "precious")
        with open(self.precious, "w") as f:
            f.write("root's own\n")
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.stop()
        self.bots.cleanup()

    def plant(self, name, target):
        """A link the user puts in botssys (owned by the user, as theirs)."""
        path = os.path.join(self.bots.botssys, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
        os.lchown(path, self.pw.pw_uid, self.pw.pw_gid)
        return path

    def assert_vault_untouched(self):
        self.assertEqual(sorted(os.listdir(self.vault)), ["precious"],
                         "root files were created through a planted link")
        with open(self.precious) as f:
            self.assertEqual(f.read(), "root's own\n", "a root file was changed through a link")

    def start(self, **kw):
        self.server = jqtest.Server(self.bots, **kw)
        return self.server

    def test_runs_as_owner_of_botssys(self):
        server = self.start()
        uid, gid = self.pw.pw_uid, self.pw.pw_gid
        self.assertEqual(proc_ids(server.pid, "Uid"), [uid] * 4)
        self.assertEqual(proc_ids(server.pid, "Gid"), [gid] * 4)
        rpc = server.proxy()
        record = self.bots.path("events")
        self.assertEqual(rpc.addjob([SYSTEM_PYTHON, jqtest.JOB, record, "one"], 5), 0)
        self.bots.wait_log("Finished job")
        # The job created its record file: as the user, not as root.
        self.assertEqual(os.stat(record).st_uid, uid)
        for name in ("jobqueue/server.lock", "jobqueue/queue.db", "logging/jobqueue.log"):
            st = os.stat(os.path.join(self.bots.botssys, name))
            self.assertEqual((name, st.st_uid), (name, uid))
        self.bots.wait_log("runs as user %s (uid %d, the owner of %s)"
                           % (USER, uid, self.bots.botssys))
        self.assertEqual(rpc.listjobs(), 0)

    def test_root_botssys_in_the_users_folder_says_why(self):
        # botssys itself root's, its folder the user's: the user controls
        # it (and the server runs as them), and the line says so rather
        # than calling them its owner
        os.makedirs(os.path.join(self.bots.botssys, "jobqueue"), exist_ok=True)
        os.makedirs(os.path.join(self.bots.botssys, "logging"), exist_ok=True)
        for sub in ("jobqueue", "logging"):
            os.chown(os.path.join(self.bots.botssys, sub), self.pw.pw_uid, self.pw.pw_gid)
        os.chown(self.bots.botssys, 0, 0)
        server = self.start()
        self.assertEqual(proc_ids(server.pid, "Uid"), [self.pw.pw_uid] * 4)
        self.bots.wait_log("runs as user %s (uid %d, the user who controls (a link or a "
                           "folder on the way) %s)" % (USER, self.pw.pw_uid, self.bots.botssys))

    def run_server(self, **kw):
        """The server, left to start or to refuse; stopped if it started.
        Returns (exit status, stderr)."""
        proc = subprocess.Popen([jqtest.SERVER, "-c" + self.bots.config], cwd=self.bots.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.bots.port), 0.2).close()
                return True
            except OSError:
                return False
        try:
            jqtest.wait_for(lambda: proc.poll() is not None or listening(),
                            "the server to refuse or to listen")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=jqtest.DEADLINE)
        return proc.returncode, err

    def planted_before_start(self, name, target):
        self.plant(name, target)
        status, err = self.run_server()
        self.assert_vault_untouched()
        self.assertEqual(status, 1, err)
        self.assertIn("symbolic link", err + self.bots.log())
        self.assertIn(os.path.join(self.bots.botssys, name), err + self.bots.log())

    def test_link_at_lock_file_to_root_file(self):
        self.planted_before_start("jobqueue/server.lock", self.precious)

    def test_dangling_link_at_lock_file(self):
        self.planted_before_start("jobqueue/server.lock", os.path.join(self.vault, "ld.so.preload"))

    def test_link_at_log_to_root_file(self):
        self.planted_before_start("logging/jobqueue.log", self.precious)

    def test_dangling_link_at_log(self):
        self.planted_before_start("logging/jobqueue.log", os.path.join(self.vault, "ld.so.preload"))

    def test_dangling_links_at_journal(self):
        for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
            for left in set(os.listdir(self.vault)) - {"precious"}:
                os.unlink(os.path.join(self.vault, left))
            with self.subTest(name=name):
                self.planted_before_start("jobqueue/" + name, os.path.join(self.vault, name))
                os.unlink(os.path.join(self.bots.botssys, "jobqueue", name))

    def test_link_at_log_while_running(self):
        """Replaced by a dangling link into root's folder, then reopened
        (SIGHUP, as logrotate does): refused task text must not land in a
        new root file, and the server goes on serving."""
        server = self.start()
        rpc = server.proxy()
        log = os.path.join(self.bots.botssys, "logging", "jobqueue.log")
        os.unlink(log)
        self.plant("logging/jobqueue.log", os.path.join(self.vault, "ld.so.preload"))
        server.proc.send_signal(signal.SIGHUP)
        try:
            rpc.addjob(["/tmp/payload-not-authorized"], 5)
        except xmlrpc.client.Fault:
            pass
        self.assertEqual(rpc.listjobs(), 0)
        self.assert_vault_untouched()
        self.assertEqual(proc_ids(server.pid, "Uid"), [self.pw.pw_uid] * 4)

    def test_bots_python_asked_as_its_owner(self):
        """Root asks Bots' Python where the bots package is (no wrapper, no
        BOTS_DIR) only as the owner of the script that names it: that user
        could name any program there."""
        scripts = self.bots.path("scripts")
        os.mkdir(scripts)
        marker = self.bots.path("asked-as")
        python = os.path.join(scripts, "python3")
        with open(python, "w") as f:
            f.write("#!/bin/sh\nid -u > %s\nexec %s \"$@\"\n" % (marker, SYSTEM_PYTHON))
        with open(os.path.join(scripts, "bots-engine.py"), "w") as f:
            f.write("#!%s\n" % python)
        for name in ("", "python3", "bots-engine.py"):
            os.chmod(os.path.join(scripts, name), 0o755)
            os.lchown(os.path.join(scripts, name), self.pw.pw_uid, self.pw.pw_gid)
        env = {"PATH": scripts + ":/usr/bin:/bin"}
        saved = os.environ.pop("BOTS_JOBQUEUE_BOTSPATH", None)
        try:
            server = self.start(env=env)
        finally:
            if saved is not None:
                os.environ["BOTS_JOBQUEUE_BOTSPATH"] = saved
        server.proxy().listjobs()
        with open(marker) as f:
            self.assertEqual(int(f.read()), self.pw.pw_uid)

    def test_user_key(self):
        """[jobqueue] user names the user, whoever owns botssys."""
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port), "user": USER,
                             "authorized_tasks": SYSTEM_PYTHON + " " + jqtest.JOB},
                            {"maxruntime": "60"})
        os.chown(self.bots.botssys, 0, 0)
        server = self.start()
        self.assertEqual(proc_ids(server.pid, "Uid"), [self.pw.pw_uid] * 4)
        self.bots.wait_log("runs as user %s (uid %d, [jobqueue] user)" % (USER, self.pw.pw_uid))

    def test_unknown_user_refused(self):
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port),
                             "user": USER + "-none"}, {})
        status, err = self.run_server()
        self.assertEqual(status, 1)
        self.assertIn('[jobqueue] user = "%s-none" is no user of this system' % USER, err)
        self.assertFalse(os.path.exists(self.bots.log_path))

    def test_root_owned_botssys_stays_root(self):
        """Nobody else can write in a botssys that root owns: the server
        stays root there, and says so."""
        for folder, _, files in os.walk(self.bots.root):
            for name in [folder] + [os.path.join(folder, f) for f in files]:
                os.lchown(name, 0, 0)
        server = self.start()
        self.assertEqual(proc_ids(server.pid, "Uid"), [0] * 4)
        self.bots.wait_log("Runs as root (the owner of %s)" % self.bots.botssys)

    def test_user_root_in_the_users_ini_refused(self):
        """The Bots user edits the bots.ini they own to say user = root
        (found by an outsider: the server and its jobs then ran as root,
        and systemd restarts the server by itself)."""
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port), "user": "root",
                             "authorized_tasks": "*"}, {})
        status, err = self.run_server()
        self.assertEqual(status, 1, err)
        self.assertIn('[jobqueue] user = "root", but %s is controlled by uid %d'
                      % (os.path.join(self.bots.config, "bots.ini"), self.pw.pw_uid), err)
        self.assertFalse(os.path.exists(self.bots.log_path))

    def test_ini_link_to_a_root_file_is_read_as_its_owner(self):
        """bots.ini replaced by the Bots user's link to a file only root may
        read: the server started as root must neither read it nor show a
        line of it in its error (found by an outsider with /etc/shadow)."""
        ini = os.path.join(self.bots.config, "bots.ini")
        os.unlink(ini)
        os.symlink(self.precious, ini)
        os.lchown(ini, self.pw.pw_uid, self.pw.pw_gid)
        status, err = self.run_server()
        self.assertEqual(status, 1, err)
        self.assertNotIn("root's own", err)
        self.assertIn("Permission denied", err)
        self.assert_vault_untouched()

    def test_not_root_with_other_user_refused(self):
        """Only root can become another user: refused, not ignored."""
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port), "user": "root"}, {})
        uid, gid = self.pw.pw_uid, self.pw.pw_gid

        def become_user():
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        status, err = self.run_server(preexec_fn=become_user)
        self.assertEqual(status, 1)
        self.assertIn('[jobqueue] user = "root", but the server was started as %s' % USER, err)


if __name__ == "__main__":
    jqtest.main()
