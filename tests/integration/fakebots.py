"""A small fake Bots installation, written for these tests (no Bots code):
a `bots` package with a version, a config folder (settings.py with a
TIME_ZONE, bots.ini), and a scripts folder holding Bots' job queue
scripts (which only say they are Bots') and an engine that records its
arguments, environment and working directory.

Layouts:
  version 3: <prefix>/lib/site-packages/bots/config (config inside the
             package), scripts bots-job2queue.py, bots-jobqueueserver.py,
             bots-engine.py
  version 4: ~/.bots/env/<BOTSENV>/config, scripts without .py; its
             version known only by its distribution's metadata
             (bots-4.0.0.dist-info/METADATA beside the package, as pip
             installs it; known_by="egg-info": bots.egg-info/PKG-INFO;
             known_by="literal": __version__ = "4.0.0" in __about__.py;
             known_by="editable": pip install -e of a source tree, with
             venv=True),
             and with template=True (the default, as Bots 4 ships) the
             package's own config/ template, not enabled
The Python of the installation is <prefix>/bin/python3, a small script
that runs the tests' Python with <prefix>/lib/pythonX.Y/site-packages on
its path, as a Python with Bots installed has.  With venv=True it is a
real virtualenv.  With source=True it is Bots 3 unpacked and run in
place: the scripts beside the bots package folder (<top>/src3/bots), run
by the tests' own Python, which finds the package only because Python
puts a script's folder first on its path.

Everything is run the way cron and systemd run it: env -i with HOME and
a short PATH."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import jqtest

# Far from UTC and without summer time, so a log in the system's zone
# cannot pass for one in this zone.
TIME_ZONE = "Asia/Tokyo"
SWITCH = os.path.join(jqtest.BUILDDIR, "src", "bots-jobqueue-switch")
WRAPPER = os.path.join(jqtest.SRCDIR, "bots-compat", "bots-jobqueueserver.py")
PROGRAMS = os.path.join(jqtest.BUILDDIR, "src")

ENGINE = """#!%(python)s
# fake bots-engine: records what it was given
import json, os, sys
with open(%(runs)r, "a") as f:
    f.write(json.dumps({"argv": sys.argv, "cwd": os.getcwd(),
                        "env": dict(os.environ)}) + "\\n")
"""

# Bots' own job queue scripts stand-ins.  The server one waits on stdin,
# so a test can keep a "Python server" running.
ORIGINAL = """#!%(python)s
# -*- coding: utf-8 -*-
# Bots' own %(name)s (a stand-in written by the tests): %(marker)s
import sys
if %(server)r and "--wait" in sys.argv:
    sys.stdin.read()
