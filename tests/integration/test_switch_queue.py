"""What bots-jobqueue-switch says and finds about the queue around a
switch (issue 20, item 5): "back" says what it leaves in botssys (the
journal, jobs waiting, a pause) and how to remove it; "to" says what
waits and whether the queue is paused before it switches, and finds a
Python job queue server of this installation by its port, however it was
started; "to" writes a systemd drop-in with the ReadWritePaths= of this
installation, and "back" removes it."""

import os
import signal
import subprocess
import sys
import unittest

import fakebots
import jqtest

# A Python job queue server started otherwise than through the
# installation's script (another copy, a supervisor's own command line):
# it only holds the port, waiting on stdin.
LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
print("listening", flush=True)
sys.stdin.read()
"""


class SwitchQueue(unittest.TestCase):
    version = 3

    def setUp(self):
        self.bots = fakebots.FakeBots(self.version)
        self.state = os.path.join(self.bots.pkg, "botssys", "jobqueue")
        self.dropin = os.path.join(self.bots.units(), "bots-jobqueueserver.service.d",
                                   "bots-jobqueue-switch.conf")

    def tearDown(self):
        self.bots.cleanup()

    def switch(self, action):
        r = self.bots.switch(action)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (action, r.stdout, r.stderr))
        return r.stdout

    def start_server(self):
        name = self.bots.names[1]
        return self.bots.start([self.bots.script(name), "-cconfig"], cwd="/",
                               env=self.bots.env(path=self.bots.bin + ":/usr/bin:/bin"))

    def stop_server(self, proc):
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=jqtest.DEADLINE)

    def test_back_says_what_it_leaves_and_to_what_waits(self):
        out = self.switch("to")
        self.assertIn("no queue of bots-jobqueue is kept in %s" % self.state, out)
        proc = self.start_server()
        rpc = self.bots.proxy()
        self.assertEqual(rpc.pause(), 0)
        self.assertEqual(rpc.addjob([self.bots.engine_name, "--new"], 5), 0)
        self.stop_server(proc)
        out = self.switch("back")
        self.assertIn("left in place: %s" % self.state, out)
        self.assertIn("1 job waiting", out)
        self.assertIn("the queue is paused", out)
        self.assertIn("rm -r %s" % self.state, out)
        out = self.switch("to")
        self.assertIn("bots-jobqueue's queue kept in %s from before: 1 job waiting" % self.state,
                      out)
        self.assertIn("'--new'", out)
        self.assertIn('the queue is paused. Nothing starts until "bots-jobqueue resume"', out)
        # the words come before the switch
        self.assertLess(out.index("1 job waiting"), out.index("switched (Bots' script kept"))

    def test_to_finds_a_python_server_by_its_port(self):
        before = {n: self.bots.bytes_of(n) for n in self.bots.names}
        proc = subprocess.Popen([self.bots.python, "-c", LISTENER, str(self.bots.port)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=self.bots.env(), cwd="/")
        try:
            self.assertEqual(proc.stdout.readline().strip(), b"listening")
            r = self.bots.switch("to")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("Python job queue server is running on this Bots' port %d (process %d)"
                          % (self.bots.port, proc.pid), r.stderr)
            for n in self.bots.names:
                self.assertEqual(self.bots.bytes_of(n), before[n])
        finally:
            proc.communicate(b"", timeout=jqtest.DEADLINE)
        self.switch("to")

    def test_systemd_dropin(self):
        self.switch("to")
        with open(self.dropin) as f:
            text = f.read()
        botssys = os.path.join(self.bots.pkg, "botssys")
        usersys = os.path.join(self.bots.pkg, "usersys")
        # the contract of bots-jobqueueserver.service's header comment
        config = ("Environment=BOTS_CONFIG_DIR=%s\n" % self.bots.config
                  if self.version == 4 else "")
        self.assertIn("\n[Service]\nEnvironment=BOTS_DIR=%s\n%sReadWritePaths=-%s -%s\n"
                      % (self.bots.pkg, config, botssys, usersys), text)
        self.assertEqual(os.stat(self.dropin).st_mode & 0o777, 0o644)
        self.switch("to")   # already switched: the same file again
        self.switch("back")
        self.assertFalse(os.path.exists(self.dropin))

    def test_dropin_refuses_what_a_unit_would_read_otherwise(self):
        # a botssys from the bots user's bots.ini holding what systemd
        # would read as more than one path (or, on a new line, as a
        # directive run by root): no drop-in, the switch itself goes on
        self.bots.write_ini({"enabled": "True", "port": str(self.bots.port)})
        ini = os.path.join(self.bots.config, "bots.ini")
        with open(ini) as f:
            text = f.read()
        # and one naming a folder the sandbox keeps read-only for root's sake
        for botssys in ("bots sys", "/etc/bots"):
            with open(ini, "w") as f:
                f.write(text.replace("botssys = botssys", "botssys = " + botssys))
            r = self.bots.switch("to")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("no systemd drop-in written", r.stderr)
            self.assertFalse(os.path.exists(self.dropin))


class SwitchQueueBots4(SwitchQueue):
    version = 4

    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.bots.pkg, "botssys", "jobqueue")

    def start_server(self):
        name = self.bots.names[1]
        return self.bots.start([self.bots.script(name)], cwd="/",
                               env=self.bots.env(path=self.bots.bin + ":/usr/bin:/bin"))


if __name__ == "__main__":
    jqtest.main()
