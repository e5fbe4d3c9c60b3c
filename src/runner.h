/* Starts jobs, captures their output, watches their run time, and reports
 * each job's end.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "finished.h"
#include "log.h"
#include "job.h"
#include "policy.h"

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
  /* Failure injection (tests/faults.c, built into a test-only server):
   * called when a job's process has started, before anything records
   * the start.  NULL in the installed server. */
  void   (*after_spawn) (JqJob *job, gpointer data);
  gpointer after_spawn_data;
  guint64  job_nofile;       /* RLIMIT_NOFILE soft limit each job gets
                              * (the server raised its own); 0 = as is */
  gboolean adopt_orphans;    /* the process is a child subreaper: reap
                              * the marked orphans of jobs */
  gboolean log_output;       /* log each job's stdout and stderr (Bots 4
                              * does; Bots 3 does not: [jobqueue]
                              * log_job_output) */
  gboolean die_with_server;  /* a job's process is SIGKILLed when the
                              * server dies (a shared queue: the next
                              * leader, maybe on another host, runs it
                              * again and cannot see the old run) */
} JqRunnerSettings;

typedef struct _JqRunner JqRunner;

/* @job has ended (its process was reaped).  The runner has logged it. */
typedef void (*JqRunnerFinished) (JqJob *job, const JqFinished *finished,
                                  gpointer user_data);

/* Called once when a job passes its maxruntime (after it is logged). */
typedef void (*JqRunnerTimedOut) (JqJob *job, gpointer user_data);

/* A process adopted with jq_runner_adopt() has ended (logged). */
typedef void (*JqRunnerAdoptedEnded) (guint64 number, gpointer user_data);

/* What a runner tells its owner; every hook is called on the loop.
 * adopted_timed_out: a process adopted with jq_runner_adopt() passed its
 * maxruntime (logged). */
typedef struct {
  JqRunnerFinished     finished;
  JqRunnerTimedOut     timed_out;       /* nullable */
  JqRunnerAdoptedEnded adopted_ended;   /* nullable */
  JqRunnerAdoptedEnded adopted_timed_out; /* nullable */
  gpointer             user_data;
} JqRunnerHooks;

/* The runner as the scheduler sees it: a seam, so that the scheduler's
 * rules are tested with a fake runner (tests/test_scheduler.c).
 * jq_runner_ops is this file's runner; its @create takes a
 * JqRunnerSettings* as @data and gives the runner @policy. */
typedef struct {
  gpointer   (*create)     (gpointer data, JqTaskPolicy *policy,
                            JqLog *log, const JqRunnerHooks *hooks);
  gboolean   (*start)      (gpointer runner, JqJob *job, GPid *pid,
                            GError **error);
  /* jq_runner_terminate_all; @why goes into its log lines. */
  void       (*kill_all)   (gpointer runner, const char *why);
  /* The pid of job @number if a server before us left it running, else
   * 0 (@pid and @started_us: what the journal recorded; 0 unknown). */
  int        (*find_left)  (gpointer runner, guint64 number, int pid,
                            gint64 started_us);
  /* Watches @pid, left running by that server, until it ends; FALSE
   * when it has ended already. */
  gboolean   (*adopt)      (gpointer runner, guint64 number, int pid);
  guint      (*count)      (gpointer runner);
  GPtrArray *(*list)       (gpointer runner, GArray *pids,
                            GArray *started_us);
  void       (*free)       (gpointer runner);
} JqRunnerOps;

extern const JqRunnerOps jq_runner_ops;

JqRunner *jq_runner_new (JqLog *log, const JqRunnerSettings *settings,
                         const JqRunnerHooks *hooks);

/* Starts @job: the file the policy authorizes at this moment (the task
 * is judged again, on the files as they are now: what runs is what was
 * judged), without a shell, in the policy's job folder, stdin /dev/null,
 * its own process group, stdout and stderr captured.  Logs "Starting job
 * N" as the log's Bots version words it.  *@pid (nullable) gets the job's pid.  Returns FALSE and sets @error
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

/* Sends SIGTERM (logged "Terminating job N (@why)": "server stopping",
 * "this server lost the lead") to every running job's process group and to every
 * process marked as that job's (also one that left the group with
 * setsid()), and SIGKILL after the kill grace; when a job killed so ends,
 * what is left of its tree gets SIGKILL.  Their ends are reported as
 * usual. */
void jq_runner_terminate_all (JqRunner *runner, const char *why);

/* See JqRunnerOps: find_left and adopt. */
int jq_runner_find_left (JqRunner *runner, guint64 number, int pid,
                         gint64 started_us);
gboolean jq_runner_adopt (JqRunner *runner, guint64 number, int pid);

void jq_runner_free (JqRunner *runner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqRunner, jq_runner_free)
