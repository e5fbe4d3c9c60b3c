/* Bots' job queue rules and the launch decision. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "scheduler.h"

#include "authfile.h"
#include "error.h"
#include "report.h"
#include "policy.h"
#include "task.h"

struct _JqScheduler {
  const JqConfig *config;
  JqLog          *log;
  JqQueue        *queue;
  const JqRunnerOps *ops;      /* the runner's seam */
  gpointer        runner;
  JqClock         clock;       /* wall clock, unix microseconds */
  JqJournal      *journal;     /* never NULL: the null store keeps nothing */
  JqJournal      *own_journal; /* the null store made for a NULL journal */
  JqReporter     *reporter;
  JqAuthFile     *auth;        /* bots.ini's authorization keys */
  JqTaskPolicy   *policy;      /* what may run, and where (auth's) */
  JqLogLimit     *refusals;    /* refused tasks: a client sets the pace */
  JqLogLimit     *duplicates;
  guint           limits_id;   /* summarizes what the limits held back */
  gboolean        stopping;
  gboolean        terminating; /* running jobs were stopped with the server */
  gboolean        paused;      /* launching held by pause() */
  JqTotals        totals;      /* added and since_us; the outcomes are
                                * the metrics' */
  JqEvents       *events;      /* what happens to jobs, for whoever
                                * subscribes */
  JqHistory      *history;     /* what ended; subscribed first */
  JqMetrics      *metrics;     /* the counts; subscribed second */
  guint           orphans;     /* jobs of a crashed server still running,
                                * adopted by the runner */
  GSourceFunc     drained;
  gpointer        drained_data;
  guint           retry_id;    /* launching again after a shortage */
  guint           retry_ms;    /* the next back-off; 0 after a start */
  guint           retry_first_ms; /* the first back-off */
  JqLaunchGate    gate;        /* nullable: may this server launch? */
  gpointer        gate_data;
  GHashTable     *abandoned;   /* numbers of jobs ended by a lost lead */
  gboolean        taking_over; /* recovery of another server's jobs */
  gboolean        straying;    /* requeueing rows no server runs */
  gboolean        sync_failed; /* a resync's changes did not apply */
  gboolean        holding;     /* in a door batch: launches wait for its
                                * commit (jq_scheduler_hold_launches) */
  GArray         *held_added;  /* guint64: jobs added while holding */
  gboolean        launch_held; /* a launch was asked for while holding */
  gboolean        journal_failed; /* memory and journal parted */
};

/* A job that could not start for a passing shortage (descriptors,
 * processes, memory) waits for the next try, first of the queue: at
 * first after this long, doubling up to the maximum. */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS   (30 * 1000)

static void launch_next (JqScheduler *s);
static void begin (JqScheduler *s);
static gboolean may_launch (JqScheduler *s);

/* Tells the subscribers (events.h), with the queue's state. */
static void
observe (JqScheduler *s, JqEvent event)
{
  if (event.job != NULL)
    event.number = jq_job_get_number (event.job);
  event.waiting = jq_queue_count (s->queue);
  event.paused = s->paused;
  jq_events_emit (s->events, &event);
}

static void
on_timed_out (JqJob *job, gpointer user_data)
{
  JqScheduler *s = user_data;
  jq_reporter_timed_out (s->reporter, job);
}

/* Refused and duplicate tasks logged one by one per minute; the rest are
 * counted (a refused 64 KB task a thousand times a second would fill a
 * disk).  Bots' own callers stay far below. */
#define LIMIT_BURST    10
#define LIMIT_WINDOW_S 60

static void
remember_gone (JqScheduler *s, guint64 number)
{
  observe (s, (JqEvent) { .kind = JQ_EVENT_GONE, .number = number });
}

static void
on_finished (JqJob *job, const JqFinished *result, gpointer user_data)
{
  JqScheduler *s = user_data;

  guint64 number = jq_job_get_number (job);
  if (g_hash_table_remove (s->abandoned, &number))
    {
      /* Another server leads: what the journal says of it is theirs. */
      jq_log_write (s->log, JQ_LOG_WARNING,
                    "Job %" G_GUINT64_FORMAT " was ended because this "
                    "server lost the lead; the leader runs it again.",
                    number);
      jq_scheduler_kick (s);
      return;
    }
  /* Before the next start: the history's order is the order of the
   * ends, and the launch gap is measured from here. */
  if (!s->terminating)
    observe (s, (JqEvent) { .kind = JQ_EVENT_FINISHED, .job = job,
                            .result = result });
  /* The next job starts first (the launch gap is what matters); both
   * changes then commit together. */
  begin (s);
  launch_next (s);
  if (s->terminating)
    {
      /* Stopped by our own shutdown, not finished: it runs again, when
       * there is a journal to say so. */
      jq_journal_requeue_at_head (s->journal, jq_job_get_number (job));
      jq_log_write (s->log, JQ_LOG_WARNING,
                    "Job %" G_GUINT64_FORMAT " was stopped with the server; "
                    "%s", jq_job_get_number (job),
                    !jq_journal_is_durable (s->journal)
                      ? "without a journal (durability none) nothing "
                        "runs it again."
                      : s->journal_failed
                      ? "the journal had failed: it runs again at the next "
                        "start only if the journal file still holds it."
                      : "it runs again at the next start.");
    }
  else
    {
      jq_journal_finish (s->journal, result);
      if (result->exit_code != 0)
        jq_reporter_failed (s->reporter, job, result->exit_code);
      jq_reporter_count (s->reporter, result->exit_code != 0);
    }
  /* Only job moves: the next end is noticed without waiting for the disk
   * (the launch gap); a power loss within the sync's delay runs the jobs
   * whose moves it took again (doc/durability.md). */
  jq_journal_commit_moves (s->journal, NULL);
}

