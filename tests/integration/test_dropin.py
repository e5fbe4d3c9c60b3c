"""A Bots installation switches with no change (issue: drop-in): on a fake
Bots 3 and a fake Bots 4 installation, run the way cron and systemd run
things (env -i, HOME, PATH=/usr/bin:/bin, working directory the home
folder or /), our programs find the installation's bots.ini and botssys
as Bots does, answer Bots 3's callers only what they can show, log where,
as and in the zone Bots logs, and bots-jobqueue-switch switches the
scripts and back byte for byte."""

import datetime
import os
import re
import signal
import stat
import subprocess
import sys
import unittest

try:
    from zoneinfo import ZoneInfo
except ImportError:  # Python < 3.9
    ZoneInfo = None

import fakebots
import jqtest


def venv_works():
    try:
        import venv  # noqa: F401
        return True
    except ImportError:
        return False


class Layout(unittest.TestCase):
    version = 3
    venv = False

    def setUp(self):
        self.bots = fakebots.FakeBots(self.version, venv=self.venv)

    def tearDown(self):
        self.bots.cleanup()

    def switch_to(self):
        r = self.bots.switch("to")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def cron_path(self):
        # a crontab with PATH=/usr/local/bin:/usr/bin:/bin
        return self.bots.bin + ":/usr/bin:/bin"

    def start_server(self, cwd="/", args=(), path=None):
        """As an init script or a systemd unit starts it: by its full
        path, short PATH, working directory /.  PATH holds the Bots
        scripts' folder unless given (a systemd unit's is /usr/bin:/bin)."""
        name = self.bots.names[1]
        return self.bots.start([self.bots.script(name)] + list(args), cwd=cwd,
                               env=self.bots.env(path=path or self.cron_path()))

    def stop_servers(self):
        for proc in self.bots.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=jqtest.DEADLINE)

    def crontab_line(self, n=1):
        """The crontab line, run as cron runs it; the engine then runs."""
        r = self.bots.run([self.bots.names[0], "-p3", self.bots.engine_name, "--new"],
                          env=self.bots.env(path=self.cron_path()))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.bots.engine_runs(n)[n - 1]["argv"][1:], ["--new"])

    def assert_zone(self, stamp, fmt):
        if ZoneInfo is None:
            self.skipTest("no zoneinfo")
        when = datetime.datetime.strptime(stamp, fmt).replace(
            tzinfo=ZoneInfo(fakebots.TIME_ZONE))
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - when).total_seconds()), 300,
                        "log stamp %s is not %s time" % (stamp, fakebots.TIME_ZONE))


