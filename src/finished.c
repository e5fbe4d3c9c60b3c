/* A finished job. */
#include "finished.h"

JqFinished
jq_finished_of (const JqJob *job)
{
  return (JqFinished) {
    .number = jq_job_get_number (job),
    .priority = jq_job_get_priority (job),
    .argv = jq_job_get_argv (job),
    .queued_us = jq_job_get_queued_us (job),
  };
}

JqFinished *
jq_finished_copy (const JqFinished *f)
{
  JqFinished *copy = g_memdup2 (f, sizeof *f);
  copy->argv = (const char *const *) g_strdupv ((char **) f->argv);
  copy->start_error = g_strdup (f->start_error);
  return copy;
}

void
jq_finished_clear (gpointer p)
{
  JqFinished *f = p;
  g_strfreev ((char **) f->argv);
  g_free ((char *) f->start_error);
  f->argv = NULL;
  f->start_error = NULL;
}

void
jq_finished_free (JqFinished *f)
{
  if (f == NULL)
    return;
  jq_finished_clear (f);
  g_free (f);
}
