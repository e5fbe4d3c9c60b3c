"""A stand-in for a Python job queue server, for testing make bench's
BENCH_COMPARE plumbing where Bots is not installed:

    make bench BENCH_COMPARE='python3 bench/standin.py -c{configdir}'

It is not Bots and its figures are not Bots' figures (doc/performance.md).
It does what a simple Python job queue does: Python's standard XML-RPC
server, one thread per connection, an addjob that puts the task into a
priority queue, and one worker thread that runs the tasks one after the
other with subprocess.  It reads its port from <configdir>/bots.ini."""

import configparser
import heapq
import itertools
import os
import socketserver
import subprocess
import sys
import threading
from xmlrpc.server import SimpleXMLRPCServer


class Queue:
    def __init__(self):
        self.heap = []
        self.waiting = set()
        self.order = itertools.count()
        self.ready = threading.Condition()

    def addjob(self, task, priority=5):
        if not task:
            return 1
        key = tuple(task)
        with self.ready:
            if key in self.waiting:
                return 4
            self.waiting.add(key)
            heapq.heappush(self.heap, (priority, next(self.order), task))
            self.ready.notify()
        return 0

    def work(self):
        while True:
            with self.ready:
                while not self.heap:
                    self.ready.wait()
                _, _, task = heapq.heappop(self.heap)
                self.waiting.discard(tuple(task))
            try:
                subprocess.call(task, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError:
                pass


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


def main():
    configdir = "config"
    for arg in sys.argv[1:]:
        if arg.startswith("-c"):
            configdir = arg[2:]
    ini = configparser.ConfigParser()
    ini.read(os.path.join(configdir, "bots.ini"))
    port = ini.getint("jobqueue", "port", fallback=28082)
    queue = Queue()
    threading.Thread(target=queue.work, daemon=True).start()
    server = Server(("127.0.0.1", port), logRequests=False, allow_none=True)
    server.register_function(queue.addjob, "addjob")
    server.register_function(lambda: True, "isup")
    server.serve_forever()


if __name__ == "__main__":
    main()