class Bots3(Layout):
    def test_crontab_line_from_home_and_root(self):
        self.switch_to()
        self.start_server(args=["-cconfig"])
        for n, cwd in enumerate((self.bots.home, "/"), 1):
            r = self.bots.run([self.bots.names[0], "-p3", "bots-engine.py", "--new"],
                              cwd=cwd, env=self.bots.env(path=self.cron_path()))
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job is added to queue"),
                             r.stderr)
            run = self.bots.engine_runs(n)[-1]
            self.assertEqual(run["argv"][1:], ["--new"])
        self.bots.wait_log("Finished job 2")
        log = self.bots.log()
        self.assertIn("Added job 1, priority 3: ['bots-engine.py', '--new']", log)
        self.assertIn("Bots 3.", log)
        stamp = re.search(r"^(\d{8} \d\d:\d\d:\d\d) STARTINFO: Bots jobqueue started\.$",
                          log, re.M)
        self.assertIsNotNone(stamp, log)
        self.assert_zone(stamp.group(1), "%Y%m%d %H:%M:%S")
        self.assertFalse(os.path.exists(os.path.join(self.bots.home, "botssys")))

    def test_wrappers_directly_and_through_python(self):
        self.switch_to()
        self.start_server(cwd=self.bots.home, args=["-cconfig"])
        job2queue = self.bots.script(self.bots.names[0])
        # the monitor's and the directory monitor's form: -cconfig in the task
        calls = ([job2queue, "-p4", "bots-engine.py", "-cconfig", "route1"],
                 [self.bots.python, job2queue, "-p5", "bots-engine.py", "-cconfig", "route2"])
        for n, argv in enumerate(calls, 1):
            for cwd in (self.bots.home, "/"):
                r = self.bots.run(argv, cwd=cwd)
                # added, or a duplicate of the one still waiting
                self.assertIn(r.returncode, (0, 4), r.stderr)
            jqtest.wait_for(lambda: ["-cconfig", "route%d" % n] in
                            [run["argv"][1:] for run in self.bots.engine_runs(1)],
                            "the engine run for route%d" % n)

    def test_bots3_callers_never_get_2_3_or_a_fault(self):
        self.switch_to()
        self.start_server(args=["-cconfig"])
        rpc = self.bots.proxy()
        # what the monitor's Run menu sends, with the server's PATH lacking
        # nothing of it but its own python
        monitor = [self.bots.python, self.bots.engine, "-cconfig", "--new"]
        self.assertEqual(rpc.addjob(monitor, 5), 0)
        # what queues nothing is 1, the error they show (never 0, "added")
        self.assertEqual(rpc.addjob([], 5), 1)
        self.assertEqual(rpc.addjob(["rm", "-rf", "/"], 5), 1)
        self.assertEqual(rpc.submit(["rm", "-rf", "/"], 5)["code"], 3)
        self.bots.wait_log("Task not authorized, not added: ['rm', '-rf', '/']")
        self.assertNotIn("'rm'", str(rpc.listjobs()))
        # our own client still tells the truth, in its own words
        r = self.bots.run([self.bots.names[0], "rm", "-rf", "/"],
                          env=self.bots.env(path=self.cron_path()))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_job2queue_against_bots_own_server(self):
        # Bots' own server has no submit: the client falls back to addjob
        # and prints Bots 3's words for its answers.  (Switched first:
        # "to" refuses while a Python server holds the port.)
        from xmlrpc.server import SimpleXMLRPCServer
        import threading
        answers = []
        self.switch_to()
        server = SimpleXMLRPCServer(("127.0.0.1", self.bots.port), logRequests=False)
        server.register_function(lambda task, prio: answers.append(task) or 4, "addjob")
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            r = self.bots.run([self.bots.script(self.bots.names[0]), "bots-engine.py", "-cconfig"],
                              cwd="/")
            self.assertEqual((r.returncode, r.stdout.strip()), (4, "Duplicate job, not added."),
                             r.stderr)
            self.assertEqual(answers, [["bots-engine.py", "-cconfig"]])
        finally:
            server.shutdown()
            thread.join()
            server.server_close()

    def test_make_install_writes_nothing_of_bots(self):
        dest = os.path.join(self.bots.top, "dest")
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        r = subprocess.run(["make", "-s", "-C", jqtest.BUILDDIR, "install", "DESTDIR=" + dest],
                           env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        bots_names = {"bots-job2queue.py", "bots-jobqueueserver.py", "bots-job2queue",
                      "bots-jobqueueserver", "bots-engine.py", "bots-engine"}
        for folder, _, files in os.walk(dest):
            if os.path.basename(folder) in ("bin", "sbin"):
                self.assertFalse(bots_names & set(files), (folder, files))

    def test_no_config_one_message(self):
        r = self.bots.run([os.path.join(fakebots.PROGRAMS, "bots-job2queue"), "-cnothere",
                           "bots-engine.py"], cwd="/")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("the folder /nothere", r.stderr)
        self.assertNotIn("contact", r.stdout + r.stderr)

    def test_c_program_asks_the_python(self):
        # no wrapper: the program asks the Python named in the environment
        r = self.bots.run([os.path.join(fakebots.PROGRAMS, "bots-job2queue"), "bots-engine.py"],
                          cwd="/", env=self.bots.env(BOTS_JOBQUEUE_PYTHON=self.bots.python))
        # found the fake installation's bots.ini: the server is down, so 1,
        # with Bots 3's words
        self.assertEqual(r.returncode, 1)
        self.assertIn("Error, job not to jobqueue. Can not contact jobqueue-server", r.stdout)

    def test_config_package_on_the_import_path(self):
        # -cmyconf names a package on Bots' Python's path, outside bots:
        # found by the wrapper's Python and by the Python the program asks
        myconf = os.path.join(self.bots.site, "myconf")
        os.makedirs(myconf)
        with open(os.path.join(self.bots.config, "bots.ini")) as f:
            ini = f.read()
        with open(os.path.join(myconf, "bots.ini"), "w") as f:
            f.write(ini.replace("enabled = True", "enabled = False"))
        with open(os.path.join(myconf, "settings.py"), "w") as f:
            f.write("TIME_ZONE = 'UTC'\n")
        self.switch_to()
        program = os.path.join(fakebots.PROGRAMS, "bots-job2queue")
        for argv, env in (([self.bots.script(self.bots.names[0])], self.bots.env()),
                          ([program], self.bots.env(BOTS_JOBQUEUE_PYTHON=self.bots.python))):
            r = self.bots.run(argv + ["-cmyconf", "bots-engine.py"], cwd="/", env=env)
            self.assertEqual(r.returncode, 1)
            self.assertIn("not enabled in %s/bots.ini" % myconf, r.stderr)

    def test_switch_round_trip(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        modes = {n: os.stat(self.bots.script(n)).st_mode for n in self.bots.names}
        self.switch_to()
        for n in self.bots.names:
            self.assertNotEqual(self.bots.bytes_of(n), before[n])
            self.assertEqual(self.bots.bytes_of(n).splitlines()[0],
                             before[n].splitlines()[0])  # Bots' Python
            self.assertEqual(os.stat(self.bots.script(n)).st_mode, modes[n])
        r = self.bots.switch("to")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("already switched", r.stdout)
        r = self.bots.switch("status")
        self.assertIn("switched to bots-jobqueue", r.stdout)
        for _ in range(2):
            r = self.bots.switch("back")
            self.assertEqual(r.returncode, 0, r.stderr)
            for n in self.bots.names:
                self.assertEqual(self.bots.bytes_of(n), before[n])
                self.assertEqual(os.stat(self.bots.script(n)).st_mode, modes[n])
            self.assertFalse([f for f in os.listdir(self.bots.bin) if "bots-original" in f])
        # a switch interrupted after keeping the original: both ways go on
        os.link(self.bots.script(self.bots.names[0]),
                self.bots.script(self.bots.names[0]) + ".bots-original")
        self.assertEqual(self.bots.switch("back").returncode, 0)
        self.assertFalse([f for f in os.listdir(self.bots.bin) if "bots-original" in f])
        os.link(self.bots.script(self.bots.names[0]),
                self.bots.script(self.bots.names[0]) + ".bots-original")
        # and once more there and back
        self.switch_to()
        self.assertEqual(self.bots.switch("back").returncode, 0)
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])

    def test_switch_refuses_to_lose_anything(self):
        # the Python server is running: its queue would be lost
        server = self.bots.script(self.bots.names[1])
        proc = subprocess.Popen([self.bots.python, server, "--wait"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=self.bots.env(),
                                cwd=self.bots.bin)
        try:
            def cmdline():
                with open("/proc/%d/cmdline" % proc.pid) as f:
                    return "--wait" in f.read()
            jqtest.wait_for(cmdline, "the fake Python server")
            r = self.bots.switch("to")
            self.assertEqual(r.returncode, 1)
            self.assertIn("Python job queue server is running", r.stderr)
            self.assertEqual(self.bots.bytes_of(self.bots.names[1]),
                             self.bots.originals[self.bots.names[1]])
        finally:
            proc.communicate(b"", timeout=jqtest.DEADLINE)

    def test_bots_upgraded_while_switched(self):
        # An upgrade writes Bots' new script over our wrapper: "to" and
        # "back" take it as Bots' script, saying so, and neither loses it
        name = self.bots.names[0]
        newer = ("#!%s\n# a newer Bots\nprint('newer')\n" % self.bots.python).encode()
        for action in ("to", "back"):
            self.switch_to()
            self.assertEqual(self.bots.switch("to").returncode, 0)
            os.unlink(self.bots.script(name))        # as pip replaces a file
            with open(self.bots.script(name), "wb") as f:
                f.write(newer)
            os.chmod(self.bots.script(name), 0o755)
            self.assertIn("put there after the switch", self.bots.switch("status").stdout)
            r = self.bots.switch(action)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("taking it as Bots' script", r.stdout)
            if action == "to":
                with open(self.bots.script(name) + ".bots-original", "rb") as f:
                    self.assertEqual(f.read(), newer)
                self.assertIn("switched to bots-jobqueue", self.bots.switch("status").stdout)
                self.assertEqual(self.bots.switch("back").returncode, 0)
            self.assertEqual(self.bots.bytes_of(name), newer)
            self.assertFalse([f for f in os.listdir(self.bots.bin) if "bots-original" in f])

    @unittest.skipIf(os.geteuid() == 0, "root may write anywhere")
    def test_switch_refuses_unwritable_folder(self):
        os.chmod(self.bots.bin, 0o555)
        try:
            r = self.bots.switch("to")
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot write", r.stderr)
        finally:
            os.chmod(self.bots.bin, 0o755)


    def test_engine_by_name_under_a_systemd_path(self):
        # the server's PATH lacks the scripts' folder, as a systemd
        # unit's does: the crontab line's bare bots-engine.py is found in
        # the Bots scripts' folder, and runs by that full path
        self.switch_to()
        self.start_server(args=["-cconfig"], path="/usr/bin:/bin")
        self.crontab_line()
        self.assertEqual(self.bots.engine_runs(1)[0]["argv"][0], self.bots.engine)
        log = self.bots.wait_log("Finished job 1")
        self.assertIn("bots-engine is looked for on PATH (/usr/bin:/bin) and in %s"
                      % self.bots.bin, self.bots.log())

    def test_switch_symlinked_scripts(self):
        # /usr/local/bin/bots-*.py as links into the folder Bots was
        # unpacked in: the wrapper gets the mode and owner of the file
        # linked to (a link's own mode is 0777), never group or other
        # writable nor set-id; back puts the very links back
        opt = os.path.join(self.bots.top, "opt", "bots")
        os.makedirs(opt)
        targets = {}
        for n in self.bots.names:
            targets[n] = os.path.join(opt, n)
            os.rename(self.bots.script(n), targets[n])
            os.symlink(targets[n], self.bots.script(n))
        os.chmod(targets[self.bots.names[0]], 0o775)
        os.chmod(targets[self.bots.names[1]], 0o4755)
        r = self.switch_to()
        self.assertIn("mode 775; the wrapper gets 755", r.stdout)
        for n in self.bots.names:
            st = os.lstat(self.bots.script(n))
            self.assertTrue(stat.S_ISREG(st.st_mode), n)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o755, n)
            target = os.stat(targets[n])
            self.assertEqual((st.st_uid, st.st_gid), (target.st_uid, target.st_gid))
        self.start_server(args=["-cconfig"])
        self.crontab_line()
        self.stop_servers()
        r = self.bots.switch("back")
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in self.bots.names:
            self.assertEqual(os.readlink(self.bots.script(n)), targets[n])
            with open(targets[n], "rb") as f:
                self.assertEqual(f.read(), self.bots.originals[n])
        self.assertFalse([f for f in os.listdir(self.bots.bin) if "bots-original" in f])

    def test_switch_pip_trampoline(self):
        # pip writes a "#!/bin/sh" header when Bots' Python's path holds
        # a space or is longer than 127 bytes; the wrapper keeps it and
        # runs under that Python, and the C programs read it too
        spaced = os.path.join(self.bots.top, "my venv", "bin")
        os.makedirs(spaced)
        python = os.path.join(spaced, "python3")
        os.rename(self.bots.python, python)
        header = "#!/bin/sh\n'''exec' \"%s\" \"$0\" \"$@\"\n' '''\n" % python
        before = {}
        for n in self.bots.names + [self.bots.engine_name]:
            path = self.bots.script(n)
            with open(path) as f:
                body = f.read().split("\n", 1)[1]
            fakebots.write(path, header + body, 0o755)
            before[n] = self.bots.bytes_of(n)
        r = self.bots.run([self.bots.script(self.bots.names[0])])
        self.assertIn("original", r.stdout, r.stderr)   # the form works
        self.switch_to()
        for n in self.bots.names:
            self.assertTrue(self.bots.bytes_of(n).startswith(header.encode()), n)
        r = self.bots.switch("botspath")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, self.bots.pkg), r.stderr)
        self.start_server(args=["-cconfig"])
        self.crontab_line()
        # no wrapper, no BOTS_JOBQUEUE_PYTHON, python3 on PATH without
        # the bots package: Bots' Python is read from the engine's header
        r = self.bots.run([os.path.join(fakebots.PROGRAMS, "bots-job2queue"), "bots-engine.py"],
                          cwd="/", env=self.bots.env(path=self.cron_path()))
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job is added to queue"),
                         r.stderr)
        self.stop_servers()
        self.assertEqual(self.bots.switch("back").returncode, 0)
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])

    def test_switch_refuses_an_unknown_header(self):
        name = self.bots.names[0]
        fakebots.write(self.bots.script(name), "#!/bin/sh\nexec python3 -m bots.job2queue\n",
                       0o755)
        r = self.bots.switch("to")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("does not name its Python", r.stderr)
        self.assertFalse([f for f in os.listdir(self.bots.bin) if "bots-original" in f])

    def test_status_finds_bots_python_from_the_scripts(self):
        # python3 first on PATH is not Bots' (pyenv, a system Python):
        # the admin command asks the Python named by Bots' scripts
        self.switch_to()
        self.start_server(args=["-cconfig"])
        shims = os.path.join(self.bots.top, "shims")
        fakebots.write(os.path.join(shims, "python3"),
                       '#!/bin/sh\nexec %s "$@"\n' % sys.executable, 0o755)
        r = self.bots.run([os.path.join(fakebots.PROGRAMS, "bots-jobqueue"), "status"],
                          cwd=self.bots.home,
                          env=self.bots.env(path=shims + ":" + self.cron_path()))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_back_refuses_while_our_server_runs(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        self.switch_to()
        self.start_server(args=["-cconfig"])
        r = self.bots.switch("back")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("bots-jobqueueserver is running for this Bots", r.stderr)
        r = self.bots.switch("status")
        self.assertIn("switched to bots-jobqueue", r.stdout)
        self.stop_servers()
        self.assertEqual(self.bots.switch("back").returncode, 0)
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])


