/* The job queue's behaviour: Bots' addjob/listjobs/getjob/clearjobq rules
 * on top of the queue, and launching the next job the moment a slot is
 * free.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "caller.h"
#include "config.h"
#include "events.h"
#include "history.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "runner.h"

/* addjob's answers (PROTOCOL section 2); 1 is the client's own. */
typedef enum {
  JQ_ADDJOB_OK = 0,
  JQ_ADDJOB_EMPTY = 2,
  JQ_ADDJOB_UNAUTHORIZED = 3,
  JQ_ADDJOB_DUPLICATE = 4,
  /* Not an answer: the waiting tasks would pass [jobqueue]
   * max_waiting_bytes; the caller answers with a fault. */
  JQ_ADDJOB_FULL = -1,
} JqAddjobCode;

typedef struct _JqScheduler JqScheduler;

/* @config, @log and @journal (NULL: durability "none", a null store of
 * its own) must outlive the scheduler.  Every change to the queue is
 * written to @journal; the caller brackets calls with
 * jq_scheduler_begin/commit (server.c does, in the door's batch hook).
 * What the scheduler does by itself is bracketed here (a job's end with
 * the next start, recovery); a write outside any bracket commits
 * alone. */
JqScheduler *jq_scheduler_new (const JqConfig *config, JqLog *log,
                               const JqRunnerSettings *runner_settings,
                               JqJournal *journal);

/* The first wait before a job that met a passing shortage is tried
 * again (250 ms; it doubles up to 30 s).  Tests shorten it. */
void jq_scheduler_set_retry_first_ms (JqScheduler *s, guint ms);

/* A wall clock, unix microseconds (g_get_real_time in the server). */
typedef gint64 (*JqClock) (void);

/* The same with its seams given: the runner (@ops, created with
 * @ops_data) and the clock.  jq_scheduler_new uses jq_runner_ops with
 * @runner_settings and g_get_real_time. */
JqScheduler *jq_scheduler_new_with (const JqConfig *config, JqLog *log,
                                    JqJournal *journal,
                                    const JqRunnerOps *ops,
                                    gpointer ops_data, JqClock clock);

/* A batch: the journal's transaction (they nest), and, on a shared
 * queue, the changes other servers made read first (the scheduler pulls
 * them: the store never calls up), so that the batch judges the shared
 * state.  commit is jq_journal_commit's. */
void jq_scheduler_begin (JqScheduler *s);
gboolean jq_scheduler_commit (JqScheduler *s, GError **error);

/* Brings back the jobs of the journal: waiting ones in their order, with
 * their numbers; a job that was running when the server stopped is queued
 * again first of its priority (a Bots engine run is safe to repeat), and
 * the log says so.  Then starts what can start.  Returns FALSE and sets
 * @error when the journal cannot be read. */
gboolean jq_scheduler_recover (JqScheduler *s, GError **error);

/* Every change below names @caller (nullable: no one) in its log line
 * (jq_caller_suffix): Bots' own lines as Bots writes them for the
 * server's own user, with " (by user NAME)" for everybody else.
 *
 * Bots' addjob: queues @argv at @priority and starts it at once when a
 * slot is free; a new job is owned by @caller's uid.  The same task
 * waiting, queued by another user, keeps its priority unless @caller is
 * an admin: a duplicate.  ['isup'] answers OK and queues nothing.  *@number
 * (nullable) gets the job's number: the new one, or the waiting job's for
 * a duplicate or a changed priority; 0 when nothing was queued (empty,
 * not authorized, isup). */
JqAddjobCode jq_scheduler_submit (JqScheduler *s, const char *const *argv,
                                  int priority, const JqCaller *caller,
                                  guint64 *number);

/* The waiting jobs in run order (new array of references). */
/* Re-reads bots.ini's authorization keys now (SIGHUP); @why goes into
 * the log line.  Submitting re-reads them by itself when the file has
 * changed before it would refuse a task. */
void jq_scheduler_reload_authorization (JqScheduler *s, const char *why);

