#!/usr/bin/env python3
"""bots-jobqueueserver.py and bots-job2queue.py: compatibility names for the
C programs of bots-jobqueue (bots-job2queue.py is a link to this file).

Crontabs, schedulers and the Bots documentation call the Python programs by
these names, either directly or as "python bots-job2queue.py ...".  This
file replaces itself with the C program of the name it was called by,
passing every argument through untouched, so those calls keep working.  It
is valid Python 3 and Python 2.

It runs under the Python that Bots uses (bots-jobqueue-switch gives it the
shebang line of the Bots script it stands in for), so it can tell the C
program what only that Python knows: where the `bots` package is and the
import path (doc/configuration.md, "Where bots.ini is found").
"""
import os
import sys

# The name called: "bots-job2queue.py" -> "bots-job2queue".
PROGRAM = os.path.splitext(os.path.basename(__file__))[0]
# Where the C programs are; set when installed (a placeholder here).
BINDIR = "@pkglibexecdir@"
# The folder of the Bots script this file stands in for, symlinks
# resolved; set by bots-jobqueue-switch.  Python runs a script with its
# folder first on sys.path, so Bots' script saw that folder there (a
# source layout keeps the bots package beside its scripts): so does this
# file, wherever it is.
SCRIPT_DIR = ""


def bots_package():
    """The folder of the bots package this Python imports, without
    importing it; '' when there is none."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("bots")
        if spec is not None and spec.submodule_search_locations:
            return os.path.abspath(list(spec.submodule_search_locations)[0])
    except ImportError:  # Python 2
        import imp
        try:
            return os.path.abspath(imp.find_module("bots")[1])
        except ImportError:
            pass
    return ""


def bots_version(package):
    """The version in the metadata of the distribution that installed the
    bots package at @package, as Bots 4 reads its own version
    (importlib.metadata); '' when there is none or no way to ask."""
    try:
        from importlib import metadata
    except ImportError:  # Python 2, Python 3.7
        return ""
    if not package:
        return ""
    named = ""
    for dist in metadata.distributions():
        try:
            here = os.path.abspath(str(dist.locate_file("bots")))
            top = (dist.read_text("top_level.txt") or "").split()
            files = dist.files or []
            name = (dist.metadata["Name"] or "").lower()
        except Exception:  # a broken distribution is not ours to judge
            continue
        if here == package and ("bots" in top
                                or any(f.parts[:1] == ("bots",) for f in files)):
            return dist.version or ""
        if name == "bots" and not named:
            named = dist.version or ""
    # an editable install lists none of the package's files: the
    # distribution named bots
    return named


def main():
    # Ours, next to this file, then PATH; never this file itself, which
    # may carry the program's own name (Bots 4's scripts have no .py).
    folders = [] if BINDIR.startswith("@") else [BINDIR]
    folders.append(os.path.dirname(os.path.realpath(__file__)))
    folders += os.environ.get("PATH", os.defpath).split(os.pathsep)
    target = None
    for folder in folders:
        candidate = os.path.join(folder, PROGRAM)
        if (folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                and not os.path.samefile(candidate, __file__)):
            target = candidate
            break
    if target is None:
        sys.stderr.write("%s: cannot find the program %s in %s\n"
                         % (os.path.basename(__file__), PROGRAM, os.pathsep.join(folders)))
        sys.exit(1)
    if SCRIPT_DIR and sys.path:
        sys.path[0] = SCRIPT_DIR
    path = [p for p in sys.path if p]
    package = bots_package()
    os.environ["BOTS_JOBQUEUE_BOTSPATH"] = package
    os.environ["BOTS_JOBQUEUE_BOTSVERSION"] = bots_version(package)
    os.environ["BOTS_JOBQUEUE_PYTHONPATH"] = os.pathsep.join(path)
    # the Python that runs Bots: the server authorizes it whatever its PATH
    if sys.executable:
        os.environ["BOTS_JOBQUEUE_BOTS_PYTHON"] = sys.executable
    try:
        os.execvp(target, [PROGRAM] + sys.argv[1:])
    except OSError as error:
        sys.stderr.write("%s: cannot run %s: %s\n" % (os.path.basename(__file__), target, error))
        sys.exit(1)


if __name__ == "__main__":
    main()
