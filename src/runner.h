/* Starts jobs, captures their output, watches their run time, and reports
 * each job's end.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "log.h"
#include "queue.h"
#include "task.h"

/* How much of each of a job's stdout and stderr goes into the log. */
#define JQ_OUTPUT_LIMIT (64 * 1024)

typedef struct {
  guint64  maxruntime_ms;    /* 0 = no limit */
  guint    maxruntime_minutes; /* as configured, for the message */
  gboolean kill_on_timeout;
  guint64  kill_grace_ms;    /* SIGTERM to SIGKILL */
  gsize    output_limit;     /* bytes kept per stream */
  guint64  queue_id;         /* marks each job's environment (jobmark.h) */
  const char *const *job_environ; /* borrowed; NULL: the server's own */
  JqTaskPolicy *policy;      /* borrowed: decides what runs, and where */
  guint64  crash_after_start; /* test aid: job number after whose start
                               * the server kills itself; 0 = never */
  guint64  job_nofile;       /* RLIMIT_NOFILE soft limit each job gets
                              * (the server raised its own); 0 = as is */
  gboolean adopt_orphans;    /* the process is a child subreaper: reap
                              * the marked orphans of jobs */
} JqRunnerSettings;

typedef struct {
  GPid     pid;
  gint64   started_us;       /* wall clock, unix microseconds */
  gint64   ended_us;
  int      exit_code;        /* Python's convention: -N when killed by N */
  int      term_signal;      /* 0 unless killed by a signal */
  gboolean hit_maxruntime;
} JqJobResult;

typedef struct _JqRunner JqRunner;

/* @job has ended (its process was reaped).  The runner has logged it. */
typedef void (*JqRunnerFinished) (JqJob *job, const JqJobResult *result,
                                  gpointer user_data);

JqRunner *jq_runner_new (JqLog *log, const JqRunnerSettings *settings,
                         JqRunnerFinished finished, gpointer user_data);

/* Starts @job: the file the policy authorizes at this moment (the task
 * is judged again, on the files as they are now: what runs is what was
 * judged), without a shell, in the policy's job folder, stdin /dev/null,
 * its own process group, stdout and stderr captured.  Logs "Starting job
 * N".  *@pid (nullable) gets the job's pid.  Returns FALSE and sets @error
 * when it cannot be started; nothing is then left running and @finished
 * will not be called.  The error is JQ_ERROR_AGAIN when the cause is a
 * passing shortage (descriptors, processes, memory: EMFILE, ENFILE,
 * EAGAIN, ENOMEM; or its program being written: ETXTBSY) rather than the
 * job itself. */
gboolean jq_runner_start (JqRunner *runner, JqJob *job, GPid *pid,
                          GError **error);

guint jq_runner_get_running (JqRunner *runner);

/* The running jobs (borrowed); for the status report.  @pids and
 * @started_us (nullable GArrays of GPid and gint64) get the matching pid
 * and start time of each. */
GPtrArray *jq_runner_list (JqRunner *runner, GArray *pids,
                           GArray *started_us);

/* Sends SIGTERM to every running job's process group and to every
 * process marked as that job's (also one that left the group with
 * setsid()), and SIGKILL after the kill grace; when a job killed so ends,
 * what is left of its tree gets SIGKILL.  Their ends are reported as
 * usual. */
void jq_runner_terminate_all (JqRunner *runner);

/* Called once when a job passes its maxruntime (after it is logged). */
typedef void (*JqRunnerTimedOut) (JqJob *job, gpointer user_data);
void jq_runner_set_timeout_hook (JqRunner *runner, JqRunnerTimedOut hook,
                                 gpointer user_data);

/* Formats a duration as Bots 3 and 4 log it: a timedelta of whole
 * seconds, "0:00:01", "2 days, 0:00:01". */
char *jq_format_elapsed (gint64 microseconds);

void jq_runner_free (JqRunner *runner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqRunner, jq_runner_free)
