"""The installed Bots, word for word (issue 20, items 3 and 4): its
version as Bots itself knows it (a literal in the package for Bots 3, the
installed distribution's metadata for Bots 4), its config found as that
version finds it (Bots 4 ships a config template inside its package,
which Bots 4 never reads without -c), and its own server's log lines at
its own levels."""

import os
import re
import signal
import unittest

import fakebots
import jqtest


class Bots4KnownByMetadata(unittest.TestCase):
    """A Bots 4.0.0 whose package holds no version literal: only its
    bots-4.0.0.dist-info (or egg-info) says which Bots it is."""

    def install(self, **kw):
        self.bots = fakebots.FakeBots(4, **kw)
        self.addCleanup(self.bots.cleanup)

    def stop(self):
        for proc in self.bots.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=jqtest.DEADLINE)

    def assert_bots4(self):
        """Served as Bots 4: its log file, format and answers."""
        self.bots.wait_log("Bots 4.0.0.")
        log = self.bots.log()
        self.assertRegex(log, r"(?m)^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d STARTINFO "
                              r"\[bots\.jobqueueserver\] Bots jobqueue started\.$")
        self.assertEqual(self.bots.proxy().addjob(["rm", "-rf", "/"], 5), 3)
        self.assertFalse(os.path.exists(os.path.join(self.bots.pkg, "botssys", "logging",
                                                     "jobqueue.log")))

    def start_by_wrapper(self):
        """Bots' own server script, switched: the wrapper asks Bots' Python
        (importlib.metadata) and passes the answer on."""
        r = self.bots.switch("to")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.bots.start([self.bots.script(self.bots.names[1])],
                        env=self.bots.env(path=self.bots.bin + ":/usr/bin:/bin"))

    def test_dist_info_with_the_config_template(self):
        self.install(template=True)
        self.start_by_wrapper()
        self.assert_bots4()

    def test_dist_info_without_the_config_template(self):
        self.install(template=False)
        self.start_by_wrapper()
        self.assert_bots4()

    def test_egg_info(self):
        self.install(known_by="egg-info")
        self.start_by_wrapper()
        self.assert_bots4()

    def test_our_program_asks_bots_python(self):
        # no wrapper: the C program asks the Python named by Bots' scripts
        self.install(template=True)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(path=self.bots.bin + ":/usr/bin:/bin"))
        self.assert_bots4()

    def test_bots_dir_reads_the_metadata_files(self):
        # BOTS_DIR names the package; no Python is asked at all
        self.install(template=True)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(BOTS_DIR=self.bots.pkg))
        self.assert_bots4()

    def test_bots3_by_its_literal(self):
        self.bots = fakebots.FakeBots(3)
        self.addCleanup(self.bots.cleanup)
        server = os.path.join(fakebots.PROGRAMS, "bots-jobqueueserver")
        self.bots.start([server], env=self.bots.env(BOTS_DIR=self.bots.pkg))
        self.bots.wait_log("Bots 3.3.0.")
        self.assertRegex(self.bots.log(), r"(?m)^\d{8} \d\d:\d\d:\d\d STARTINFO: Bots jobqueue "
                                          r"started\.$")


if __name__ == "__main__":
    jqtest.main()
