"""The administration methods (new names; Bots' methods are unchanged):
status, history, removejob, setpriority, pause/resume, wait."""

import signal
import threading
import xmlrpc.client

import jqtest


class Admin(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def hold(self):
        self.gate = self.bots.path("gate")
        self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", self.gate), 0)
        jqtest.wait_for(lambda: self.events(), "holder to start")

    def release(self):
        open(self.gate, "w").close()

    def test_status(self):
        self.hold()
        self.rpc.addjob(["bots-engine", "-ca"], 5)
        st = self.rpc.status()
        self.assertEqual(st["waiting"], 1)
        self.assertFalse(st["paused"])
        self.assertTrue(st["journal"])
        self.assertRegex(st["version"], r"^\d+\.\d+\.\d+$")
        self.assertEqual(len(st["running"]), 1)
        run = st["running"][0]
        self.assertEqual(run["jobnumber"], 1)
        self.assertEqual(run["task"][2:4], [self.bots.path("events"), "holder"])
        self.assertEqual(int(self.events()[0][3]), run["pid"])
        self.assertGreaterEqual(run["elapsed"], 0)
        self.assertEqual(st["totals"]["added"], 2)
        self.assertEqual(st["totals"]["started"], 1)
        self.rpc.clearjobq()
        self.release()

    def test_removejob_and_setpriority(self):
        self.hold()
        for name in ("a", "b", "c"):
            self.rpc.addjob(["bots-engine", "-c" + name], 5)
        self.assertEqual(self.rpc.removejob(3), 0)
        self.assertEqual(self.rpc.setpriority(4, 1), 0)
        self.assertEqual([j[1] for j in self.rpc.listjobs()], [4, 2])
        for call in (lambda: self.rpc.removejob(3), lambda: self.rpc.removejob(1),
                     lambda: self.rpc.setpriority(99, 1), lambda: self.rpc.removejob(0),
                     lambda: self.rpc.setpriority(2, "x")):
            with self.assertRaises(xmlrpc.client.Fault):
                call()
        self.bots.wait_log("Removed job 3: ['bots-engine', '-cb']")
        self.bots.wait_log("Job 4, changed priority to 1: ['bots-engine', '-cc']")
        self.rpc.clearjobq()
        self.release()

    def test_wait_and_history(self):
        self.hold()
        self.rpc.addjob(self.job(self.bots.path("events"), "bad", "--exit", "7"), 5)
        self.rpc.addjob(["/nonexistent/x"], 6)
        self.assertEqual(self.rpc.wait(2, 0)["state"], "waiting")
        results = {}

        def waiter():
            proxy = self.server.proxy()
            results["w"] = proxy.wait(2, 60)
            proxy("close")()

        t = threading.Thread(target=waiter)
        t.start()
        self.release()
        t.join(jqtest.DEADLINE)
        self.assertEqual(results["w"]["state"], "finished")
        self.assertEqual(results["w"]["exit_code"], 7)
        self.assertEqual(self.rpc.wait(3, 30)["state"], "failed-to-start")
        self.assertEqual(self.rpc.wait(999, 1)["state"], "unknown")
        hist = self.rpc.history(10)
        self.assertEqual([h["jobnumber"] for h in hist], [3, 2, 1])
        self.assertEqual(hist[1]["exit_code"], 7)
        self.assertIn("start_error", hist[0])
        self.assertNotIn("exit_code", hist[0])
        self.assertEqual(len(self.rpc.history(1)), 1)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc.history(0)

    def test_wait_times_out(self):
        self.hold()
        self.assertEqual(self.rpc.wait(1, 1)["state"], "running")
        self.release()

    def test_pause_survives_restart(self):
        self.assertEqual(self.rpc.pause(), 0)
        self.rpc.addjob(self.job(self.bots.path("events"), "later"), 5)
        self.assertEqual(self.rpc.wait(1, 1)["state"], "waiting")
        self.rpc("close")()
        self.server.stop()
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()
        self.assertTrue(self.rpc.status()["paused"])
        self.assertEqual(self.rpc.wait(1, 1)["state"], "waiting")
        self.assertEqual(self.rpc.resume(), 0)
        self.assertEqual(self.rpc.wait(1, 30)["state"], "finished")
        log = self.bots.log()
        self.assertIn("Job queue paused", log)
        self.assertIn("Job queue resumed.", log)
        # The start-up says so: a queue paused long ago does not look stuck.
        self.assertIn("1 waiting job(s) recovered; next job number 2; the queue is paused, "
                      "as it was left: no job starts until it is resumed (bots-jobqueue "
                      "resume).\n", log)


if __name__ == "__main__":
    jqtest.main()