print("original %(name)s")
"""


def python2():
    """A Python 2 interpreter (Bots 3.3 ran on 2.7), or None."""
    for candidate in ("/usr/bin/python2.7", "/usr/bin/python2",
                      os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python2.7")):
        try:
            r = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[0])"],
                               capture_output=True, text=True, timeout=10)
        except OSError:
            continue
        if r.stdout.strip() == "2":
            return candidate
    return None


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class FakeBots:
    def __init__(self, version=3, venv=False, botsenv="default", jobqueue=None,
                 interpreter=None, source=False, known_by="dist-info", template=True):
        self.version = version
        self.top = tempfile.mkdtemp(prefix="jqfake-")
        self.home = os.path.join(self.top, "home", "bots")
        os.makedirs(self.home)
        self.runs = os.path.join(self.top, "runs.jsonl")
        self.port = jqtest.free_port()
        if venv:
            self.prefix = os.path.join(self.top, "venv")
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", self.prefix],
                           check=True, capture_output=True)
            self.bin = os.path.join(self.prefix, "bin")
            self.python = os.path.join(self.bin, "python3")
            self.site = subprocess.run(
                [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                check=True, capture_output=True, text=True).stdout.strip()
        elif source:
            self.prefix = self.bin = self.site = os.path.join(self.top, "src3")
            self.python = interpreter or sys.executable
        else:
            self.prefix = os.path.join(self.top, "usr", "local")
            self.bin = os.path.join(self.prefix, "bin")
            self.site = os.path.join(self.prefix, "lib", "python%d.%d" % sys.version_info[:2],
                                     "site-packages")
            self.python = os.path.join(self.bin, "python3")
            write(self.python, '#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n'
                  % (self.site, interpreter or sys.executable), 0o755)
        self.pkg = os.path.join(self.site, "bots")
        if known_by == "editable":
            # pip install -e: the package stays in the source tree, a .pth
            # file puts it on the path (processed in a real site folder:
            # use with venv=True), the metadata lists no file of it
            self.pkg = os.path.join(self.top, "src", "bots")
            write(os.path.join(self.site, "__editable__.bots-4.0.0.pth"),
                  os.path.dirname(self.pkg) + "\n")
        write(os.path.join(self.pkg, "__init__.py"), "")
        if version == 3:
            write(os.path.join(self.pkg, "botsglobal.py"),
                  "#Globals\nversion = '3.3.0'       #bots version\ndb = None\n")
            self.config = os.path.join(self.pkg, "config")
            self.names = ["bots-job2queue.py", "bots-jobqueueserver.py"]
            self.engine_name = "bots-engine.py"
            self.log_path = os.path.join(self.pkg, "botssys", "logging", "jobqueue.log")
        else:
            self.write_version4(known_by, template)
            self.config = os.path.join(self.home, ".bots", "env", botsenv, "config")
            self.names = ["bots-job2queue", "bots-jobqueueserver"]
            self.engine_name = "bots-engine"
            self.log_path = os.path.join(self.pkg, "botssys", "logging", "jobqueue",
                                         "jobqueue.log")
        write(os.path.join(self.config, "__init__.py"), "")
        write(os.path.join(self.config, "settings.py"),
              "import os\nDEBUG = False\nTIME_ZONE = '%s'\nUSE_TZ = False\n" % TIME_ZONE)
        jq = {"enabled": "True", "port": str(self.port), "log_console": "False",
              "stop_grace": "1"}
        jq.update(jobqueue or {})
        self.write_ini(jq)
        self.engine = os.path.join(self.bin, self.engine_name)
        write(self.engine, ENGINE % {"python": self.python, "runs": self.runs}, 0o755)
        self.originals = {}
        for name in self.names:
            text = ORIGINAL % {"python": self.python, "name": name,
                               "server": "server" in name, "marker": os.urandom(8).hex()}
            write(os.path.join(self.bin, name), text, 0o755)
            self.originals[name] = text.encode()
        self.procs = []

    def write_version4(self, known_by, template):
        """Bots 4 reads its version with importlib.metadata: the package
        holds no literal, the distribution's metadata has it."""
        if known_by == "literal":
            write(os.path.join(self.pkg, "__about__.py"), '__version__ = "4.0.0"\n')
        else:
            write(os.path.join(self.pkg, "__about__.py"),
                  'from importlib.metadata import version\n__version__ = version("bots")\n')
        head = "Metadata-Version: 2.1\nName: bots\nVersion: 4.0.0\nSummary: EDI translator\n\n"
        if known_by == "editable":
            info = os.path.join(self.site, "bots-4.0.0.dist-info")
            write(os.path.join(info, "METADATA"), head)
            write(os.path.join(info, "RECORD"), "__editable__.bots-4.0.0.pth,,\n")
        elif known_by == "dist-info":
            info = os.path.join(self.site, "bots-4.0.0.dist-info")
            write(os.path.join(info, "METADATA"), head + "Version: 9.9 (a body line)\n")
            write(os.path.join(info, "top_level.txt"), "bots\n")
            write(os.path.join(info, "RECORD"), "bots/__init__.py,,\nbots/__about__.py,,\n")
        elif known_by == "egg-info":
            info = os.path.join(self.site, "bots-4.0.0-py3.egg-info")
            write(os.path.join(info, "PKG-INFO"), head)
            write(os.path.join(info, "SOURCES.txt"), "setup.py\nbots/__init__.py\n")
        # another distribution beside it, with its own version
        other = os.path.join(self.site, "a_other-1.2.dist-info")
        write(os.path.join(other, "METADATA"), "Name: a-other\nVersion: 1.2\n\n")
        write(os.path.join(other, "top_level.txt"), "a_other\n")
        if template:
            tpl = os.path.join(self.pkg, "config")
            write(os.path.join(tpl, "__init__.py"), "")
            write(os.path.join(tpl, "settings.py"), "TIME_ZONE = 'UTC'\n")
            write(os.path.join(tpl, "bots.ini"),
                  "[directories]\nbotssys = botssys\n\n[jobqueue]\nenabled = False\n")

    def write_ini(self, jq, extra=""):
        lines = ["[settings]", "maxruntime = 60", "", "[directories]", "botssys = botssys",
                 "", "[jobqueue]"] + ["%s = %s" % kv for kv in jq.items()]
        write(os.path.join(self.config, "bots.ini"), "\n".join(lines) + "\n" + extra)

    def script(self, name):
        return os.path.join(self.bin, name)

    def env(self, path="/usr/bin:/bin", **more):
        """What cron or a systemd unit gives: HOME and a short PATH."""
        env = {"HOME": self.home, "PATH": path, "LC_ALL": "C.UTF-8"}
        env.update(more)
        return env

    def run(self, argv, cwd=None, env=None, timeout=jqtest.DEADLINE, **kw):
        return subprocess.run(argv, cwd=cwd or self.home, env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout, **kw)

    def units(self):
        """Where the switch writes its systemd drop-in in the tests (never
        the machine's /etc/systemd/system)."""
        path = os.path.join(self.top, "systemd-units")
        os.makedirs(path, exist_ok=True)
        return path

    def switch(self, action, folder=None):
        env = self.env(BOTS_JOBQUEUE_PROGRAMS=PROGRAMS, BOTS_JOBQUEUE_WRAPPER=WRAPPER,
                       BOTS_JOBQUEUE_SYSTEMD_DIR=self.units())
        return self.run([SWITCH, action, folder or self.bin], env=env)

    def start(self, argv, cwd="/", env=None):
        """Starts a server process; returns it once the port answers."""
        proc = subprocess.Popen(argv, cwd=cwd, env=env or self.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)

        def up():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError("server exited %s: %s %s" % (proc.returncode, out, err))
            try:
                jqtest.socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        jqtest.wait_for(up, "server on port %d" % self.port)
        return proc

    def proxy(self):
        return jqtest.xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % self.port)

    def engine_runs(self, n):
        def read():
            if not os.path.exists(self.runs):
                return None
            with open(self.runs) as f:
                runs = [json.loads(line) for line in f if line.strip()]
            return runs if len(runs) >= n else None
        return jqtest.wait_for(read, "%d engine run(s)" % n)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text):
        return jqtest.wait_for(lambda: text in self.log(),
                               "%r in %s:\n%s" % (text, self.log_path, self.log()[-2000:]))

    def bytes_of(self, name):
        with open(os.path.join(self.bin, name), "rb") as f:
            return f.read()

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.communicate(timeout=jqtest.DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        shutil.rmtree(self.top, ignore_errors=True)
