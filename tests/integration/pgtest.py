"""A throwaway PostgreSQL for the tests: initdb and pg_ctl of Debian's
postgresql package, in a temporary folder, as the unprivileged user
postgres when the tests run as root, listening only on a unix socket in
that folder (named by a free port number).  stop() removes everything;
atexit calls it too, so a failing test leaves no server behind, and a
reaper process does it when the test process is killed (no atexit)."""

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import jqtest


def bin_dir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise AssertionError("PostgreSQL is not installed: tools/install-deps "
                             "installs Debian's postgresql package")
    return dirs[-1]


# Waits for the end of the pipe the test process holds (its exit, or its
# SIGKILL), then stops a server that is still there and removes the folder.
REAPER = r"""
import os, shutil, subprocess, sys
fd, root, data = sys.argv[1:4]
while os.read(int(fd), 1):
    pass
if os.path.isdir(data):
    subprocess.run(sys.argv[4:] + ["-D", data, "-m", "immediate", "-w",
                                   "-t", "30", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(root, ignore_errors=True)
"""


class PostgreSQL:
    def __init__(self, tcp=None):
        """@tcp: (addresses, network) to listen on over TCP as well, with
        trust for clients of that network (test_partition.py's veth
        links); unix socket only without."""
        self.bin = bin_dir()
        self.root = tempfile.mkdtemp(prefix="jqpg-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "postgresql.log")
        self.port = jqtest.free_port()
        self.as_user = []
        if os.geteuid() == 0:
            # initdb refuses root: the package's own user runs it.
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.running = False
        atexit.register(self.stop)
        self._start_reaper()
        self._run("initdb", "-D", self.data, "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\n"
                    "unix_socket_directories = '%s'\n"
                    "port = %d\n"
                    "fsync = off\n"
                    "max_connections = 60\n"
                    "shared_buffers = 16MB\n"
                    "log_line_prefix = '%%m [%%p] %%a '\n" % (self.root, self.port))
            if tcp:
                f.write("listen_addresses = '%s'\n" % ",".join(tcp[0]))
        if tcp:
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                f.write("host all all %s trust\n" % tcp[1])
        self.start()

    def _start_reaper(self):
        read_end, self._reaper_pipe = os.pipe()
        self._reaper = subprocess.Popen(
            [sys.executable, "-c", REAPER, str(read_end), self.root, self.data]
            + self.as_user + [os.path.join(self.bin, "pg_ctl")],
            pass_fds=(read_end,), start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(read_end)

    def _run(self, program, *args, check=True):
        cmd = self.as_user + [os.path.join(self.bin, program)] + list(args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, cwd=self.root)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed: %s" % (program, proc.stdout.decode(errors="replace")))
        return proc.stdout.decode(errors="replace")

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w",
                  "-t", "30", "start")
        self.running = True

    def stop_server(self, mode="fast"):
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30",
                      "stop", check=False)
            self.running = False

    def restart(self):
        self.stop_server()
        self.start()

    def stop(self):
        if self.root is None:
            return
        self.stop_server("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        os.close(self._reaper_pipe)     # the reaper finds nothing left
        self._reaper.wait(jqtest.DEADLINE)

    def psql(self, sql, db="postgres"):
        return self._run("psql", "-h", self.root, "-p", str(self.port),
                         "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t",
                         "-v", "ON_ERROR_STOP=1", "-c", sql).strip()

    def create_database(self, name):
        self.psql("CREATE DATABASE %s" % name)
        return name

    def dsn(self, db):
        return "host=%s port=%d dbname=%s user=postgres" % (self.root, self.port, db)
