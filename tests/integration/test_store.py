"""The stores' contract suite (tests/test_store.c) on PostgreSQL: starts a
throwaway server (pgtest.py), makes a database for it and runs the cmocka
suite with JQ_TEST_PG_CONNINFO naming it, so that make check runs every
store (tests/test_store alone skips PostgreSQL and says so)."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import pgtest  # noqa: E402

BUILDDIR = os.environ.get("JQ_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class StoreContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pgtest.PostgreSQL()

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def test_every_store(self):
        db = self.pg.create_database("jq_store_contract")
        env = dict(os.environ, JQ_TEST_PG_CONNINFO=self.pg.dsn(db))
        proc = subprocess.run([os.path.join(BUILDDIR, "tests", "test_store")],
                              env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        out = proc.stdout.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, out[-6000:])
        # PostgreSQL ran, not skipped
        self.assertIn("[       OK ] test_pg_shared", out, out[-3000:])
        self.assertNotIn("SKIPPED", out, out[-3000:])


if __name__ == "__main__":
    unittest.main()
