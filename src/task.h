/* A task is the argv of a job.  This module knows how Bots prints one and
 * which ones the queue may run (PROTOCOL sections 5 and 6). */
#pragma once

#include <glib.h>

/* Limits on what a client may queue; beyond them addjob is refused. */
#define JQ_TASK_MAX_ARGS  1024
#define JQ_TASK_MAX_BYTES (64 * 1024)

/* Renders @argv as Python 3 prints a list of str, e.g.
 * "['bots-engine', '-cconfig']", with Python's choice of quotes and its
 * escapes.  Bytes that are not UTF-8 are shown as \xNN. */
char *jq_task_repr (const char *const *argv);

/* Renders one string as Python's repr() would. */
void jq_task_repr_append (GString *out, const char *s);

/* Checks @argv against the limits above.  Returns FALSE and sets @error
 * (JQ_ERROR_INVALID) when it is too long.  An empty task is not an error
 * here: addjob answers it with code 2. */
gboolean jq_task_check_limits (const char *const *argv, GError **error);

/* Finds a program on PATH: returns its absolute path or NULL.  Tests pass a
 * fake. */
typedef char *(*JqPathLookup) (const char *program, gpointer user_data);

/* Whether @argv may run (PROTOCOL section 6): bots-engine or
 * bots-engine.py by name or by the path PATH finds it at; a Python
 * interpreter (by name, or the path PATH finds it at) running such a
 * script; argv[0] equal to an entry of @authorized; anything when
 * @authorized holds "*".  @lookup NULL means g_find_program_in_path. */
gboolean jq_task_is_authorized (const char *const *argv,
                                const char *const *authorized,
                                JqPathLookup lookup, gpointer user_data);

/* Splits an authorized_tasks value on spaces, commas and semicolons. */
char **jq_task_split_list (const char *value);
