/* Bots' job queue rules and the launch decision. */
#include "scheduler.h"

#include "error.h"
#include "task.h"

struct _JqScheduler {
  const JqConfig *config;
  JqLog          *log;
  JqQueue        *queue;
  JqRunner       *runner;
  gboolean        stopping;
  GSourceFunc     drained;
  gpointer        drained_data;
};

static void launch_next (JqScheduler *s);

static void
on_finished (JqJob *job, const JqJobResult *result, gpointer user_data)
{
  JqScheduler *s = user_data;
  launch_next (s);
}

JqScheduler *
jq_scheduler_new (const JqConfig *config, JqLog *log,
                  const JqRunnerSettings *runner_settings)
{
  JqScheduler *s = g_new0 (JqScheduler, 1);
  s->config = config;
  s->log = log;
  s->queue = jq_queue_new ();
  s->runner = jq_runner_new (log, runner_settings, on_finished, s);
  return s;
}

/* Starts waiting jobs while slots are free.  A job that cannot start is
 * logged and skipped: the queue goes on. */
static void
launch_next (JqScheduler *s)
{
  while (!s->stopping
         && jq_runner_get_running (s->runner) < s->config->nr_threads)
    {
      g_autoptr (JqJob) job = jq_queue_pop (s->queue);
      if (job == NULL)
        return;
      g_autoptr (GError) error = NULL;
      if (!jq_runner_start (s->runner, job, &error))
        jq_log_write (s->log, JQ_LOG_ERROR,
                      "Error starting job %" G_GUINT64_FORMAT ": %s",
                      jq_job_get_number (job), error->message);
    }
  if (s->stopping && jq_runner_get_running (s->runner) == 0
      && s->drained != NULL)
    {
      GSourceFunc drained = s->drained;
      s->drained = NULL;
      drained (s->drained_data);
    }
}

JqAddjobCode
jq_scheduler_addjob (JqScheduler *s, const char *const *argv, int priority)
{
  if (argv[0] == NULL)
    {
      jq_log_write (s->log, JQ_LOG_WARNING, "Empty task not added.");
      return JQ_ADDJOB_EMPTY;
    }
  if (argv[1] == NULL && g_str_equal (argv[0], "isup"))
    return JQ_ADDJOB_OK;

  g_autofree char *task = jq_task_repr (argv);
  if (!jq_task_is_authorized (argv,
                              (const char *const *) s->config->authorized_tasks,
                              NULL, NULL))
    {
      jq_log_write (s->log, JQ_LOG_ERROR,
                    "Task not authorized, not added: %s", task);
      return JQ_ADDJOB_UNAUTHORIZED;
    }

  JqJob *job = NULL;
  switch (jq_queue_add (s->queue, argv, priority, g_get_real_time (), &job))
    {
    case JQ_ADD_DUPLICATE:
      jq_log_write (s->log, JQ_LOG_INFO, "Duplicate job not added: %s", task);
      return JQ_ADDJOB_DUPLICATE;
    case JQ_ADD_PRIORITY_CHANGED:
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Duplicate job, changed priority to %d: %s", priority,
                    task);
      break;
    case JQ_ADD_ADDED:
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Added job %" G_GUINT64_FORMAT ", priority %d: %s",
                    jq_job_get_number (job), priority, task);
      break;
    }
  launch_next (s);
  return JQ_ADDJOB_OK;
}

GPtrArray *
jq_scheduler_listjobs (JqScheduler *s)
{
  return jq_queue_list (s->queue);
}

JqJob *
jq_scheduler_getjob (JqScheduler *s)
{
  JqJob *job = jq_queue_pop (s->queue);
  if (job != NULL)
    {
      g_autofree char *task = jq_task_repr (jq_job_get_argv (job));
      jq_log_write (s->log, JQ_LOG_INFO,
                    "Job %" G_GUINT64_FORMAT " handed to a client (getjob): "
                    "%s", jq_job_get_number (job), task);
    }
  return job;
}

void
jq_scheduler_clear (JqScheduler *s)
{
  guint n = jq_queue_clear (s->queue);
  jq_log_write (s->log, JQ_LOG_INFO, "Job queue cleared.");
  jq_log_write (s->log, JQ_LOG_DEBUG, "%u waiting jobs dropped", n);
}

void
jq_scheduler_stop (JqScheduler *s, GSourceFunc drained, gpointer user_data)
{
  s->stopping = TRUE;
  s->drained = drained;
  s->drained_data = user_data;
  launch_next (s);
}

void
jq_scheduler_terminate_running (JqScheduler *s)
{
  jq_runner_terminate_all (s->runner);
}

guint
jq_scheduler_get_running (JqScheduler *s)
{
  return jq_runner_get_running (s->runner);
}

JqQueue *
jq_scheduler_get_queue (JqScheduler *s)
{
  return s->queue;
}

void
jq_scheduler_free (JqScheduler *s)
{
  if (s == NULL)
    return;
  jq_runner_free (s->runner);
  jq_queue_free (s->queue);
  g_free (s);
}
