/* A task is the argv of a job.  This module knows how Bots prints one and
 * which ones the queue may run (PROTOCOL sections 5 and 6). */
#pragma once

#include <glib.h>

/* Python's str.isprintable() for one character: everything but the
 * "Other" and "Separator" categories, the ASCII space excepted.  What
 * Python's repr, and so the log and the admin command's tables, escape
 * is what this refuses: controls, C1 CSI, U+202E and the like. */
gboolean jq_task_python_printable (gunichar c);

/* Limits on what a client may queue; beyond them addjob is refused. */
#define JQ_TASK_MAX_ARGS  1024
#define JQ_TASK_MAX_BYTES (64 * 1024)

/* Renders @argv as Python 3 prints a list of str, e.g.
 * "['bots-engine', '-cconfig']", with Python's choice of quotes and its
 * escapes.  Bytes that are not UTF-8 are shown as \xNN. */
char *jq_task_repr (const char *const *argv);

/* How much of a task a log line, a report or an error message shows:
 * a whole task, and one of its arguments. */
#define JQ_TASK_LOG_MAX   1000
#define JQ_TASK_SHOWN_MAX 200

/* jq_task_repr() for a log line: at most JQ_TASK_LOG_MAX bytes of the
 * repr, then, when cut, "... [cut: the task has N arguments, M bytes]".
 * Every task written to the log, a report or an error goes through this
 * (or the _cut function below): a client's bytes reach them only escaped,
 * and only so many. */
char *jq_task_repr_cut (const char *const *argv);

/* Renders one string as Python's repr() would, stopping after @max
 * bytes, followed then by "... [cut: N bytes]". */
void jq_task_repr_append_cut (GString *out, const char *s, gsize max);

/* Checks @argv against the limits above.  Returns FALSE and sets @error
 * (JQ_ERROR_INVALID) when it is too long.  An empty task is not an error
 * here: addjob answers it with code 2. */
gboolean jq_task_check_limits (const char *const *argv, GError **error);

/* Which tasks may run, decided on the files the kernel would execute
 * (PROTOCOL section 6).  A policy is built once from the configuration;
 * the files themselves are looked at on every decision, since they can
 * change while the server runs. */
typedef struct _JqTaskPolicy JqTaskPolicy;

typedef struct {
  const char *const *authorized; /* authorized_tasks; "*" = anything */
  const char *search_path;       /* PATH as posix_spawnp uses it; NULL:
                                  * "/bin:/usr/bin", as glibc's default */
  const char *job_dir;           /* absolute: every job's working folder;
                                  * relative names are resolved there */
  const char *python_executable; /* [settings] python_executable_path;
                                  * nullable */
  const char *bots_engine;       /* [settings] botsengine_path; nullable */
  const char *bots_python;       /* the Python that runs Bots (the
                                  * wrapper's, or the one that found the
                                  * bots package); nullable */
  const char *bots_package_dir;  /* the installed bots package; nullable.
                                  * <prefix>/lib/pythonX.Y/site-packages/
                                  * bots gives <prefix>/bin as the Bots
                                  * scripts' folder */
} JqTaskPolicySettings;

/* Copies what it needs from @settings. */
JqTaskPolicy *jq_task_policy_new (const JqTaskPolicySettings *settings);
/* Takes new @settings (bots.ini re-read): the same object, so that who
 * holds it sees the change.  Loop thread, as every decision. */
void jq_task_policy_update (JqTaskPolicy *policy,
                            const JqTaskPolicySettings *settings);
void jq_task_policy_free (JqTaskPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqTaskPolicy, jq_task_policy_free)

/* The Bots scripts' folders the policy trusts beside PATH (borrowed,
 * NULL-terminated); for the start-up line. */
const char *const *jq_task_policy_get_scripts_dirs (JqTaskPolicy *policy);

/* Decides whether @argv may run and, when it may, what exactly runs:
 * returns the argv to execute and sets *@file to the absolute file to
 * pass to execve().
 *
 * The program (after a PATH search exactly as posix_spawnp does it, or
 * relative to the job folder) and, for a Python interpreter, its script
 * (relative to the job folder) are resolved with realpath(3), as the
 * kernel resolves them, symlinks and ".." included, and compared with
 * the realpath of each trusted file: bots-engine and bots-engine.py on
 * PATH, in the scripts' folders and at botsengine_path; a Python, when
 * its first argument is such an engine, that is found on PATH under the
 * name given or in the scripts' folders, or, whatever the name and the
 * PATH, is python_executable_path, the Python that runs Bots, the
 * Python of a Bots script's "#!" line (or of pip's "#!/bin/sh"
 * trampoline), a virtualenv's python in the scripts' folder, or what one
 * of these resolves to; an
 * entry of authorized_tasks.  What cannot be resolved is refused.  The
 * returned argv names the trusted file by its trusted spelling in place
 * of the text sent (argv[0], and argv[1] for a script), so that what runs
 * is the file authorized, whatever links the sender controls, and a
 * Python finds its own prefix and virtualenv, not one the sender built.
 * Under "*" nothing is refused here: the program is only looked up, and
 * runs as given.
 *
 * Returns NULL and sets @error: JQ_ERROR_INVALID when not authorized (the
 * message says why and names what would have been accepted, for the
 * log), JQ_ERROR_NOT_FOUND when under "*" the
 * program is not found. */
char **jq_task_resolve (JqTaskPolicy *policy, const char *const *argv,
                        char **file, GError **error);

/* Whether jq_task_resolve() would accept @argv; @error (nullable) says
 * why not. */
gboolean jq_task_is_authorized (JqTaskPolicy *policy,
                                const char *const *argv, GError **error);

/* The job folder given at creation. */
const char *jq_task_policy_get_job_dir (JqTaskPolicy *policy);

/* Splits an authorized_tasks value on spaces, commas and semicolons. */
char **jq_task_split_list (const char *value);
