#!/usr/bin/env python3
"""bots-job2queue.py: compatibility name for the C bots-job2queue of bots-jobqueue.

Crontabs, schedulers and the Bots documentation call the Python program by
this name, either directly or as "python bots-job2queue.py ...".  This file
replaces itself with the C program, passing every argument through
untouched, so those calls keep working.  It is valid Python 3 and Python 2.
"""
import os
import sys

PROGRAM = "bots-job2queue"


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
