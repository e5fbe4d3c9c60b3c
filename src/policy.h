/* Which tasks the queue may run (PROTOCOL section 6): the server's
 * authorization policy, decided on the files the kernel would execute. */
#pragma once

#include <glib.h>

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