GPtrArray *jq_scheduler_listjobs (JqScheduler *s);

/* The same in pages copied out of the queue, from where @cursor stopped
 * (jq_queue_copy_page). */
guint jq_scheduler_copy_page (JqScheduler *s, JqQueueCursor *cursor,
                              GByteArray *page, gsize max_bytes);

/* Removes the next waiting job and hands it to @caller (transfer full),
 * or NULL when nothing waits.  Its log line names @caller, the server's
 * own user included (our line, not Bots'). */
JqJob *jq_scheduler_getjob (JqScheduler *s, const JqCaller *caller);

/* Drops every waiting job (not the running ones). */
void jq_scheduler_clear (JqScheduler *s, const JqCaller *caller);

/* Stops launching; @drained is called (once) as soon as no job runs. */
void jq_scheduler_stop (JqScheduler *s, GSourceFunc drained,
                        gpointer user_data);

/* Asks the running jobs to end (SIGTERM, later SIGKILL) because the server
 * stops: they are queued again, first of their priority, for the next
 * start, instead of being recorded as finished. */
void jq_scheduler_terminate_running (JqScheduler *s);

/* FALSE when job @number waits and @caller may neither remove nor
 * reprioritise it (jq_caller_may_steer); *@owner gets its owner's uid
 * (JQ_JOB_NO_OWNER: unknown, or not waiting). */
gboolean jq_scheduler_may_steer (JqScheduler *s, guint64 number,
                                 const JqCaller *caller, guint32 *owner);

/* Removes waiting job @number.  FALSE when it is not waiting. */
gboolean jq_scheduler_remove (JqScheduler *s, guint64 number,
                              const JqCaller *caller);

/* Moves waiting job @number to @priority.  FALSE when it is not waiting. */
gboolean jq_scheduler_set_priority (JqScheduler *s, guint64 number,
                                    int priority, const JqCaller *caller);

/* Pausing stops launching (calls are still accepted); it is kept in the
 * journal, so a paused queue stays paused across a restart. */
void jq_scheduler_set_paused (JqScheduler *s, gboolean paused,
                              const JqCaller *caller);
gboolean jq_scheduler_get_paused (JqScheduler *s);

typedef enum {
  JQ_JOB_UNKNOWN,     /* never queued here, or forgotten */
  JQ_JOB_WAITING,
  JQ_JOB_RUNNING,
  JQ_JOB_FINISHED,    /* ran, or could not start */
  JQ_JOB_GONE,        /* removed, cleared or taken by getjob */
} JqJobState;

/* What became of job @number.  For a finished job, *@finished
 * (nullable) gets its record (free with jq_finished_free): from the
 * history (jq_history_find: memory, then the journal), so every job
 * that history lists is known here.  Its start_error is set when it never
 * started.  With a shared journal (jq_scheduler_is_shared), the journal
 * also says whether a job waits or runs, maybe on another server. */
JqJobState jq_scheduler_job_state (JqScheduler *s, guint64 number,
                                   JqFinished **finished);

/* Counts since the server started: @added is the scheduler's, the
 * outcomes are its metrics' (jq_metrics_get_outcomes), so that there is
 * one counter per outcome and one meaning of "failed". */
typedef struct {
  guint64 added;
  guint64 started;
  guint64 succeeded;      /* exit code 0 */
  guint64 failed;         /* other exit codes and signals */
  guint64 start_failures;
  gint64  since_us;       /* when the server started (wall clock) */
} JqTotals;
JqTotals jq_scheduler_get_totals (JqScheduler *s);

/* The running jobs (new array of references); @pids and @started_us
 * (nullable GArrays of GPid and gint64) get each one's pid and start.
 * On a server of a shared queue that does not launch (the launch gate
 * says no), the jobs the journal records as running, on the leader. */
GPtrArray *jq_scheduler_list_running (JqScheduler *s, GArray *pids,
                                      GArray *started_us);