static void
on_adopted_timed_out (guint64 number, gpointer user_data)
{
  JqScheduler *s = user_data;
  JqJob *job = jq_queue_lookup (s->queue, number);   /* queued again */
  if (job != NULL)
    jq_reporter_timed_out (s->reporter, job);
}

static void
on_adopted_ended (guint64 number, gpointer user_data)
{
  JqScheduler *s = user_data;
  s->orphans--;
  /* In its own transaction: a shared journal reads the queue first. */
  jq_scheduler_kick (s);
}

JqScheduler *
jq_scheduler_new (const JqConfig *config, JqLog *log,
                  const JqRunnerSettings *runner_settings, JqJournal *journal)
{
  return jq_scheduler_new_with (config, log, journal, &jq_runner_ops,
                                (gpointer) runner_settings, g_get_real_time);
}

JqScheduler *
jq_scheduler_new_with (const JqConfig *config, JqLog *log,
                       JqJournal *journal, const JqRunnerOps *ops,
                       gpointer ops_data, JqClock clock)
{
  JqScheduler *s = g_new0 (JqScheduler, 1);
  s->config = config;
  s->log = log;
  s->own_journal = journal == NULL ? jq_journal_open_none () : NULL;
  s->journal = journal != NULL ? journal : s->own_journal;
  s->ops = ops;
  s->clock = clock;
  s->retry_first_ms = RETRY_FIRST_MS;
  s->totals.since_us = clock ();
  s->held_added = g_array_new (FALSE, FALSE, sizeof (guint64));
  s->events = jq_events_new ();
  s->history = jq_history_new (s->journal);
  s->metrics = jq_metrics_new ();
  jq_events_subscribe (s->events, jq_history_observe, s->history);
  jq_events_subscribe (s->events, jq_metrics_observe, s->metrics);
  s->abandoned = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                        NULL);
  s->paused = jq_journal_get_flag (s->journal, "paused");
  s->queue = jq_queue_new ();
  s->auth = jq_auth_file_new (config, log);
  s->policy = jq_auth_file_get_policy (s->auth);
  {
    /* Said once at the start: why bots-engine is or is not found, under
     * a service manager's short PATH, is the first thing to check. */
    const char *path = g_getenv ("PATH");
    g_autofree char *dirs = g_strjoinv (
        ", ", (char **) jq_task_policy_get_scripts_dirs (s->policy));
    jq_log_write (log, JQ_LOG_STARTINFO,
                  "Jobs run in %s; bots-engine is looked for on PATH (%s)%s%s.",
                  config->job_dir, path ? path : "/bin:/usr/bin",
                  dirs[0] ? " and in " : "", dirs);
  }
  s->refusals = jq_log_limit_new (log, "refused tasks", LIMIT_BURST,
                                  LIMIT_WINDOW_S);
  s->duplicates = jq_log_limit_new (log, "duplicate tasks", LIMIT_BURST,
                                    LIMIT_WINDOW_S);
  JqRunnerHooks hooks = {
    .finished = on_finished,
    .timed_out = on_timed_out,
    .adopted_ended = on_adopted_ended,
    .adopted_timed_out = on_adopted_timed_out,
    .user_data = s,
  };
  s->runner = ops->create (ops_data, s->policy, log, &hooks);
  s->reporter = jq_reporter_new (config, log);
  return s;
}

/* What the log limits held back is summarized once the window is over,
 * even when nothing else is refused. */
static gboolean
on_limits (gpointer user_data)
{
  JqScheduler *s = user_data;
  jq_log_limit_flush (s->refusals);
  jq_log_limit_flush (s->duplicates);
  s->limits_id = 0;
  return G_SOURCE_REMOVE;
}

static void
limited (JqScheduler *s, gboolean written)
{
  if (!written && s->limits_id == 0)
    s->limits_id = g_timeout_add_seconds (LIMIT_WINDOW_S, on_limits, s);
}

static gboolean
on_retry (gpointer data)
{
  JqScheduler *s = data;
  s->retry_id = 0;
  /* In its own transaction: a shared journal reads the queue first. */
  jq_scheduler_kick (s);
  return G_SOURCE_REMOVE;
}

/* @job could not start for lack of something the system will have again:
 * it is not the job's failure.  It goes back first of the queue, and
 * launching waits for a timer (doubling up to RETRY_MAX_MS): a job ending
 * or a call coming in does not make it try sooner, so a shortage costs a
 * try now and then, not a busy loop. */
