"""A report command for the tests: saves the message it reads on standard
input, with the subject from the environment, as a file in argv[1]."""

import os
import sys
import time

data = sys.stdin.read()
name = "report-%d-%d.txt" % (time.monotonic_ns(), os.getpid())
# written whole, then renamed: a reader never sees half a report
tmp = os.path.join(sys.argv[1], "." + name)
with open(tmp, "w") as f:
    f.write("ENV-SUBJECT: %s\n%s" % (os.environ.get("BOTS_JOBQUEUE_SUBJECT", ""), data))
os.rename(tmp, os.path.join(sys.argv[1], name))
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