/* What happens to the jobs (events.h): a job started, finished, could
 * not start, left the queue without running, or another server changed
 * the shared queue.  The history and the metrics are subscribed first,
 * in that order; the status page and the wait() callers subscribe. */
JqEvents *jq_scheduler_get_events (JqScheduler *s);

/* The counters the events feed (metrics.h); thread-safe. */
JqMetrics *jq_scheduler_get_metrics (JqScheduler *s);

/* The journal, for wiring its observers (the null store for durability
 * "none"). */
JqJournal *jq_scheduler_get_journal (JqScheduler *s);

/* Whether the queue is kept in a journal (durability is not "none"). */
gboolean jq_scheduler_is_durable (JqScheduler *s);

/* Around a door batch: while held, nothing is launched, so that a job
 * whose addjob gets a fault (the batch's commit failed) never runs.
 * Released with @saved TRUE, what can start starts (in a commit of its
 * own); with @saved FALSE the jobs added while held are taken out of the
 * queue again, as their callers were told. */
void jq_scheduler_hold_launches (JqScheduler *s);
void jq_scheduler_release_launches (JqScheduler *s, gboolean saved);

/* The journal failed: log lines no longer promise what it would keep. */
void jq_scheduler_journal_failed (JqScheduler *s);

/* Whether other servers share the queue (jq_journal_is_shared). */
gboolean jq_scheduler_is_shared (JqScheduler *s);

guint jq_scheduler_get_running (JqScheduler *s);

/* How many jobs wait. */
guint jq_scheduler_count_waiting (JqScheduler *s);

/* The first @limit waiting jobs in run order (new array of references). */
GPtrArray *jq_scheduler_list_first (JqScheduler *s, guint limit);

/* The @limit most recent finished jobs, newest first, as
 * jq_journal_history() gives them (empty without a journal). */
GArray *jq_scheduler_history (JqScheduler *s, guint limit, gsize max_bytes);

/* What ended (history.h): the scheduler keeps it; the status page reads
 * it, the server prunes through it. */
JqHistory *jq_scheduler_get_history (JqScheduler *s);

/* Another server changed the shared queue (cluster.c hears it from
 * NOTIFY): JQ_EVENT_CHANGED_ELSEWHERE, so that callers waiting on a job
 * look again. */
void jq_scheduler_changed_elsewhere (JqScheduler *s);

/* Starts what can start, in its own batch (a wake-up).  A request, not
 * an event: cluster.c asks it of a leader at each heartbeat too. */
void jq_scheduler_kick (JqScheduler *s);

/* ------------------------------------------------ leadership
 * For a queue shared by several servers (src/cluster.c decides which one
 * launches): a gate, and the two moves. */

/* Launching also waits for @gate (nullable) to say yes; asked each time
 * a job could start. */
typedef gboolean (*JqLaunchGate) (gpointer user_data);
void jq_scheduler_set_launch_gate (JqScheduler *s, JqLaunchGate gate,
                                   gpointer user_data);

/* This server has just become the one that launches: reads the whole
 * queue again and queues each job recorded as running (by the server
 * before) again first of its priority, as recovery does after a crash,
 * waiting for its process when it still runs on this host; then starts
 * what can start.  FALSE and @error when the journal fails. */
gboolean jq_scheduler_lead (JqScheduler *s, GError **error);

/* The leader, from time to time: a job recorded as running that this
 * server does not run was left so by a server that lost the lead (its
 * end or its requeue could not be written in time).  Each is queued
 * again first of its priority, as at a take-over, its process waited
 * for when it still runs on this host.  TRUE when there was none or all
 * were requeued; FALSE and @error when the journal failed. */
gboolean jq_scheduler_requeue_strays (JqScheduler *s, GError **error);

/* This server no longer launches: ends its running jobs (SIGTERM, later
 * SIGKILL) and records nothing of them, for the new leader runs them
 * again. */
void jq_scheduler_yield (JqScheduler *s);

void jq_scheduler_free (JqScheduler *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqScheduler, jq_scheduler_free)
