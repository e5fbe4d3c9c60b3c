#!/usr/bin/env python3
"""bots-jobqueueserver.py and bots-job2queue.py: compatibility names for the
C programs of bots-jobqueue (bots-job2queue.py is a link to this file).

Crontabs, schedulers and the Bots documentation call the Python programs by
these names, either directly or as "python bots-job2queue.py ...".  This
file replaces itself with the C program of the name it was called by,
passing every argument through untouched, so those calls keep working.  It
is valid Python 3 and Python 2.
"""
import os
import sys

# The name called, not the link's target: "bots-job2queue.py" -> "bots-job2queue".
PROGRAM = os.path.splitext(os.path.basename(__file__))[0]


def main():
    # Prefer the program installed next to this file, then PATH.
    here = os.path.dirname(os.path.realpath(__file__))
    candidate = os.path.join(here, PROGRAM)
    target = candidate if os.access(candidate, os.X_OK) else PROGRAM
    try:
        os.execvp(target, [PROGRAM] + sys.argv[1:])
    except OSError as error:
        sys.stderr.write("%s.py: cannot run %s: %s\n" % (PROGRAM, target, error))
        sys.exit(1)


if __name__ == "__main__":
    main()
