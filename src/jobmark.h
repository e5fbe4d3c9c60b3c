/* How a job process is marked so that a restarted server can find it.
 *
 * Every job gets two environment variables: the queue's identity and its
 * job number.  A server killed between starting a job and committing that
 * start leaves a running job the journal does not know the pid of; the
 * marks let the next server find it in /proc and wait for it instead of
 * starting a second engine next to it. */
#pragma once

#include <glib.h>

#define JQ_JOBMARK_QUEUE_ENV "BOTS_JOBQUEUE_ID"
#define JQ_JOBMARK_JOB_ENV   "BOTS_JOBQUEUE_JOB"

/* A copy of @base (an environment, e.g. environ) with the two marks of
 * job @number of queue @queue_id set, replacing any there were. */
GStrv jq_jobmark_environ (const char *const *base, guint64 queue_id,
                          guint64 number);

/* The marked jobs of queue @queue_id that are running now: job number
 * (guint64*) -> pid (GINT_TO_POINTER).  A job counts only by its leading
 * process: a process-group leader that is not a session leader (a job
 * never is; a daemon it left behind after setsid() is), not a zombie.
 * Only processes of the server's own (effective) user count.
 * @proc_root is "/proc" but for tests. */
GHashTable *jq_jobmark_find (const char *proc_root, guint64 queue_id);

/* Every live process (of the server's user) marked as job @number of
 * queue @queue_id, whatever its group or session: the job's whole tree,
 * also what called setsid() (0: of any job of the queue).  An array of
 * int pids. */
GArray *jq_jobmark_find_job (const char *proc_root, guint64 queue_id,
                             guint64 number);

/* The job number @pid is marked with for @queue_id, or 0. */
guint64 jq_jobmark_number (const char *proc_root, int pid, guint64 queue_id);

/* The process group of @pid, also of a zombie (whose environment, and
 * so its mark, can no longer be read); -1 when it cannot be read. */
int jq_jobmark_process_group (const char *proc_root, int pid);

/* Whether @pid is still the job that started at @started_us (unix
 * microseconds): a process-group leader that started then, give or take
 * the clock's granularity.  A reused pid fails the test.  For jobs
 * started without marks. */
gboolean jq_jobmark_is_same_process (int pid, gint64 started_us);

/* When @pid started (unix microseconds, to the clock's tick), or 0. */
gint64 jq_jobmark_started_us (int pid);