static void
postpone (JqScheduler *s, JqJob *job, const GError *error)
{
  jq_queue_restore (s->queue, job, TRUE);
  s->retry_ms = s->retry_ms == 0 ? s->retry_first_ms
                                 : MIN (s->retry_ms * 2, RETRY_MAX_MS);
  jq_log_write (s->log, JQ_LOG_WARNING,
                "Job %" G_GUINT64_FORMAT " cannot start now (%s); it stays "
                "first in the queue and is tried again in %u ms.",
                jq_job_get_number (job), error->message, s->retry_ms);
  s->retry_id = g_timeout_add (s->retry_ms, on_retry, s);
}

/* Starts waiting jobs while slots are free.  A job that cannot start is
 * logged and skipped: the queue goes on.  One that cannot start for a
 * passing shortage waits for a retry instead (postpone()). */
static void
launch_next (JqScheduler *s)
{
  /* A job left running by a crashed server counts as running. */
  if (s->holding)
    {
      s->launch_held = TRUE;    /* jq_scheduler_release_launches does it */
      return;
    }
  while (s->orphans == 0 && !s->stopping && !s->paused && s->retry_id == 0
         && s->ops->count (s->runner) < s->config->nr_threads
         && may_launch (s))
    {
      g_autoptr (JqJob) job = jq_queue_pop (s->queue);
      if (job == NULL)
        break;
      g_autoptr (GError) error = NULL;
      GPid pid = 0;
      if (s->ops->start (s->runner, job, &pid, &error))
        {
          s->retry_ms = 0;
          /* One reading of the clock: the journal and the subscribers
           * must show the same start. */
          gint64 started_us = s->clock ();
          jq_journal_start (s->journal, jq_job_get_number (job),
                            started_us, pid);
          observe (s, (JqEvent) { .kind = JQ_EVENT_STARTED, .job = job,
                                  .started_us = started_us });
        }
      else if (g_error_matches (error, JQ_ERROR, JQ_ERROR_AGAIN))
        {
          postpone (s, job, error);
          break;
        }
      else
        {
          jq_log_write (s->log, JQ_LOG_ERROR,
                        "Error starting job %" G_GUINT64_FORMAT ": %s",
                        jq_job_get_number (job), error->message);
          JqFinished f = jq_finished_of (job);
          f.ended_us = s->clock ();
          f.start_error = error->message;
          jq_journal_finish (s->journal, &f);
          observe (s, (JqEvent) { .kind = JQ_EVENT_START_FAILED, .job = job,
                                  .result = &f,
                                  .start_error = error->message });
          jq_reporter_start_failed (s->reporter, job, error->message);
          jq_reporter_count (s->reporter, TRUE);
        }
    }
  if (s->stopping && s->ops->count (s->runner) == 0
      && s->drained != NULL)
    {
      GSourceFunc drained = s->drained;
      s->drained = NULL;
      drained (s->drained_data);
    }
}

/* Whether @argv may run; a refusal is logged (rate-limited), in Bots 4's
 * words for a Bots 4 installation. */
static gboolean
authorized_or_logged (JqScheduler *s, const char *const *argv,
                      const char *task, gboolean bots4)
{
  g_autoptr (GError) why = NULL;
  gboolean authorized = jq_task_is_authorized (s->policy, argv, &why);
  /* An administrator who has just fixed bots.ini expects the next click
   * to work, not a restart. */
  if (!authorized && jq_auth_file_reload (s->auth, FALSE, "bots.ini changed"))
    {
      g_clear_error (&why);
      authorized = jq_task_is_authorized (s->policy, argv, &why);
    }
  if (!authorized)
    limited (s, jq_log_limit_write (s->refusals, JQ_LOG_ERROR,
                                    bots4 ? "Invalid task received: %s (%s)"
                                    : "Task not authorized, not added: %s "
                                      "(%s)", task, why->message));
  return authorized;
}

/* Whether @caller fills only its share of the waiting-job bounds
 * ([jobqueue] user_queue_share): everybody but root and the server's own
 * user (Bots' cron, GUI and dirmonitor), who then always find room
 * however much one other user queued.  Unknown callers share one. */
static gboolean
has_queue_share (const JqCaller *caller)
{
  return caller != NULL && !caller->own
         && !(caller->known && caller->uid == 0);
}

/* TRUE (and the log says so) when @caller's own waiting jobs with @argv
 * would pass its share of max_waiting_jobs or max_waiting_bytes. */
static gboolean
over_share_logged (JqScheduler *s, const char *const *argv,
                   const JqCaller *caller, const char *task)
{
  guint percent = s->config->user_queue_share;
  if (!has_queue_share (caller) || percent >= 100)
    return FALSE;
  guint jobs;
  gsize bytes;
  jq_queue_owner_use (s->queue, caller->known ? (guint32) caller->uid
                                              : JQ_JOB_NO_OWNER,
                      &jobs, &bytes);
  guint64 cap = s->config->max_waiting_bytes / 100 * percent;
  guint64 cap_jobs = (guint64) s->config->max_waiting_jobs * percent / 100;
  gboolean over_bytes = cap > 0 && bytes + jq_queue_job_cost (argv) > cap;
  gboolean over_jobs = cap_jobs > 0 && jobs >= cap_jobs;
  if (!(over_bytes || over_jobs))
    return FALSE;
  char by[128];
  limited (s, jq_log_limit_write (s->refusals, JQ_LOG_ERROR,
                                  "Queue full for this user "
                                  "(user_queue_share %u%% of %s: %"
                                  G_GUINT64_FORMAT "), not added: %s%s",
                                  percent, over_jobs ? "max_waiting_jobs"
                                                     : "max_waiting_bytes",
                                  over_jobs ? cap_jobs : cap, task,
                                  jq_caller_suffix (caller, FALSE, by,
                                                    sizeof by)));
  return TRUE;
}