class Bots3Source(Layout):
    """Bots 3 unpacked and run in place: /opt/src3/bots-engine.py beside
    /opt/src3/bots/, its Python finding the package only as the scripts'
    neighbour."""

    def setUp(self):
        self.bots = fakebots.FakeBots(3, source=True, interpreter="/usr/bin/python3")

    def test_botspath_is_the_scripts_neighbour(self):
        # from a folder holding another bots package, and from /
        decoy = os.path.join(self.bots.top, "elsewhere")
        fakebots.write(os.path.join(decoy, "bots", "__init__.py"), "")
        for cwd in (decoy, "/"):
            r = self.bots.run([fakebots.SWITCH, "botspath", self.bots.bin], cwd=cwd)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, self.bots.pkg), r.stderr)

    def test_monitor_and_crontab_line(self):
        # the server's PATH lacks the source folder (a systemd unit's)
        self.switch_to()
        self.start_server(args=["-cconfig"], path="/usr/bin:/bin")
        rpc = self.bots.proxy()
        # what the monitor's Run menu sends: its Python, the engine beside it
        monitor = ["/usr/bin/python3", self.bots.engine, "-cconfig", "--new"]
        self.assertEqual(rpc.submit(monitor, 5)["code"], 0, self.bots.log())
        self.assertEqual(self.bots.engine_runs(1)[0]["argv"][1:], ["-cconfig", "--new"])
        self.bots.wait_log("Finished job 1")
        self.crontab_line(2)


