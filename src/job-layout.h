/* The layout of a job, for job.c and queue.c only (queue.c keeps its
 * order and its duplicate set on these fields without a call each).
 * Everyone else goes through job.h. */
#pragma once

#include "job.h"

struct _JqJob {
  gatomicrefcount ref_count;
  guint32 owner;          /* uid that queued it; JQ_JOB_NO_OWNER: unknown */
  guint64 number;         /* > 0, unique for the life of the queue */
  gint64  queued_us;      /* wall clock, unix microseconds */
  int     priority;       /* lower runs first */
  guint32 task_hash : 31; /* of argv: the duplicate set's key */
  guint32 at_head : 1;    /* restored job: before all others of its priority */
  char   *argv[];         /* NULL-terminated; the strings follow it */
};

/* The duplicate set's hash of a task (31 bits): what jq_job_new() keeps
 * in task_hash, and what queue.c looks a task up by. */
guint32 jq_job_hash_task (const char *const *argv);