/* Waiting tasks are kept in memory and every listjobs answers them all:
 * their total is bounded, and each user's share of it.  A task already
 * waiting adds nothing.  A full queue is logged (rate-limited). */
static gboolean
full_or_logged (JqScheduler *s, const char *const *argv,
                const JqCaller *caller, const char *task)
{
  if (jq_queue_has_task (s->queue, argv))
    return FALSE;
  if (over_share_logged (s, argv, caller, task))
    return TRUE;
  guint64 cap = s->config->max_waiting_bytes;
  guint cap_jobs = s->config->max_waiting_jobs;
  gboolean over_bytes = cap > 0 && jq_queue_get_bytes (s->queue)
                                   + jq_queue_job_cost (argv) > cap;
  gboolean over_jobs = cap_jobs > 0
                       && jq_queue_count (s->queue) >= cap_jobs;
  if (!(over_bytes || over_jobs))
    return FALSE;
  limited (s, jq_log_limit_write (s->refusals, JQ_LOG_ERROR,
                                  "Queue full (%s %" G_GUINT64_FORMAT
                                  "), not added: %s",
                                  over_jobs ? "max_waiting_jobs"
                                            : "max_waiting_bytes",
                                  over_jobs ? (guint64) cap_jobs : cap,
                                  task));
  return TRUE;
}

/* The priority addjob of @argv may give: Bots' rule moves a waiting job
 * of the same task to the new priority, but only for its owner or an
 * admin; for anybody else the job keeps its own, a duplicate. */
static int
steerable_priority (JqScheduler *s, const char *const *argv, int priority,
                    const JqCaller *caller)
{
  JqJob *same = jq_queue_find_task (s->queue, argv);
  if (same != NULL && jq_job_get_priority (same) != priority
      && !jq_caller_may_steer (caller, jq_job_get_owner (same)))
    return jq_job_get_priority (same);
  return priority;
}

/* A waiting job that a second caller asked for too (a duplicate, or a
 * priority changed by an admin who is not its owner) is shared: it loses
 * its owner, so that only admins may remove or reprioritise it.  Else its
 * first owner could remove a job cron queued as well (issue 19, F4). */
static void
share_if_asked_again (JqScheduler *s, JqJob *job, const JqCaller *caller,
                      const char *task)
{
  guint32 owner = jq_job_get_owner (job);
  if (owner == JQ_JOB_NO_OWNER
      || (caller != NULL && caller->known && (guint32) caller->uid == owner))
    return;
  char by[128];
  jq_queue_set_owner (s->queue, job, JQ_JOB_NO_OWNER);
  jq_journal_disown (s->journal, jq_job_get_number (job));
  jq_log_write (s->log, JQ_LOG_INFO, "Job %" G_GUINT64_FORMAT " is shared "
                "now (queued by uid %u, asked for again): only an admin may "
                "remove or reprioritise it: %s%s", jq_job_get_number (job),
                owner, task, jq_caller_suffix (caller, FALSE, by, sizeof by));
}

JqAddjobCode
jq_scheduler_submit (JqScheduler *s, const char *const *argv, int priority,
                     const JqCaller *caller, guint64 *number)
{
  char by[128];
  const char *bots_by = jq_caller_suffix (caller, TRUE, by, sizeof by);
  if (number != NULL)
    *number = 0;
  /* Bots 4's server words its refusals so; Bots 3's refused nothing,
   * so the lines it gets are ours. */
  gboolean bots4 = jq_log_get_style (s->log) == JQ_LOG_STYLE_BOTS4;
  if (argv[0] == NULL)
    {
      limited (s, bots4
                  ? jq_log_limit_write (s->refusals, JQ_LOG_ERROR,
                                        "No task specified.")
                  : jq_log_limit_write (s->refusals, JQ_LOG_WARNING,
                                        "Empty task not added."));
      return JQ_ADDJOB_EMPTY;
    }
  if (argv[1] == NULL && g_str_equal (argv[0], "isup"))
    return JQ_ADDJOB_OK;

  g_autofree char *task = jq_task_repr_cut (argv);
  if (!authorized_or_logged (s, argv, task, bots4))
    return JQ_ADDJOB_UNAUTHORIZED;
  if (full_or_logged (s, argv, caller, task))
    return JQ_ADDJOB_FULL;

  JqJob *job = NULL;
  priority = steerable_priority (s, argv, priority, caller);
  JqAddResult added = jq_queue_add (s->queue, argv, priority,
                                    s->clock (), &job);
  /* Read now: launch_next() below may start and drop the job. */
  if (number != NULL)
    *number = jq_job_get_number (job);
  switch (added)
    {
    case JQ_ADD_DUPLICATE:
      share_if_asked_again (s, job, caller, task);
      limited (s, jq_log_limit_write (s->duplicates,
                                      bots4 ? JQ_LOG_WARNING : JQ_LOG_INFO,
                                      "Duplicate job not added: %s%s", task,
                                      bots_by));
      return JQ_ADDJOB_DUPLICATE;
    case JQ_ADD_PRIORITY_CHANGED:
      jq_journal_set_priority (s->journal, jq_job_get_number (job), priority);
      share_if_asked_again (s, job, caller, task);
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Duplicate job, changed priority to %d: %s%s", priority,
                    task, bots_by);
      break;
    case JQ_ADD_ADDED:
      s->totals.added++;
      if (caller != NULL && caller->known)
        jq_queue_set_owner (s->queue, job, (guint32) caller->uid);
      if (s->holding)
        {
          guint64 n = jq_job_get_number (job);
          g_array_append_val (s->held_added, n);
        }
      jq_journal_add (s->journal, job);
      jq_journal_set_next_number (s->journal,
                                  jq_queue_get_next_number (s->queue));
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Added job %" G_GUINT64_FORMAT ", priority %d: %s%s",
                    jq_job_get_number (job), priority, task, bots_by);
      break;
    }
  launch_next (s);
  return JQ_ADDJOB_OK;
}

