"""A report command for the tests: saves the message it reads on standard
input, with the subject from the environment, as a file in argv[1]."""

import os
import sys
import time

data = sys.stdin.read()
name = "report-%d-%d.txt" % (time.monotonic_ns(), os.getpid())
with open(os.path.join(sys.argv[1], name), "w") as f:
    f.write("ENV-SUBJECT: %s\n%s" % (os.environ.get("BOTS_JOBQUEUE_SUBJECT", ""), data))
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
