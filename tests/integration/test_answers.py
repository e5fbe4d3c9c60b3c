"""No caller is ever told "added" (0) for a job that was not queued
(issue 20).  Every outcome of addjob is sent to a Bots 3 installation,
whose callers (the monitor's Run menu, the directory monitor,
job2queue.py) know only 0, 1 and 4: the answer is one of those, 0 only
when the job is in the queue (listjobs), and 1 for whatever queued
nothing, a full queue and a journal that could not save the job
included.  The same outcomes on an installation of unknown version (a
plain xmlrpc.client script) get Bots 4's codes and faults as they are.
The log says why, once."""

import os
import xmlrpc.client

import jqtest

BIG = "x" * 60000


def waiting(rpc):
    """The waiting tasks, as listjobs answers them."""
    return [entry[2] for entry in (rpc.listjobs() or [])]


def answer(rpc, task, priority=5):
    """addjob's answer, or the Fault itself."""
    try:
        return rpc.addjob(task, priority)
    except xmlrpc.client.Fault as fault:
        return fault


class Outcomes(jqtest.ServerTestCase):
    """Each outcome against a paused queue (jobs stay waiting, so that
    listjobs shows what was queued)."""

    version = None

    def setUp(self):
        self.jobqueue = {"max_waiting_bytes": "100000"}
        if self.version:
            self.jobqueue["bots_version"] = str(self.version)
        super().setUp()
        self.assertEqual(self.rpc.pause(), 0)

    def send_every_outcome(self):
        """Returns {outcome: (answer, the task)}."""
        engine = ["bots-engine", "-cconfig"]
        seen = {}
        seen["ok"] = (answer(self.rpc, engine), engine)
        seen["duplicate"] = (answer(self.rpc, engine), engine)
        seen["priority change"] = (answer(self.rpc, engine, 3), engine)
        seen["empty"] = (answer(self.rpc, []), [])
        unauthorized = ["rm", "-rf", "/"]
        seen["unauthorized"] = (answer(self.rpc, unauthorized), unauthorized)
        bad = ["bots-engine", 5]
        seen["bad argument"] = (answer(self.rpc, bad), bad)
        first = ["bots-engine", "1" + BIG]
        seen["ok, big"] = (answer(self.rpc, first), first)
        full = ["bots-engine", "2" + BIG]
        seen["queue full"] = (answer(self.rpc, full), full)
        return seen


class Bots3Installation(Outcomes):
    version = 3

    def test_every_outcome_is_0_1_or_4(self):
        seen = self.send_every_outcome()
        queued = waiting(self.rpc)
        for outcome, (got, task) in seen.items():
            self.assertIn(got, (0, 1, 4), outcome)
            if got == 0:
                self.assertIn(task, queued, outcome + ": answered 0, not queued")
            else:
                self.assertEqual(got, 4 if outcome == "duplicate" else 1, outcome)
        self.assertEqual(seen["ok"][0], 0)
        self.assertEqual(seen["priority change"][0], 0)
        self.assertEqual(self.rpc.listjobs()[0][:2], [3, 1])
        # our own client learns the true code
        self.assertEqual(self.rpc.submit(["rm", "-rf", "/"], 5)["code"], 3)
        self.assertEqual(self.rpc.submit([], 5)["code"], 2)

    def test_the_log_says_why_once(self):
        self.send_every_outcome()
        log = self.bots.wait_log("Job not added (answered 1")
        log = self.bots.log()
        self.assertEqual(log.count("Task not authorized, not added: ['rm', '-rf', '/']"), 1, log)
        self.assertEqual(log.count("Empty task not added."), 1, log)
        self.assertEqual(log.count("Queue full (max_waiting_bytes 100000)"), 1, log)
        # a fault is said once, as what the caller was answered instead
        self.assertEqual(log.count("Job not added (answered 1"), 1, log)
        self.assertIn("task item 1 is not a string", log)
        self.assertNotIn("answered 0", log)


class UnknownVersion(Outcomes):
    """A plain xmlrpc.client script on an installation of unknown
    version: Bots 4's codes and faults, as they are."""

    def test_bots4_codes_and_faults(self):
        seen = self.send_every_outcome()
        got = {outcome: a for outcome, (a, _) in seen.items()}
        for outcome in ("bad argument", "queue full"):
            self.assertIsInstance(got.pop(outcome), xmlrpc.client.Fault, outcome)
        self.assertEqual(got, {"ok": 0, "duplicate": 4, "priority change": 0, "empty": 2,
                               "unauthorized": 3, "ok, big": 0})
        self.assertNotIn("answered", self.bots.log())


@jqtest.sqlite_only
class JournalFault(jqtest.unittest.TestCase):
    """The journal cannot save the job (its file deleted under the running
    server): the batch's commit fails after the scheduler had queued the
    job.  A Bots 3 caller gets 1, never 0 and never a fault; anyone else
    gets the fault."""

    def fault_answer(self, jobqueue):
        bots = jqtest.BotsDir(jobqueue)
        self.addCleanup(bots.cleanup)
        server = jqtest.Server(bots)
        try:
            rpc = server.proxy()
            self.assertEqual(rpc.pause(), 0)
            self.assertEqual(rpc.addjob(["bots-engine", "before"], 5), 0)
            db = os.path.join(bots.botssys, "jobqueue", "queue.db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.unlink(db + suffix)
            got = answer(rpc, ["bots-engine", "after"])
        finally:
            status = server.stop()
        self.assertEqual(status, 1, "the server stops after the journal failed")
        return got, bots.log()

    def test_bots3_gets_1(self):
        got, log = self.fault_answer({"bots_version": "3"})
        self.assertEqual(got, 1)
        self.assertEqual(log.count("Job not added (answered 1"), 1, log)
        self.assertNotIn("Added job 2", log)

    def test_unknown_version_gets_the_fault(self):
        got, _ = self.fault_answer({})
        self.assertIsInstance(got, xmlrpc.client.Fault)


if __name__ == "__main__":
    jqtest.main()