void
jq_scheduler_reload_authorization (JqScheduler *s, const char *why)
{
  jq_auth_file_reload (s->auth, TRUE, why);
}

guint
jq_scheduler_copy_page (JqScheduler *s, JqQueueCursor *cursor,
                        GByteArray *page, gsize max_bytes)
{
  return jq_queue_copy_page (s->queue, cursor, page, max_bytes);
}

GPtrArray *
jq_scheduler_listjobs (JqScheduler *s)
{
  return jq_queue_list (s->queue);
}

JqJob *
jq_scheduler_getjob (JqScheduler *s, const JqCaller *caller)
{
  char by[128];
  JqJob *job = jq_queue_pop (s->queue);
  if (job != NULL)
    {
      jq_journal_remove (s->journal, jq_job_get_number (job));
      remember_gone (s, jq_job_get_number (job));
      g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Job %" G_GUINT64_FORMAT " handed to a client (getjob): "
                    "%s%s", jq_job_get_number (job), task,
                    jq_caller_suffix (caller, FALSE, by, sizeof by));
    }
  return job;
}

void
jq_scheduler_clear (JqScheduler *s, const JqCaller *caller)
{
  char by[128];
  g_autoptr (GPtrArray) waiting = jq_queue_list (s->queue);
  for (guint i = 0; i < waiting->len; i++)
    remember_gone (s, jq_job_get_number (waiting->pdata[i]));
  guint n = jq_queue_clear (s->queue);
  jq_journal_clear_waiting (s->journal);
  jq_log_write (s->log, JQ_LOG_INFO, "Job queue cleared.%s",
                jq_caller_suffix (caller, TRUE, by, sizeof by));
  jq_log_write (s->log, JQ_LOG_DEBUG, "%u waiting jobs dropped", n);
}

void
jq_scheduler_stop (JqScheduler *s, GSourceFunc drained, gpointer user_data)
{
  s->stopping = TRUE;
  g_clear_handle_id (&s->retry_id, g_source_remove);
  s->drained = drained;
  s->drained_data = user_data;
  launch_next (s);
}

void
jq_scheduler_terminate_running (JqScheduler *s)
{
  s->terminating = TRUE;
  s->ops->kill_all (s->runner, "server stopping");
}

static void
recover_job (JqJob *job, gboolean was_running, int pid, gint64 started_us,
             gpointer user_data)
{
  JqScheduler *s = user_data;
  guint64 number = jq_job_get_number (job);
  int alive = s->ops->find_left (s->runner, number, pid, started_us);
  if (alive != 0 && !was_running)
    {
      /* Killed between starting it and recording that. */
      jq_log_write (s->log, JQ_LOG_WARNING,
                    "Job %" G_GUINT64_FORMAT " had just been started when "
                    "the server stopped.", number);
      was_running = TRUE;
    }
  if (!jq_queue_restore (s->queue, job, was_running))
    {
      /* Only a hand-edited journal can hold the same task twice. */
      g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
      jq_log_write (s->log, JQ_LOG_WARNING,
                    "Job %" G_GUINT64_FORMAT " in the journal repeats a "
                    "waiting task; dropped: %s", number, task);
      jq_journal_remove (s->journal, number);
      return;
    }
  if (was_running)
    {
      g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
      jq_journal_requeue_at_head (s->journal, number);
      jq_log_write (s->log, JQ_LOG_WARNING,
                    "Job %" G_GUINT64_FORMAT " %s; queued again first of "
                    "priority %d: %s", number,
                    s->straying ? "is recorded as running, but the leader "
                                  "does not run it (a server that lost the "
                                  "lead ran it)"
                    : s->taking_over ? "was running when the server stopped "
                                       "(the previous leader)"
                    : "was running when the server stopped",
                    jq_job_get_priority (job), task);
      /* It counts as running: no job starts until it ends, so that its
       * repeated run cannot overlap it. */
      if (alive != 0 && s->ops->adopt (s->runner, number, alive))
        s->orphans++;
    }
}

