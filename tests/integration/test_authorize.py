"""Authorization on real files (PROTOCOL section 6), tried as a local
attacker would: symlinks that fold to an authorized path as text but lead
the kernel into a tree of the attacker's, a relative script planted in the
folder the server was started from, a link swapped between addjob and the
start.  Every planted program writes a marker file when it runs; no test
may find that marker.  And what Bots itself sends is accepted although
the Bots scripts' folder is not on the server's PATH."""

import os
import shutil
import signal
import sys
import tempfile

import jqtest

RECORDER = """#!%s
import os, sys
with open(%r, "a") as f:
    f.write(repr([os.getcwd()] + sys.argv) + "\\n")
"""

HOLDER = "#!/bin/sh\nwhile [ ! -e \"$1\" ]; do sleep 0.01; done\n"

PLANTED = "#!/bin/sh\necho ran >> %s\n"


class Attacks(jqtest.ServerTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jqauth-")
        # The Bots scripts' folder, on the server's PATH.
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        self.runs = os.path.join(self.tmp, "runs")
        for name in ("bots-engine", "bots-engine.py"):
            self.write_exec(os.path.join(self.bin, name),
                            RECORDER % (sys.executable, self.runs))
        # What the attacker owns.
        self.evil = os.path.join(self.tmp, "evil")
        self.marker = os.path.join(self.tmp, "PLANTED-PROGRAM-RAN")
        self.python = shutil.which("python3")
        self.env = {"PATH": self.bin + os.pathsep + os.environ["PATH"]}
        # Only the holder is authorized beyond Bots' own forms: an
        # authorized interpreter would authorize every script.
        self.holder = os.path.join(self.tmp, "holder")
        self.write_exec(self.holder, HOLDER)
        self.jobqueue = {"authorized_tasks": self.holder}
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def write_exec(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def plant(self, path):
        self.write_exec(path, PLANTED % self.marker)

    def trap(self, target, name="lnk"):
        """A path that folds as text to @target but that the kernel
        resolves, through the symlink @name, to the attacker's copy of it
        (which is planted)."""
        depth = len(self.tmp.strip("/").split("/"))
        n = depth + 2
        inner = os.path.join(self.evil, name, *["x"] * n)
        os.makedirs(inner)
        os.symlink(inner, os.path.join(self.tmp, name))
        self.plant(os.path.join(self.evil, name, target.lstrip("/")))
        text = os.path.join(self.tmp, name, *[".."] * n, target.lstrip("/"))
        self.assertEqual(os.path.normpath(text), target)
        self.assertNotEqual(os.path.realpath(text), os.path.realpath(target))
        return text

    def engine_runs(self, n):
        def read():
            if not os.path.exists(self.runs):
                return None
            with open(self.runs) as f:
                lines = [eval(line) for line in f.read().splitlines()]
            return lines if len(lines) >= n else None
        return jqtest.wait_for(read, "%d engine runs" % n)

    def assert_refused(self, task):
        self.assertEqual(self.rpc.submit(task, 5)["code"], 3, task)

    def assert_nothing_planted_ran(self):
        # Every accepted job has ended before this is called; a refused
        # one never started.
        self.assertFalse(os.path.exists(self.marker), "a planted program ran")

    def test_python_through_symlink(self):
        task = [self.trap(self.python), os.path.join(self.bin, "bots-engine.py"), "-cconfig"]
        self.assert_refused(task)
        self.assert_nothing_planted_ran()

    def test_engine_through_symlink(self):
        self.assert_refused([self.trap(os.path.join(self.bin, "bots-engine")), "-cconfig"])
        self.assert_refused([self.trap(os.path.join(self.bin, "bots-engine.py"), "l2"), "-cconfig"])
        self.assert_nothing_planted_ran()

    def test_script_through_symlink(self):
        task = ["python3", self.trap(os.path.join(self.bin, "bots-engine.py")), "-cconfig"]
        self.assert_refused(task)
        self.assert_nothing_planted_ran()

    def test_hard_to_resolve(self):
        # Nothing that does not exist, loops, or is too long is accepted.
        os.symlink("loop", os.path.join(self.tmp, "loop"))
        for task in (["/nonexistent/bots-engine"],
                     [os.path.join(self.tmp, "loop", "..", "bin", "bots-engine")],
                     ["/" + "a/" * 3000 + "bots-engine"],
                     ["python3", "/nonexistent/bots-engine.py"],
                     ["bots-engine\n20261127 14:03:07 INFO     : Finished job 9/../bots-engine"]):
            self.assert_refused(task)

    def test_accepted_spellings_run_the_real_engine(self):
        """Another spelling of the real file is the real file: it runs, and
        it runs as the authorized path, not as the text sent."""
        os.symlink(self.bin, os.path.join(self.tmp, "alias"))
        alias = os.path.join(self.tmp, "alias", "bots-engine.py")
        self.assertEqual(self.rpc.addjob([self.python, alias, "-ca"], 5), 0)
        self.assertEqual(self.rpc.addjob([os.path.join(self.bin, "..", "bin", "bots-engine"), "-cb"], 5), 0)
        runs = self.engine_runs(2)
        self.assertEqual(runs[0][1:], [os.path.join(self.bin, "bots-engine.py"), "-ca"])
        self.assertEqual(runs[1][1:], [os.path.join(self.bin, "bots-engine"), "-cb"])

    def test_link_swapped_after_addjob(self):
        """The decision and the file executed are the same: a link that
        pointed at the real engine at addjob and at the attacker's file at
        the start does not run the attacker's file."""
        gate = self.bots.path("gate")
        self.assertEqual(self.rpc.addjob([self.holder, gate], 5), 0)
        self.bots.wait_log("Starting job 1")
        link = os.path.join(self.tmp, "swap")
        os.symlink(self.bin, link)
        self.assertEqual(self.rpc.addjob([self.python, os.path.join(link, "bots-engine.py")], 5), 0)
        self.plant(os.path.join(self.evil, "bots-engine.py"))
        os.unlink(link)
        os.symlink(self.evil, link)
        open(gate, "w").close()
        self.bots.wait_log("Finished job 1")
        jqtest.wait_for(lambda: "Error starting job 2" in self.bots.log()
                        or "Finished job 2" in self.bots.log(), "job 2 to end")
        self.assert_nothing_planted_ran()


class WorkingDirectory(jqtest.ServerTestCase):
    """A server started in a folder anyone can write: a relative script
    there is not what runs."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jqcwd-")
        self.marker = os.path.join(self.tmp, "PLANTED-PROGRAM-RAN")
        self.runs = os.path.join(self.tmp, "runs")
        self.bin = os.path.join(self.tmp, "bin")
        Attacks.write_exec(os.path.join(self.bin, "bots-engine.py"),
                           RECORDER % (sys.executable, self.runs))
        self.writable = os.path.join(self.tmp, "writable")
        os.makedirs(self.writable)
        Attacks.write_exec(os.path.join(self.writable, "bots-engine.py"),
                           "import os\nopen(%r, 'w').close()\n" % self.marker)
        # nothing listed: an authorized interpreter would authorize any script
        self.bots = jqtest.BotsDir({"authorized_tasks": ""})
        env = {"PATH": self.bin + os.pathsep + os.environ["PATH"]}
        self.server = jqtest.Server(self.bots, env=env, cwd=self.writable)
        self.rpc = self.server.proxy()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_relative_script_is_judged_from_the_job_folder(self):
        self.assertEqual(self.rpc.submit(["python3", "bots-engine.py", "-cconfig"], 5)["code"], 3)
        self.assertFalse(os.path.exists(self.marker))

    def test_job_runs_in_the_bots_folder(self):
        self.assertEqual(self.rpc.addjob(["bots-engine.py", "-cconfig"], 5), 0)
        jqtest.wait_for(lambda: os.path.exists(self.runs), "the engine to run")
        self.bots.wait_log("Finished job 1")
        with open(self.runs) as f:
            cwd = eval(f.readline())[0]
        self.assertEqual(cwd, os.path.realpath(self.bots.root))
        # and a relative script there is the one judged and run
        os.symlink(os.path.join(self.bin, "bots-engine.py"), self.bots.path("bots-engine.py"))
        self.assertEqual(self.rpc.addjob(["python3", "bots-engine.py", "-cx"], 5), 0)
        self.bots.wait_log("Finished job 2")
        self.assertFalse(os.path.exists(self.marker))


class BotsSends(jqtest.ServerTestCase):
    """What Bots' monitor and directory monitor send, with a server PATH
    (as a systemd unit's) that lacks the Bots scripts' folder."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jqbots-")
        # A virtualenv-like prefix: <venv>/bin holds the scripts and the
        # Python, <venv>/lib/python3.X/site-packages/bots the package.
        self.venv = os.path.join(self.tmp, "venv")
        self.scripts = os.path.join(self.venv, "bin")
        self.runs = os.path.join(self.tmp, "runs")
        for name in ("bots-engine", "bots-engine.py"):
            Attacks.write_exec(os.path.join(self.scripts, name),
                               RECORDER % (sys.executable, self.runs))
        os.symlink(sys.executable, os.path.join(self.scripts, "python"))
        self.env = {"PATH": "/usr/bin:/bin"}
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def restart(self, settings):
        self.rpc("close")()
        self.server.stop()
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port),
                             "log_console": "False", "stop_grace": "1"}, settings)
        # as systemd starts it: from /, with a short PATH
        self.server = jqtest.Server(self.bots, env=self.env, cwd="/")
        self.rpc = self.server.proxy()

    def test_monitor_with_settings(self):
        engine = os.path.join(self.scripts, "bots-engine.py")
        python = os.path.join(self.scripts, "python")
        self.restart({"python_executable_path": python, "botsengine_path": engine})
        self.assertEqual(self.rpc.addjob([python, engine, "-cconfig", "--new"], 5), 0)
        # the directory monitor: the same, with an empty route
        self.assertEqual(self.rpc.addjob([python, engine, "-c" + self.bots.config, ""], 5), 0)
        runs = self.engine_runs(2)
        self.assertEqual(runs[0][1:], [engine, "-cconfig", "--new"])
        # another Python or another script is not authorized by these
        self.assertEqual(self.rpc.submit([python, "/bin/true"], 5)["code"], 3)
        self.assertEqual(self.rpc.submit(["/bin/true", engine], 5)["code"], 3)

    engine_runs = Attacks.engine_runs

    def test_scripts_folder_of_the_bots_package(self):
        """No [settings] paths: the scripts' folder is the bin/ of the
        prefix the bots package is installed in."""
        package = os.path.join(self.venv, "lib", "python3.11", "site-packages", "bots")
        os.makedirs(package)
        shutil.move(self.bots.config, os.path.join(package, "config"))
        self.bots.config = os.path.join(package, "config")
        self.bots.log_path = os.path.join(package, "botssys", "logging", "jobqueue.log")
        self.restart({})
        engine = os.path.join(self.scripts, "bots-engine.py")
        self.assertEqual(self.rpc.addjob([self.scripts + "/python", engine, "-cconfig"], 5), 0)
        self.assertEqual(self.rpc.addjob([os.path.join(self.scripts, "bots-engine"), "-cconfig"], 5), 0)
        # the directory monitor under a system Python (on PATH)
        system = shutil.which("python3", path="/usr/bin:/bin")
        if system:
            self.assertEqual(self.rpc.addjob([system, engine, "-cconfig", ""], 5), 0)
        runs = self.engine_runs(3 if system else 2)
        # jobs run in the Bots folder, the bots package here
        self.assertEqual({r[0] for r in runs}, {os.path.realpath(package)})
        # a bare engine name, not on the server's PATH, is found in the
        # scripts' folder and runs by that full path; other bare names
        # are not looked for there
        self.assertEqual(self.rpc.submit(["bots-engine", "--new"], 5)["code"], 0)
        self.assertEqual(self.rpc.submit(["bots-engine.py", "--new"], 5)["code"], 0)
        runs = self.engine_runs((3 if system else 2) + 2)
        self.assertEqual(runs[-2][1:], [os.path.join(self.scripts, "bots-engine"), "--new"])
        self.assertEqual(runs[-1][1:], [os.path.join(self.scripts, "bots-engine.py"), "--new"])
        self.assertEqual(self.rpc.submit(["python", engine], 5)["code"], 3)

    def test_source_layout(self):
        """Bots 3 run in place: the scripts beside the bots package
        folder, nothing in [settings], nothing on the server's PATH."""
        src = os.path.join(self.tmp, "src3")
        package = os.path.join(src, "bots")
        os.makedirs(package)
        shutil.move(self.bots.config, os.path.join(package, "config"))
        self.bots.config = os.path.join(package, "config")
        self.bots.log_path = os.path.join(package, "botssys", "logging", "jobqueue.log")
        engine = os.path.join(src, "bots-engine.py")
        shutil.move(os.path.join(self.scripts, "bots-engine.py"), engine)
        planted = os.path.join(src, "other.py")
        Attacks.write_exec(planted, PLANTED % os.path.join(self.tmp, "planted"))
        self.restart({})
        self.assertIn("and in %s" % os.path.realpath(src), self.bots.log())
        system = shutil.which("python3", path="/usr/bin:/bin")
        if system:   # the monitor, under a system Python
            self.assertEqual(self.rpc.submit([system, engine, "-cconfig", "--new"], 5)["code"], 0)
            self.assertEqual(self.rpc.submit([system, planted], 5)["code"], 3)
        # the crontab line's bare name
        self.assertEqual(self.rpc.submit(["bots-engine.py", "--new"], 5)["code"], 0)
        runs = self.engine_runs(2 if system else 1)
        self.assertEqual(runs[-1][1:], [os.path.realpath(engine), "--new"])
        self.assertEqual(self.rpc.submit(["other.py"], 5)["code"], 3)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "planted")))


if __name__ == "__main__":
    jqtest.main()