class Bots4(Layout):
    version = 4

    def test_monitor_addjob_under_a_systemd_path(self):
        # Bots 4's monitor: addjob(['bots-engine', '-cconfig', '--new'], 5),
        # the server's PATH without the scripts' folder
        self.switch_to()
        self.start_server(path="/usr/bin:/bin")
        self.assertEqual(self.bots.proxy().addjob(["bots-engine", "-cconfig", "--new"], 5), 0,
                         self.bots.log())
        run = self.bots.engine_runs(1)[0]
        self.assertEqual(run["argv"][1:], ["-cconfig", "--new"])

    def test_crontab_line_and_log(self):
        self.switch_to()
        self.start_server()   # no -c: ~/.bots/env/default/config
        r = self.bots.run([self.bots.names[0], "-p3", "bots-engine", "--new"],
                          env=self.bots.env(path=self.cron_path()))
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job added to queue."),
                         r.stderr)
        run = self.bots.engine_runs(1)[0]
        self.assertEqual(run["argv"][1:], ["--new"])
        self.bots.wait_log("Finished job 1")
        log = self.bots.log()
        m = re.search(r"^(\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d) STARTINFO "
                      r"\[bots\.jobqueueserver\] Bots jobqueue started\.$", log, re.M)
        self.assertIsNotNone(m, log)
        self.assert_zone(m.group(1), "%Y.%m.%d %H:%M:%S")
        self.assertRegex(log, r"\d\d INFO      \[bots\.jobqueueserver\] Added job 1, priority 3")
        # Bots 4 answers its callers truly
        self.assertEqual(self.bots.proxy().addjob(["rm", "-rf", "/"], 5), 3)

    def test_bots_config_dir_and_botsenv(self):
        other = os.path.join(self.bots.top, "elsewhere", "config")
        os.makedirs(other)
        with open(os.path.join(self.bots.config, "bots.ini")) as f:
            ini = f.read()
        with open(os.path.join(other, "bots.ini"), "w") as f:
            f.write(ini)
        os.unlink(os.path.join(self.bots.config, "bots.ini"))
        job2queue = os.path.join(fakebots.PROGRAMS, "bots-job2queue")
        env = self.bots.env(BOTS_JOBQUEUE_PYTHON=self.bots.python)
        r = self.bots.run([job2queue, "bots-engine"], cwd="/", env=env)
        self.assertIn(".bots/env/default/config", r.stderr)
        for extra in ({"BOTS_CONFIG_DIR": other},
                      {"BOTSENV": "prod"}):
            if "BOTSENV" in extra:
                prod = os.path.join(self.bots.home, ".bots", "env", "prod", "config")
                os.makedirs(prod)
                with open(os.path.join(prod, "bots.ini"), "w") as f:
                    f.write(ini)
            r = self.bots.run([job2queue, "bots-engine"], cwd="/", env=dict(env, **extra))
            # found: the server is down, so "not added", nothing about a config
            self.assertEqual(r.returncode, 1)
            self.assertIn("Can not contact jobqueue-server", r.stdout, r.stderr)


