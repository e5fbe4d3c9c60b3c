"""Issue 20: the Run menu and the directory monitor failed while saying OK
when the server's first python3 on PATH was not Bots' Python (a pyenv
or conda shim first, a self-built /usr/local/bin/python3 ahead of
/usr/bin): Bots' own Python is authorized whatever the server's PATH.
Fake Bots 3 installations (in place, by setup.py, in a virtualenv) whose
Python is not in front of the server's PATH, the server started as cron
starts things (working directory /, HOME, PATH a shim folder then
/usr/bin:/bin).  And bots.ini's authorization keys take effect without a
restart: on SIGHUP, and when bots.ini has changed before a refusal."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import jqtest

ENGINE = """#!%(python)s
# fake bots-engine: records its arguments
import json, sys
with open(%(runs)r, "a") as f:
    f.write(json.dumps(sys.argv) + "\\n")
"""

# Bots' other scripts, whose "#!" line names Bots' Python (stand-ins).
SCRIPT = "#!%s\n# Bots' own %s (a stand-in written by the tests)\n"

# A pyenv-like shim: another python3, first on the server's PATH.
SHIM = '#!/bin/sh\nexec %s "$@"\n'


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class Install:
    """A Bots 3 installation whose Python is neither in Bots' scripts'
    folder (but in a virtualenv) nor found first on the server's PATH."""

    def __init__(self, layout):
        self.top = tempfile.mkdtemp(prefix="jqpy-")
        self.home = os.path.join(self.top, "home")
        os.makedirs(self.home)
        self.runs = os.path.join(self.top, "runs.jsonl")
        real = os.path.realpath(sys.executable)
        if layout == "virtualenv":
            prefix = os.path.join(self.top, "venv")
            subprocess.run([real, "-m", "venv", "--without-pip", prefix], check=True,
                           capture_output=True)
            self.bin = os.path.join(prefix, "bin")
            self.python = os.path.join(self.bin, "python3")
            site = subprocess.run([self.python, "-c", "import sysconfig; "
                                   "print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip()
        else:
            # the system's Python, outside Bots' prefix (a link to the
            # tests' own interpreter)
            self.python = os.path.join(self.top, "usr", "bin", "python3")
            os.makedirs(os.path.dirname(self.python))
            os.symlink(real, self.python)
            if layout == "setup.py":
                self.bin = os.path.join(self.top, "usr", "local", "bin")
                site = os.path.join(self.top, "usr", "local", "lib", "python%d.%d"
                                    % sys.version_info[:2], "dist-packages")
            else:   # in place: the scripts beside the bots package
                self.bin = site = os.path.join(self.top, "bots-3.3.0")
        self.pkg = os.path.join(site, "bots")
        write(os.path.join(self.pkg, "__init__.py"), "")
        write(os.path.join(self.pkg, "botsglobal.py"), "version = '3.3.0'\n")
        self.config = os.path.join(self.pkg, "config")
        self.port = jqtest.free_port()
        write(os.path.join(self.config, "bots.ini"),
              "[settings]\nmaxruntime = 60\n\n[directories]\nbotssys = botssys\n\n"
              "[jobqueue]\nenabled = True\nport = %d\nlog_console = False\n"
              "stop_grace = 1\nbots_version = 3\n" % self.port)
        self.log_path = os.path.join(self.pkg, "botssys", "logging", "jobqueue.log")
        self.engine = os.path.join(self.bin, "bots-engine.py")
        write(self.engine, ENGINE % {"python": self.python, "runs": self.runs}, 0o755)
        for name in ("bots-webserver.py", "bots-dirmonitor.py"):
            write(os.path.join(self.bin, name), SCRIPT % (self.python, name), 0o755)
        self.shims = os.path.join(self.top, "shims")
        write(os.path.join(self.shims, "python3"), SHIM % real, 0o755)
        self.other = os.path.join(self.top, "other", "python3")
        write(self.other, SHIM % real, 0o755)
        self.proc = None

    def start(self, shims=True):
        """As cron or an init script starts it: /, HOME, a short PATH
        (with a pyenv-like shim folder first when @shims)."""
        env = {"HOME": self.home, "LC_ALL": "C.UTF-8",
               "PATH": (self.shims + ":" if shims else "") + "/usr/bin:/bin"}
        self.proc = subprocess.Popen([jqtest.SERVER, "-c" + self.config], cwd="/", env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("server exited: %r" % (self.proc.communicate(),))
            try:
                jqtest.socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        jqtest.wait_for(up, "the server on port %d" % self.port)
        return jqtest.xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % self.port)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def engine_runs(self, n):
        def read():
            if not os.path.exists(self.runs):
                return None
            with open(self.runs) as f:
                runs = [json.loads(line) for line in f if line.strip()]
            return runs if len(runs) >= n else None
        return jqtest.wait_for(read, "%d engine run(s)" % n)

    def cleanup(self):
        err = b""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                err = self.proc.communicate(timeout=jqtest.DEADLINE)[1]
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        shutil.rmtree(self.top, ignore_errors=True)
        for mark in (b"Sanitizer", b"runtime error:"):
            if mark in err:
                raise AssertionError("server reported:\n" + err.decode(errors="replace"))


class BotsPython(unittest.TestCase):
    layout = "setup.py"
    shims = True

    def setUp(self):
        self.bots = Install(self.layout)
        self.addCleanup(self.bots.cleanup)
        self.rpc = self.bots.start(self.shims)

    def test_run_menu_and_dirmonitor(self):
        bots = self.bots
        # the Run menu: [sys.executable of the monitor, bots-engine.py, ...]
        self.assertEqual(self.rpc.addjob([bots.python, bots.engine, "-cconfig", "--new"], 5), 0)
        # the directory monitor: its -c as given, an empty route
        self.assertEqual(self.rpc.addjob([bots.python, bots.engine, "-c" + bots.config, ""], 5), 0)
        runs = bots.engine_runs(2)
        self.assertEqual(runs[0][1:], ["-cconfig", "--new"])
        self.assertEqual(runs[1][1:], ["-c" + bots.config, ""])

    def test_refusal_names_sent_and_accepted(self):
        bots = self.bots
        # another Python (not Bots'): not added, answered 1 (Bots 3), and
        # the log says which Python was sent and which would do
        self.assertEqual(self.rpc.addjob([bots.other, bots.engine, "-cconfig"], 5), 1)
        self.assertEqual(self.rpc.listjobs(), 0)
        line = jqtest.wait_for(
            lambda: [l for l in bots.log().splitlines() if "Task not authorized" in l],
            "the refusal's log line")[0]
        self.assertIn("'%s' is neither" % bots.other, line)
        self.assertIn("a Python running it: ", line)
        self.assertIn(bots.python, line.split("a Python running it: ")[1])
        self.assertIn("bots-engine as ", line)
        self.assertIn(os.path.realpath(bots.engine), line)


class BotsPythonCronPath(BotsPython):
    """cron's own PATH, /usr/bin:/bin, whose python3 (if any) is not
    Bots' either."""
    shims = False


class BotsPythonInPlace(BotsPython):
    layout = "in place"


class BotsPythonVirtualenv(BotsPython):
    layout = "virtualenv"

    def test_what_the_venv_python_resolves_to(self):
        bots = self.bots
        real = os.path.realpath(bots.python)
        self.assertEqual(self.rpc.submit([real, bots.engine, "-cconfig"], 5)["code"], 0)
        self.assertEqual(bots.engine_runs(1)[0][1:], ["-cconfig"])


class Reload(unittest.TestCase):
    """bots.ini's authorization keys without a restart."""

    def start(self, jobqueue, settings=None):
        self.bots = jqtest.BotsDir(jobqueue, settings)
        self.addCleanup(self.bots.cleanup)
        self.server = jqtest.Server(self.bots)
        self.addCleanup(self.server.stop)
        self.rpc = self.server.proxy()
        self.ini = os.path.join(self.bots.config, "bots.ini")

    def edit(self, old, new):
        with open(self.ini) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.ini, "w") as f:   # in place: the same inode
            f.write(text.replace(old, new))

    def test_sighup(self):
        self.start({"authorized_tasks": "/bin/false"})
        self.assertEqual(self.rpc.submit(["/bin/true"], 5)["code"], 3)
        before = os.stat(self.ini)
        # the same inode, size and modification time: nothing tells the
        # server but SIGHUP
        self.edit("authorized_tasks = /bin/false", "authorized_tasks = /bin/true ")
        os.utime(self.ini, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(self.ini)
        self.assertEqual((after.st_ino, after.st_size, after.st_mtime_ns),
                         (before.st_ino, before.st_size, before.st_mtime_ns))
        self.assertEqual(self.rpc.submit(["/bin/true"], 5)["code"], 3)
        self.server.proc.send_signal(signal.SIGHUP)
        self.bots.wait_log("Authorized tasks re-read from %s (SIGHUP)" % self.ini)
        self.assertEqual(self.rpc.submit(["/bin/true"], 5)["code"], 0)
        self.assertIn("authorized_tasks = /bin/true;", self.bots.log())

    def test_changed_file_before_a_refusal(self):
        other = self.bots_python()
        self.start({"authorized_tasks": ""})
        engine = os.path.join(self.bots.bin, "bots-engine.py")
        self.assertEqual(self.rpc.submit([other, engine], 5)["code"], 3)
        self.assertEqual(self.rpc.submit(["/bin/true"], 5)["code"], 3)
        # the administrator fixes bots.ini; the next click works
        self.edit("[settings]\n", "[settings]\npython_executable_path = %s\n" % other)
        self.assertEqual(self.rpc.submit([other, engine], 5)["code"], 0)
        self.bots.wait_log("Authorized tasks re-read from %s (bots.ini changed)" % self.ini)
        self.edit("authorized_tasks = \n", "authorized_tasks = /bin/true\n")
        self.assertEqual(self.rpc.submit(["/bin/true"], 5)["code"], 0)
        # read once per change, not at every refusal
        for _ in range(3):
            self.assertEqual(self.rpc.submit(["/bin/sh"], 5)["code"], 3)
        self.assertEqual(self.bots.log().count("Authorized tasks re-read"), 2)

    def bots_python(self):
        """A Python that nothing else authorizes: a shell script, not on
        the server's PATH."""
        top = tempfile.mkdtemp(prefix="jqpy-")
        self.addCleanup(shutil.rmtree, top, True)
        path = os.path.join(top, "opt", "python3")
        write(path, SHIM % os.path.realpath(sys.executable), 0o755)
        return path


if __name__ == "__main__":
    jqtest.main()
