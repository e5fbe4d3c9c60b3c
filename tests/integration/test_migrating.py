"""doc/migrating.md, run: every command in its ```sh and ```crontab blocks
is run, in order, on a fake Bots 3 and a fake Bots 4 installation (see
fakebots.py), as an administrator's shell and cron run them.  The ```text
block (building and `make install`) is what CI itself runs.

The doc speaks of /usr/local/bin and /etc/default: those paths are
replaced by the fake installation's.  `sudo` runs the command as is, and
`systemctl` is a stand-in that starts the unit's ExecStart the way
systemd would (environment from Environment= and EnvironmentFile=, PATH
/usr/bin:/bin, working directory /)."""

import os
import re
import shutil
import subprocess
import sys
import unittest

import fakebots
import jqtest

DOC = os.path.join(jqtest.SRCDIR, "doc", "migrating.md")
UNIT_IN = os.path.join(jqtest.SRCDIR, "bots-compat", "bots-jobqueueserver.service.in")

SUDO = '#!/bin/sh\nexec "$@"\n'

SYSTEMCTL = r'''#!%(python)s
# systemctl stand-in for doc tests: one unit, started as systemd would
import os, signal, subprocess, sys, time
state = os.environ["FAKE_SYSTEMD_STATE"]
pidfile = os.path.join(state, "pid")
args = [a for a in sys.argv[1:] if not a.startswith("-")]
now = "--now" in sys.argv

def running():
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None

def start():
    env = {"HOME": os.environ["FAKE_SYSTEMD_HOME"], "PATH": "/usr/bin:/bin"}
    cmd = None
    unit = os.environ["FAKE_SYSTEMD_UNIT"]
    dropins = os.path.join(os.environ["FAKE_SYSTEMD_ETC"], os.path.basename(unit) + ".d")
    lines = open(unit).read().splitlines()
    if os.path.isdir(dropins):
        for name in sorted(os.listdir(dropins)):
            if name.endswith(".conf"):
                lines += open(os.path.join(dropins, name)).read().splitlines()
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "Environment":
            k, _, v = value.partition("=")
            env[k] = v
        elif key == "EnvironmentFile":
            path = value.lstrip("-")
            if os.path.exists(path):
                for l in open(path):
                    if "=" in l and not l.startswith("#"):
                        k, _, v = l.strip().partition("=")
                        env[k] = v
        elif key == "ExecStart":
            cmd = value.split()
    out = open(os.path.join(state, "output"), "ab")
    proc = subprocess.Popen(cmd, env=env, cwd="/", stdin=subprocess.DEVNULL,
                            stdout=out, stderr=out, start_new_session=True)
    open(pidfile, "w").write(str(proc.pid))

def stop():
    pid = running()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(2000):
            if running() is None:
                break
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.01)

verb = args[0]
if verb == "daemon-reload":
    pass
elif verb in ("start",) or (verb == "enable" and now):
    if not running():
        start()
elif verb in ("stop",) or (verb == "disable" and now):
    stop()
elif verb in ("status", "is-active"):
    print("active (running)" if running() else "inactive (dead)")
    sys.exit(0 if running() else 3)
'''


def blocks(text, kind):
    return re.findall(r"^ *```%s\n(.*?)^ *```" % kind, text, re.M | re.S)