@unittest.skipUnless(fakebots.python2(), "no Python 2")
class Bots3Python2(Layout):
    """Bots 3.3 on Python 2.7: the wrappers run under it."""

    def setUp(self):
        self.bots = fakebots.FakeBots(3, interpreter=fakebots.python2())

    def test_crontab_line_and_switch_back(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        self.switch_to()
        self.start_server(args=["-cconfig"])
        r = self.bots.run([self.bots.names[0], "-p3", "bots-engine.py", "--new"],
                          env=self.bots.env(path=self.cron_path()))
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "OK, job is added to queue"),
                         r.stderr)
        self.assertEqual(self.bots.engine_runs(1)[0]["argv"][1:], ["--new"])
        self.bots.wait_log("Bots 3.")
        for proc in self.bots.procs:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=jqtest.DEADLINE)
        self.assertEqual(self.bots.switch("back").returncode, 0)
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])


@unittest.skipUnless(venv_works(), "python3 -m venv is not available")
class Bots3Virtualenv(Layout):
    venv = True

    def test_switch_and_crontab_line(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        self.switch_to()
        self.start_server(args=["-cconfig"])
        r = self.bots.run([self.bots.script(self.bots.names[0]), "bots-engine.py"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.bots.engine_runs(1)
        for proc in self.bots.procs:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=jqtest.DEADLINE)
        self.assertEqual(self.bots.switch("back").returncode, 0)
        for n in self.bots.names:
            self.assertEqual(self.bots.bytes_of(n), before[n])


if __name__ == "__main__":
    jqtest.main()
