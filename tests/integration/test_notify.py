"""systemd integration: readiness, status line and watchdog, received on a
fake NOTIFY_SOCKET as systemd would receive them."""

import os
import socket
import subprocess

import jqtest


def built_with_notify():
    r = subprocess.run([jqtest.SERVER, "--version"], capture_output=True, text=True)
    return "(systemd notify)" in r.stdout


class Notify(jqtest.unittest.TestCase):

    def setUp(self):
        if not built_with_notify():
            self.skipTest("built without libsystemd")
        self.bots = jqtest.BotsDir({"authorized_tasks": "*"})
        self.path = self.bots.path("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(jqtest.DEADLINE)
        self.server = jqtest.Server(self.bots, env={"NOTIFY_SOCKET": self.path,
                                                    "WATCHDOG_USEC": "400000"})

    def tearDown(self):
        self.server.stop()
        self.sock.close()
        self.bots.cleanup()

    def receive_until(self, text):
        seen = []
        while True:
            msg = self.sock.recv(4096).decode()
            seen.append(msg)
            if text in msg:
                return seen

    def test_ready_status_watchdog(self):
        seen = self.receive_until("READY=1")
        self.assertIn("STATUS=idle, 0 waiting", seen[-1])
        self.receive_until("WATCHDOG=1")
        proxy = self.server.proxy()
        gate = self.bots.path("gate")
        proxy.addjob([jqtest.PYTHON, jqtest.JOB, self.bots.path("e"), "h", "--wait", gate], 5)
        proxy.addjob(["sh", "-c", "true"], 5)
        self.receive_until("STATUS=running job 1, 1 waiting")
        proxy.pause()
        self.receive_until("STATUS=paused; running job 1, 1 waiting")
        proxy.resume()
        open(gate, "w").close()
        self.receive_until("STATUS=idle, 0 waiting")
        proxy("close")()
        self.server.proc.send_signal(jqtest.signal.SIGTERM)
        self.receive_until("STOPPING=1")


if __name__ == "__main__":
    jqtest.main()