class MigratingDoc(unittest.TestCase):
    version = 3

    def setUp(self):
        self.bots = fakebots.FakeBots(self.version)
        self.top = self.bots.top
        self.shims = os.path.join(self.top, "shims")
        self.state = os.path.join(self.top, "systemd")
        self.defaults = os.path.join(self.top, "etc-default-bots-jobqueueserver")
        self.etc_systemd = os.path.join(self.top, "etc-systemd-system")
        os.makedirs(self.shims)
        os.makedirs(self.state)
        fakebots.write(os.path.join(self.shims, "sudo"), SUDO, 0o755)
        # python3 first on the administrator's PATH is not Bots' Python
        # (pyenv, a system Python without Bots)
        fakebots.write(os.path.join(self.shims, "python3"),
                       '#!/bin/sh\nexec %s "$@"\n' % sys.executable, 0o755)
        fakebots.write(os.path.join(self.shims, "systemctl"),
                       SYSTEMCTL % {"python": sys.executable}, 0o755)
        for name, target in (("bots-jobqueue-switch", fakebots.SWITCH),
                             ("bots-jobqueue", os.path.join(fakebots.PROGRAMS, "bots-jobqueue"))):
            os.symlink(target, os.path.join(self.shims, name))
        self.unit = os.path.join(self.state, "bots-jobqueueserver.service")
        with open(UNIT_IN) as f:
            unit = f.read().replace("@pkglibexecdir@", fakebots.PROGRAMS)
        with open(self.unit, "w") as f:
            f.write(self.mapped(unit))

    def tearDown(self):
        subprocess.run([os.path.join(self.shims, "systemctl"), "stop", "bots-jobqueueserver"],
                       env=self.admin_env(), timeout=jqtest.DEADLINE)
        self.bots.cleanup()

    def mapped(self, text):
        text = text.replace("/usr/local/bin", self.bots.bin)
        text = text.replace("/etc/default/bots-jobqueueserver", self.defaults)
        text = text.replace("/etc/systemd/system", self.etc_systemd)
        if self.version == 4:
            for name in ("bots-job2queue", "bots-jobqueueserver", "bots-engine"):
                text = text.replace(name + ".py", name)
        return text

    def admin_env(self):
        return self.bots.env(
            path=":".join([self.shims, self.bots.bin, "/usr/bin", "/bin"]),
            BOTS_JOBQUEUE_PROGRAMS=fakebots.PROGRAMS, BOTS_JOBQUEUE_WRAPPER=fakebots.WRAPPER,
            BOTS_JOBQUEUE_SYSTEMD_DIR=self.bots.units(),
            FAKE_SYSTEMD_STATE=self.state, FAKE_SYSTEMD_UNIT=self.unit,
            FAKE_SYSTEMD_ETC=self.etc_systemd,
            FAKE_SYSTEMD_HOME=self.bots.home)

    def shell(self, line):
        r = subprocess.run(["/bin/sh", "-c", line], cwd=self.bots.home, env=self.admin_env(),
                           capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 0, "%s\n%s%s" % (line, r.stdout, r.stderr))
        return r.stdout

    def run_block(self, block):
        out = ""
        # a line ending in a backslash continues; comments stay with the line
        for line in block.replace("\\\n", "").splitlines():
            if line.strip():
                out += self.shell(self.mapped(line))
        return out

    def test_every_command(self):
        with open(DOC) as f:
            doc = f.read()
        sh = blocks(doc, "sh")
        cron = blocks(doc, "crontab")
        self.assertEqual(len(sh), 7, "the test knows seven sh blocks")
        self.assertEqual(len(cron), 1)
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}

        # 2. what you have
        out = self.run_block(sh[0])
        self.assertIn("Bots' script", out)
        self.assertIn(self.bots.pkg, out)

        # 3.1 the Python server still runs: the switch refuses
        server = subprocess.Popen([self.bots.python, self.bots.script(self.bots.names[1]), "--wait"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  cwd=self.bots.home, env=self.bots.env())
        try:
            jqtest.wait_for(lambda: os.path.exists("/proc/%d" % server.pid), "fake server")
            r = subprocess.run(["/bin/sh", "-c", self.mapped(sh[1])], cwd=self.bots.home,
                               env=self.admin_env(), capture_output=True, text=True,
                               timeout=jqtest.DEADLINE)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("stop it first", r.stderr)
        finally:
            server.communicate(b"", timeout=jqtest.DEADLINE)   # stopped "as it was started"

        # 3.2 switch, twice
        self.run_block(sh[1])
        self.run_block(sh[1])
        self.assertIn("switched to bots-jobqueue", self.shell("bots-jobqueue-switch status %s"
                                                               % self.bots.bin))
        # 3.3 the systemd unit
        self.run_block(sh[2])
        jqtest.wait_for(lambda: "Bots jobqueue started." in self.bots.log(), "server start")
        # the crontab line, as cron runs it
        for line in cron[0].splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            command = self.mapped(line).split(None, 5)[5]
            r = self.bots.run(["/bin/sh", "-c", command])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # 4. check
        out = self.run_block(sh[3])
        self.assertIn("OK, job is added to queue" if self.version == 3
                      else "OK, job added to queue.", out)
        self.assertIn("Waiting:", self.run_block(sh[4]))
        runs = [run["argv"][1:] for run in self.bots.engine_runs(2)]
        self.assertIn(["--new"], runs)
        self.assertIn(["--help"], runs)
        self.bots.wait_log("Finished job 2")
        self.assertIn("Bots %d." % self.version, self.bots.log())
        # 5. going back, twice harmless
        self.run_block(sh[5])
        self.run_block(sh[5])
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])

        # Bots upgraded while switched: a new script over a wrapper
        self.run_block(sh[1])
        name = self.bots.names[0]
        newer = ("#!%s\n# a newer Bots\n" % self.bots.python).encode()
        os.unlink(self.bots.script(name))
        with open(self.bots.script(name), "wb") as f:
            f.write(newer)
        os.chmod(self.bots.script(name), 0o755)
        self.assertIn("taking it as Bots' script", self.run_block(sh[6]))
        self.assertIn("switched to bots-jobqueue", self.shell("bots-jobqueue-switch status %s"
                                                               % self.bots.bin))
        self.run_block(sh[5])
        self.assertEqual(self.bots.bytes_of(name), newer)


class MigratingDocBots4(MigratingDoc):
    version = 4


if __name__ == "__main__":
    jqtest.main()