gboolean
jq_scheduler_recover (JqScheduler *s, GError **error)
{
  guint64 next = 1;
  begin (s);
  gboolean ok = jq_journal_load (s->journal, recover_job, s, &next, error);
  jq_queue_set_next_number (s->queue, next);
  if (!jq_journal_commit (s->journal, ok ? error : NULL) || !ok)
    return FALSE;
  /* A pause is kept across restarts: said here, or a queue that was
   * paused long ago (before a switch back and forth) seems stuck. */
  if (jq_journal_is_durable (s->journal))
    jq_log_write (s->log, JQ_LOG_STARTINFO,
                  "Journal %s: %u waiting job(s) recovered; next job number "
                  "%" G_GUINT64_FORMAT "%s.", jq_journal_get_path (s->journal),
                  jq_queue_count (s->queue), next, s->paused
                  ? "; the queue is paused, as it was left: no job starts "
                    "until it is resumed (bots-jobqueue resume)" : "");
  begin (s);
  launch_next (s);
  return jq_journal_commit (s->journal, error);
}

gboolean
jq_scheduler_may_steer (JqScheduler *s, guint64 number,
                        const JqCaller *caller, guint32 *owner)
{
  JqJob *job = jq_queue_lookup (s->queue, number);
  *owner = job != NULL ? jq_job_get_owner (job) : JQ_JOB_NO_OWNER;
  return job == NULL || jq_caller_may_steer (caller, *owner);
}

gboolean
jq_scheduler_remove (JqScheduler *s, guint64 number, const JqCaller *caller)
{
  char by[128];
  JqJob *job = jq_queue_lookup (s->queue, number);
  if (job == NULL)
    return FALSE;
  g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
  jq_log_write (s->log, JQ_LOG_INFO, "Removed job %" G_GUINT64_FORMAT
                ": %s%s", number, task,
                jq_caller_suffix (caller, FALSE, by, sizeof by));
  jq_queue_remove (s->queue, number);
  jq_journal_remove (s->journal, number);
  remember_gone (s, number);
  return TRUE;
}

gboolean
jq_scheduler_set_priority (JqScheduler *s, guint64 number, int priority,
                           const JqCaller *caller)
{
  char by[128];
  JqJob *job = jq_queue_lookup (s->queue, number);
  if (job == NULL)
    return FALSE;
  g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
  jq_queue_set_priority (s->queue, number, priority);
  jq_journal_set_priority (s->journal, number, priority);
  jq_log_write (s->log, JQ_LOG_INFO, "Job %" G_GUINT64_FORMAT ", changed "
                "priority to %d: %s%s", number, priority, task,
                jq_caller_suffix (caller, FALSE, by, sizeof by));
  return TRUE;
}

void
jq_scheduler_set_paused (JqScheduler *s, gboolean paused,
                         const JqCaller *caller)
{
  char by[128];
  if (s->paused == paused)
    return;
  s->paused = paused;
  jq_journal_set_flag (s->journal, "paused", paused);
  jq_log_write (s->log, JQ_LOG_STARTINFO, "%s%s", paused
                ? "Job queue paused: no job starts until it is resumed."
                : "Job queue resumed.",
                jq_caller_suffix (caller, FALSE, by, sizeof by));
  launch_next (s);
}

gboolean
jq_scheduler_get_paused (JqScheduler *s)
{
  return s->paused;
}

JqJobState
jq_scheduler_job_state (JqScheduler *s, guint64 number,
                        JqFinished **finished)
{
  if (finished != NULL)
    *finished = NULL;
  if (jq_queue_lookup (s->queue, number) != NULL)
    return JQ_JOB_WAITING;
  g_autoptr (GPtrArray) running = s->ops->list (s->runner, NULL, NULL);
  for (guint i = 0; i < running->len; i++)
    if (jq_job_get_number (running->pdata[i]) == number)
      return JQ_JOB_RUNNING;
  /* Memory, then the journal: wait() knows what history() lists. */
  g_autoptr (JqFinished) f = jq_history_find (s->history, number);
  if (f != NULL)
    {
      if (finished != NULL)
        *finished = g_steal_pointer (&f);
      return JQ_JOB_FINISHED;
    }
  if (jq_history_is_gone (s->history, number))
    return JQ_JOB_GONE;
  if (jq_journal_is_shared (s->journal))
    {
      /* A shared queue: the job may wait or run on another server. */
      switch (jq_journal_find_job (s->journal, number))
        {
        case JQ_RECORD_WAITING:
          return JQ_JOB_WAITING;
        case JQ_RECORD_RUNNING:
          return JQ_JOB_RUNNING;
        case JQ_RECORD_NONE:
          /* below every number given: it was queued once, and is gone */
          return number < jq_queue_get_next_number (s->queue)
                 ? JQ_JOB_GONE : JQ_JOB_UNKNOWN;
        }
    }
  return JQ_JOB_UNKNOWN;
}

JqTotals
jq_scheduler_get_totals (JqScheduler *s)
{
  JqOutcomes o = jq_metrics_get_outcomes (s->metrics);
  JqTotals t = s->totals;
  t.started = o.started;
  t.succeeded = o.finished[JQ_RESULT_SUCCESS];
  t.failed = o.finished[JQ_RESULT_FAILURE] + o.finished[JQ_RESULT_SIGNAL];
  t.start_failures = o.finished[JQ_RESULT_NOT_STARTED];
  return t;
}

