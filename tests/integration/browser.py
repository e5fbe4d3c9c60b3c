"""Headless Chromium driven over its DevTools protocol, Python stdlib only.

Chromium's --remote-debugging-pipe reads commands from fd 3 and writes
answers and events to fd 4, each a JSON message ended by a NUL byte: no
port, no WebSocket, nothing to install but Debian's chromium package."""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--remote-debugging-pipe"]


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, timeout=60.0):
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed: run tools/install-deps (Debian package chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="jqchromium-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # out of the way of 3 and 4, which the child's dup2 overwrites
        self._child_fds = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w)]
        for fd in (to_r, from_w):
            os.close(fd)
        child_in, child_out = self._child_fds

        def give_pipes():
            os.dup2(child_in, 3)      # dup2 clears close-on-exec on 3 and 4
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen([exe] + FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=give_pipes,
                                     close_fds=False, start_new_session=True)
        for fd in self._child_fds:
            os.close(fd)
        self.w, self.r = to_w, from_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 65536)
                if not chunk:
                    raise RuntimeError("chromium closed its pipe (exit %s)" % self.proc.poll())
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True):
        """One DevTools command; returns its result, raises on its error."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def open(self, url, width=1200, height=900):
        """A new tab on @url; later commands go to it."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})

    def eval(self, expression):
        """The value of a JavaScript expression in the page."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            return None            # e.g. the page is not there yet
        return r["result"].get("value")

    def screenshot(self, path):
        height = self.eval("document.documentElement.scrollHeight") or 900
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1200, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", session=False)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # its helpers (zygote, renderers) are in its process group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
