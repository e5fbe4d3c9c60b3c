/* The Bots installation the job queue serves: where its `bots` package is,
 * the import path its Python sees, which Bots it is, and its config folder
 * found exactly as Bots finds it (PROTOCOL section 1). */
#pragma once

#include <glib.h>

#include "runas.h"

/* Set by the .py wrappers (which run under Bots' own Python) for the C
 * program they start, so that it need not ask a Python itself. */
#define JQ_BOTSENV_BOTSPATH_ENV   "BOTS_JOBQUEUE_BOTSPATH"   /* "" = no bots package */
#define JQ_BOTSENV_PYTHONPATH_ENV "BOTS_JOBQUEUE_PYTHONPATH" /* sys.path, ':'-separated */
#define JQ_BOTSENV_EXECUTABLE_ENV "BOTS_JOBQUEUE_BOTS_PYTHON" /* sys.executable */
/* The version in the metadata of the distribution that installed the
 * bots package, as importlib.metadata gives it ("" or unset: none). */
#define JQ_BOTSENV_VERSION_ENV    "BOTS_JOBQUEUE_BOTSVERSION"
/* The Python to ask when no wrapper did (default: configure's
 * --with-bots-python, python3 on PATH). */
#define JQ_BOTSENV_PYTHON_ENV     "BOTS_JOBQUEUE_PYTHON"

typedef struct {
  char  *botspath;     /* absolute folder of the bots package; NULL: unknown */
  char **import_path;  /* Python's sys.path as Bots' scripts see it; never NULL */
  char  *version;      /* e.g. "3.3.0": a literal in the package (Bots 3),
                          else the installed distribution's metadata
                          (Bots 4); NULL: unknown */
  int    major;        /* 3 or 4 from @version; 0: unknown */
  char  *source;       /* how botspath was learnt, for messages */
  char  *python;       /* absolute: the Python that runs Bots (the
                        * wrapper's sys.executable, or the Python that
                        * found the bots package); NULL: unknown */
} JqBotsEnv;

/* A record from known values (tests, and the wrapper's variables).
 * @botspath nullable; @import_path ':'-separated, nullable.  The version
 * is Bots' own: a version literal in the package (Bots 3's botsglobal.py,
 * or __about__.py / __init__.py), else the "Version:" of the metadata of
 * the distribution that installed the package (Bots 4 reads its version
 * through importlib.metadata): <name>.dist-info/METADATA or
 * <name>.egg-info/PKG-INFO beside the package. */
JqBotsEnv *jq_botsenv_new (const char *botspath, const char *import_path,
                           const char *source);

/* The same, with the version importlib.metadata gave Bots' Python
 * (@version, nullable), which is taken before the metadata files: it
 * also finds a distribution installed elsewhere (an editable install). */
JqBotsEnv *jq_botsenv_new_said (const char *botspath,
                                const char *import_path,
                                const char *version, const char *source);

/* Learns the installation from the environment: $BOTS_DIR (the Bots
 * folder, set by the administrator), else the wrapper's variables above,
 * else the answer of a Python (see JQ_BOTSENV_PYTHON_ENV).  Never fails:
 * what cannot be learnt stays unknown, and @source says why.  @python
 * from JQ_BOTSENV_EXECUTABLE_ENV, else an absolute $BOTS_JOBQUEUE_PYTHON,
 * else the Python asked, when it found the bots package. */
JqBotsEnv *jq_botsenv_discover (void);

/* Finds the config folder as Bots does (PROTOCOL section 1) for the -c
 * value @option (nullable: none given), seen from @cwd, with Bots 3 or 4
 * rules after @major (0: both, Bots 3's first).  Returns the absolute
 * folder, or NULL and sets @error (JQ_ERROR_NOT_FOUND) with one message
 * naming every place looked at. */
char *jq_botsenv_find_config (const JqBotsEnv *env, const char *option,
                              int major, const char *cwd, GError **error);

/* The major version of a version string ("3.3.0" -> 3): 3 or 4 for the
 * Bots we know (4 also for anything later), 0 otherwise. */
int jq_botsenv_parse_major (const char *version);

/* Reads a Python file's top-level string assignment `@name = '...'` (or
 * "..."), strictly: the name at the start of the line, a plain string
 * literal without escapes, optionally followed by a comment.  The last
 * such line wins, as in Python.  Returns NULL when there is none, the
 * value is not such a literal (None, an expression), or the file cannot
 * be read. */
char *jq_botsenv_read_assignment (const char *path, const char *name);

/* The Python that runs the script @path, as an argv prefix in *@argv
 * (free with g_strfreev): the interpreter and the optional argument of
 * its "#!" line, or the Python of pip's "#!/bin/sh" trampoline (line 2
 * '''exec' "/path/python" "$0" "$@", line 3 ' ''').  FALSE when
 * the script names no Python in either form. */
gboolean jq_botsenv_script_python (const char *path, char ***argv);

/* Asks the Python @python (a path, or a name looked up on PATH; @arg: the
 * one argument of its "#!" line, nullable) where the bots package is,
 * with @script_dir first on its import path as when it runs a script
 * there, as the user @who (src/runas.h), for at most @timeout_ms.  Its
 * answer (a new string): the package's folder (empty: none), sys.path,
 * and the version in its distribution's metadata, a line each.  NULL and
 * @error when it cannot be run or fails. */
char *jq_botsenv_ask_python (const char *python, const char *arg,
                             const char *script_dir, const JqUser *who,
                             int timeout_ms, GError **error);

void jq_botsenv_free (JqBotsEnv *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqBotsEnv, jq_botsenv_free)