GPtrArray *
jq_scheduler_list_running (JqScheduler *s, GArray *pids, GArray *started_us)
{
  if (jq_journal_is_shared (s->journal) && !may_launch (s))
    {
      /* A shared queue's running job is the leader's: as recorded. */
      GPtrArray *jobs = g_ptr_array_new_with_free_func (
          (GDestroyNotify) jq_job_unref);
      jq_journal_list_running (s->journal, jobs, pids, started_us);
      return jobs;
    }
  GPtrArray *jobs = s->ops->list (s->runner, pids, started_us);
  for (guint i = 0; i < jobs->len; i++)
    jq_job_ref (jobs->pdata[i]);
  g_ptr_array_set_free_func (jobs, (GDestroyNotify) jq_job_unref);
  return jobs;
}

JqEvents *
jq_scheduler_get_events (JqScheduler *s)
{
  return s->events;
}

JqMetrics *
jq_scheduler_get_metrics (JqScheduler *s)
{
  return s->metrics;
}

JqJournal *
jq_scheduler_get_journal (JqScheduler *s)
{
  return s->journal;
}

guint
jq_scheduler_get_running (JqScheduler *s)
{
  return s->ops->count (s->runner);
}

void
jq_scheduler_set_retry_first_ms (JqScheduler *s, guint ms)
{
  s->retry_first_ms = MAX (ms, 1);
}

void
jq_scheduler_hold_launches (JqScheduler *s)
{
  s->holding = TRUE;
  s->launch_held = FALSE;
  g_array_set_size (s->held_added, 0);
}

void
jq_scheduler_release_launches (JqScheduler *s, gboolean saved)
{
  s->holding = FALSE;
  if (!saved)
    {
      /* Their callers got a fault: the jobs were never queued. */
      for (guint i = 0; i < s->held_added->len; i++)
        if (jq_queue_remove (s->queue,
                             g_array_index (s->held_added, guint64, i)))
          s->totals.added--;
      g_array_set_size (s->held_added, 0);
      return;
    }
  g_array_set_size (s->held_added, 0);
  /* Read-only batches (listjobs pages, status scrapes) asked for none:
   * no second transaction for them. */
  gboolean could = s->launch_held && !s->paused && !s->stopping
                   && jq_queue_count (s->queue) > 0
                   && s->ops->count (s->runner) < s->config->nr_threads;
  s->launch_held = FALSE;
  if (!could)         /* no slot, or nothing waits: nothing to write */
    return;
  /* The adds are on disk; their starts are job moves, which need not
   * wait for a second sync (the held launch's cost, doc/performance.md). */
  begin (s);
  launch_next (s);
  jq_journal_commit_moves (s->journal, NULL);
}

void
jq_scheduler_journal_failed (JqScheduler *s)
{
  s->journal_failed = TRUE;
}

gboolean
jq_scheduler_is_durable (JqScheduler *s)
{
  return jq_journal_is_durable (s->journal);
}

gboolean
jq_scheduler_is_shared (JqScheduler *s)
{
  return jq_journal_is_shared (s->journal);
}

guint
jq_scheduler_count_waiting (JqScheduler *s)
{
  return jq_queue_count (s->queue);
}

GPtrArray *
jq_scheduler_list_first (JqScheduler *s, guint limit)
{
  return jq_queue_list_first (s->queue, limit);
}

GArray *
jq_scheduler_history (JqScheduler *s, guint limit, gsize max_bytes)
{
  return jq_history_list (s->history, limit, max_bytes);
}

JqHistory *
jq_scheduler_get_history (JqScheduler *s)
{
  return s->history;
}

/* ------------------------------------------------ a shared queue */

void
jq_scheduler_set_launch_gate (JqScheduler *s, JqLaunchGate gate,
                              gpointer user_data)
{
  s->gate = gate;
  s->gate_data = user_data;
}

static gboolean
may_launch (JqScheduler *s)
{
  return s->gate == NULL || s->gate (s->gate_data);
}

static void
sync_job (JqSyncKind kind, guint64 number, JqJob *job, gboolean at_head,
          gpointer user_data)
{
  JqScheduler *s = user_data;
  jq_queue_remove (s->queue, number);
  if (kind == JQ_SYNC_WAITING && !jq_queue_restore (s->queue, job, at_head))
    s->sync_failed = TRUE;   /* its task waits under another number here */
}

/* Reads the changed waiting jobs (all with @full, or when the changes do
 * not add up), the next number and the pause state again from the
 * journal: another server changed them.  Running jobs are not touched. */
static void
resync (JqScheduler *s, gboolean full)
{
  JqSyncState state = { 1, FALSE, 0 };
  /* The changes first; the whole queue when they do not add up (a job
   * removed elsewhere leaves no row to read). */
  for (int pass = 0; pass < 2; pass++)
    {
      if (full)
        jq_queue_clear (s->queue);
      s->sync_failed = FALSE;
      /* On failure the journal fails the batch, and reads again next time. */
      if (!jq_journal_sync (s->journal, full, sync_job, s, &state, NULL))
        return;
      if (!s->sync_failed && jq_queue_count (s->queue) == state.waiting)
        break;
      full = TRUE;
    }
  jq_queue_set_next_number (s->queue, state.next_number);
  s->paused = state.paused;
}

