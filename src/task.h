/* A task is the argv of a job.  This module knows how Bots prints one
 * (PROTOCOL section 5) and the limits on one; which ones the queue may
 * run is the server's policy (policy.h). */
#pragma once

#include <glib.h>

/* Python's str.isprintable() for one character: everything but the
 * "Other" and "Separator" categories, the ASCII space excepted.  What
 * Python's repr, and so the log and the admin command's tables, escape
 * is what this refuses: controls, C1 CSI, U+202E and the like. */
gboolean jq_task_python_printable (gunichar c);

/* @c as a JSON escape: \uXXXX, or a surrogate pair of them beyond the
 * Basic Multilingual Plane (JSON has no longer escape). */
void jq_task_append_json_escape (GString *out, gunichar c);

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

/* Splits an authorized_tasks value on spaces, commas and semicolons. */
char **jq_task_split_list (const char *value);
