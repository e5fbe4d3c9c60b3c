"""The protocol, hostile-input and durability suites again, each server on
a PostgreSQL journal of its own database (jqtest.py reads JQ_TEST_PG),
on a throwaway PostgreSQL (pgtest.py).  Tests that are about the SQLite
file itself say so and are skipped there (JQ_TEST_PG is set)."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import pgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ["test_protocol.py", "test_hostile.py", "test_durability.py"]


class PostgreSQLSuites(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pgtest.PostgreSQL()

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def run_suite(self, name):
        env = dict(os.environ, JQ_TEST_PG="%s:%d" % (self.pg.root, self.pg.port))
        proc = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning",
                               os.path.join(HERE, name)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.decode(errors="replace")
        sys.stderr.write("%s on PostgreSQL: %s\n" % (name, out.strip().splitlines()[-1] if out.strip() else "?"))
        self.assertEqual(proc.returncode, 0, out[-6000:])

    def test_protocol(self):
        self.run_suite("test_protocol.py")

    def test_hostile(self):
        self.run_suite("test_hostile.py")

    def test_durability(self):
        self.run_suite("test_durability.py")


if __name__ == "__main__":
    unittest.main()
