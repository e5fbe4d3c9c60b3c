/* A job and its life: made when queued (or read back from the journal),
 * shared by reference, freed with its last reference.  One allocation:
 * the fields, the argv's pointers, then its strings (job-layout.h). */
#include "job-layout.h"

#include <string.h>

/* The duplicate set's hash of a task: 31 bits, well mixed in the high
 * ones, which pick the slot. */
guint32
jq_job_hash_task (const char *const *argv)
{
  guint32 h = 5381;
  for (; *argv != NULL; argv++)
    h = (h * 33) ^ g_str_hash (*argv);
  h ^= h >> 16;       /* murmur3's finaliser */
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h & 0x7fffffffu;
}

JqJob *
jq_job_new (guint64 number, int priority, const char *const *argv,
            gint64 queued_us)
{
  static const char *const none[] = { NULL };
  if (argv == NULL)
    argv = none;
  gsize n = 0, text = 0;
  for (; argv[n] != NULL; n++)
    text += strlen (argv[n]) + 1;
  /* One allocation: the fields, the pointers, then the strings. */
  JqJob *job = g_malloc (sizeof (JqJob) + (n + 1) * sizeof (char *) + text);
  g_atomic_ref_count_init (&job->ref_count);
  job->owner = JQ_JOB_NO_OWNER;
  job->number = number;
  job->queued_us = queued_us;
  job->priority = priority;
  job->task_hash = jq_job_hash_task (argv);
  job->at_head = FALSE;
  char *p = (char *) (job->argv + n + 1);
  for (gsize i = 0; i < n; i++)
    {
      gsize len = strlen (argv[i]) + 1;
      job->argv[i] = memcpy (p, argv[i], len);
      p += len;
    }
  job->argv[n] = NULL;
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
    g_free (job);
}

guint64 jq_job_get_number (const JqJob *job) { return job->number; }
int jq_job_get_priority (const JqJob *job) { return job->priority; }
gint64 jq_job_get_queued_us (const JqJob *job) { return job->queued_us; }

const char *const *
jq_job_get_argv (const JqJob *job)
{
  return (const char *const *) job->argv;
}

guint32 jq_job_get_owner (const JqJob *job) { return job->owner; }
gboolean jq_job_is_at_head (const JqJob *job) { return job->at_head; }
void jq_job_set_owner (JqJob *job, guint32 uid) { job->owner = uid; }
void jq_job_set_priority (JqJob *job, int priority) { job->priority = priority; }
void jq_job_set_at_head (JqJob *job, gboolean at_head) { job->at_head = at_head != FALSE; }
