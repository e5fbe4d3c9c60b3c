/* A job and its life: made when queued (or read back from the journal),
 * shared by reference, freed with its last reference. */
#include "job.h"

struct _JqJob {
  gatomicrefcount ref_count;
  guint32  owner;       /* uid that queued it; JQ_JOB_NO_OWNER: unknown
                         * (beside ref_count: no bigger a job) */
  guint64  number;      /* > 0, unique for the life of the queue */
  int      priority;    /* lower runs first */
  gboolean at_head;     /* restored job: before all others of its priority */
  gint64   queued_us;   /* wall clock, unix microseconds */
  char   **argv;
};

JqJob *
jq_job_new (guint64 number, int priority, const char *const *argv,
            gint64 queued_us)
{
  JqJob *job = g_new0 (JqJob, 1);
  g_atomic_ref_count_init (&job->ref_count);
  job->number = number;
  job->priority = priority;
  job->queued_us = queued_us;
  job->owner = JQ_JOB_NO_OWNER;
  job->argv = g_strdupv ((char **) argv);
  return job;
}

JqJob *
jq_job_ref (JqJob *job)
{
  g_atomic_ref_count_inc (&job->ref_count);
  return job;
}

void
jq_job_unref (JqJob *job)
{
  if (job != NULL && g_atomic_ref_count_dec (&job->ref_count))
    {
      g_strfreev (job->argv);
      g_free (job);
    }
}

guint64 jq_job_get_number (const JqJob *job) { return job->number; }
int jq_job_get_priority (const JqJob *job) { return job->priority; }
gint64 jq_job_get_queued_us (const JqJob *job) { return job->queued_us; }
guint32 jq_job_get_owner (const JqJob *job) { return job->owner; }
gboolean jq_job_is_at_head (const JqJob *job) { return job->at_head; }

const char *const *
jq_job_get_argv (const JqJob *job)
{
  return (const char *const *) job->argv;
}

void jq_job_set_owner (JqJob *job, guint32 uid) { job->owner = uid; }
void jq_job_set_priority (JqJob *job, int priority) { job->priority = priority; }
void jq_job_set_at_head (JqJob *job, gboolean at_head) { job->at_head = at_head; }

const guint64 *
jq_job_number_key (const JqJob *job)
{
  return &job->number;
}