/* Every batch starts here: a shared queue is read again first when
 * another server changed it, so that the batch judges the shared state.
 * The scheduler pulls; the store never calls up. */
static void
begin (JqScheduler *s)
{
  jq_journal_begin (s->journal);
  gboolean full = FALSE;
  if (jq_journal_changed_elsewhere (s->journal, &full))
    resync (s, full);
}

void
jq_scheduler_begin (JqScheduler *s)
{
  begin (s);
}

gboolean
jq_scheduler_commit (JqScheduler *s, GError **error)
{
  return jq_journal_commit (s->journal, error);
}

gboolean
jq_scheduler_lead (JqScheduler *s, GError **error)
{
  guint64 next = 1;
  begin (s);
  jq_queue_clear (s->queue);
  s->taking_over = TRUE;
  gboolean ok = jq_journal_load (s->journal, recover_job, s, &next, error);
  s->taking_over = FALSE;
  jq_queue_set_next_number (s->queue, next);
  s->paused = jq_journal_get_flag (s->journal, "paused");
  if (ok)
    launch_next (s);
  return jq_journal_commit (s->journal, ok ? error : NULL) && ok;
}

/* Whether @number is one of this server's running jobs (@own: the
 * runner's list). */
static gboolean
runs_here (GPtrArray *own, guint64 number)
{
  for (guint i = 0; i < own->len; i++)
    if (jq_job_get_number (own->pdata[i]) == number)
      return TRUE;
  return FALSE;
}

/* The jobs recorded as running (with their @pids and @started_us,
 * nullable), those this server runs itself replaced by NULL; NULL when
 * every one runs here (or the journal cannot be read). */
static GPtrArray *
find_strays (JqScheduler *s, GArray *pids, GArray *started_us)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (
      (GDestroyNotify) jq_job_unref);
  if (!jq_journal_list_running (s->journal, rows, pids, started_us))
    return NULL;
  g_autoptr (GPtrArray) own = s->ops->list (s->runner, NULL, NULL);
  gboolean any = FALSE;
  for (guint i = 0; i < rows->len; i++)
    if (!runs_here (own, jq_job_get_number (rows->pdata[i])))
      any = TRUE;
    else
      g_clear_pointer (&rows->pdata[i], jq_job_unref);
  return any ? g_steal_pointer (&rows) : NULL;
}

gboolean
jq_scheduler_requeue_strays (JqScheduler *s, GError **error)
{
  /* A read outside the lock first: almost always there is none, and the
   * check then costs no lock. */
  g_autoptr (GPtrArray) seen = find_strays (s, NULL, NULL);
  if (seen == NULL)
    return TRUE;
  begin (s);
  g_autoptr (GArray) pids = g_array_new (FALSE, TRUE, sizeof (GPid));
  g_autoptr (GArray) started = g_array_new (FALSE, TRUE, sizeof (gint64));
  g_autoptr (GPtrArray) strays = find_strays (s, pids, started);
  s->straying = TRUE;
  for (guint i = 0; strays != NULL && i < strays->len; i++)
    if (strays->pdata[i] != NULL)
      recover_job (strays->pdata[i], TRUE,
                   g_array_index (pids, GPid, i),
                   g_array_index (started, gint64, i), s);
  s->straying = FALSE;
  launch_next (s);
  return jq_journal_commit (s->journal, error);
}

void
jq_scheduler_yield (JqScheduler *s)
{
  g_autoptr (GPtrArray) running = s->ops->list (s->runner, NULL, NULL);
  for (guint i = 0; i < running->len; i++)
    {
      guint64 number = jq_job_get_number (running->pdata[i]);
      g_hash_table_add (s->abandoned, g_memdup2 (&number, sizeof number));
    }
  if (running->len > 0)
    s->ops->kill_all (s->runner, "this server lost the lead");
}

void
jq_scheduler_changed_elsewhere (JqScheduler *s)
{
  observe (s, (JqEvent) { .kind = JQ_EVENT_CHANGED_ELSEWHERE });
}

void
jq_scheduler_kick (JqScheduler *s)
{
  begin (s);
  launch_next (s);
  jq_journal_commit_moves (s->journal, NULL);
}

void
jq_scheduler_free (JqScheduler *s)
{
  if (s == NULL)
    return;
  g_clear_handle_id (&s->retry_id, g_source_remove);
  s->ops->free (s->runner);
  g_clear_handle_id (&s->limits_id, g_source_remove);
  jq_log_limit_free (s->refusals);     /* writes what it held back */
  jq_log_limit_free (s->duplicates);
  jq_auth_file_free (s->auth);
  jq_reporter_free (s->reporter);
  jq_queue_free (s->queue);
  jq_history_free (s->history);
  jq_metrics_free (s->metrics);
  jq_events_free (s->events);
  g_hash_table_unref (s->abandoned);
  g_array_unref (s->held_added);
  g_clear_pointer (&s->own_journal, jq_journal_close);
  g_free (s);
}
