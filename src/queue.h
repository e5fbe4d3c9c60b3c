/* The waiting jobs: run order by (priority, job number), duplicate index.
 *
 * Pure data structure: no clock, no I/O, no locking.  The caller owns
 * thread confinement (the server's main loop) and passes time in.  The
 * jobs themselves (JqJob) are job.h's; the queue holds a reference to
 * each waiting one. */
#pragma once

#include <glib.h>

#include "job.h"

typedef struct _JqQueue JqQueue;

typedef enum {
  JQ_ADD_ADDED,             /* a new job with a new number */
  JQ_ADD_PRIORITY_CHANGED,  /* same argv was waiting: now at the new priority */
  JQ_ADD_DUPLICATE,         /* same argv was waiting at the same priority */
} JqAddResult;

JqQueue *jq_queue_new (void);
void jq_queue_free (JqQueue *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqQueue, jq_queue_free)

/* Queues @argv (not empty) at @priority, following Bots' duplicate rules:
 * when the same argv is waiting, either changes its priority (keeping its
 * number) or, at the same priority, does nothing.  *@job (nullable) is set
 * to the new or existing job, borrowed.  O(log n). */
JqAddResult jq_queue_add (JqQueue *q, const char *const *argv, int priority,
                          gint64 now_us, JqJob **job);

/* Puts back a job that already has a number (recovery).  With @at_head it
 * runs before every other job of its priority.  Raises the next number
 * above it.  Returns FALSE, doing nothing, when its number or its argv is
 * already waiting. */
gboolean jq_queue_restore (JqQueue *q, JqJob *job, gboolean at_head);

/* Removes and returns the next job to run (transfer full); NULL when
 * empty.  O(log n). */
JqJob *jq_queue_pop (JqQueue *q);

/* The next job to run, borrowed; NULL when empty. */
JqJob *jq_queue_peek (const JqQueue *q);

/* The waiting job numbered @number, borrowed; NULL when not waiting. */
JqJob *jq_queue_lookup (const JqQueue *q, guint64 number);

/* Removes job @number.  Returns FALSE when it is not waiting. */
gboolean jq_queue_remove (JqQueue *q, guint64 number);

/* Moves job @number to @priority, keeping its number (so its place among
 * its new peers is by number).  Returns FALSE when it is not waiting.
 * O(log n). */
gboolean jq_queue_set_priority (JqQueue *q, guint64 number, int priority);

/* All waiting jobs in run order, as a new array of references. */
GPtrArray *jq_queue_list (const JqQueue *q);

/* The first @limit waiting jobs in run order, as jq_queue_list() gives
 * them, without looking at the others: O(limit + log n). */
GPtrArray *jq_queue_list_first (const JqQueue *q, guint limit);

/* Where a listing in pages stopped: right after the last job it gave,
 * by that job's place in the run order (which stays a place when the job
 * leaves).  Start with all zero. */
typedef struct {
  gboolean begun;
  int      priority;
  gboolean at_head;
  guint64  number;
} JqQueueCursor;

/* The next page of a listing in run order: up to @limit jobs after
 * @cursor, fewer once their tasks take @max_bytes (one at least), as new
 * references; moves @cursor past them.  Empty at the end.  O(page +
 * log n).  Between pages the queue may change: a job added after the
 * cursor's place comes in a later page, one that left does not, one
 * whose priority changed may be given at both places or at neither. */
GPtrArray *jq_queue_list_page (const JqQueue *q, JqQueueCursor *cursor,
                               guint limit, gsize max_bytes);

/* A job of a listing copied out of the queue (jq_queue_copy_page): the
 * task's @argc strings, each ending in its NUL, follow it (@task_bytes
 * bytes), and the next record starts at the next multiple of 8. */
typedef struct {
  guint64 number;
  gint32  priority;
  guint32 argc;
  guint32 task_bytes;
} JqListedJob;

#define JQ_LISTED_JOB_SIZE(task_bytes) \
  ((sizeof (JqListedJob) + (gsize) (task_bytes) + 7) & ~(gsize) 7)

static inline const char *
jq_listed_job_task (const JqListedJob *job)
{
  return (const char *) (job + 1);
}

static inline const JqListedJob *
jq_listed_job_next (const JqListedJob *job)
{
  return (const JqListedJob *) (const void *)
    ((const char *) job + JQ_LISTED_JOB_SIZE (job->task_bytes));
}

/* The next page of a listing as jq_queue_list_page() gives it, but
 * copied: records appended to @page while they fit in @max_bytes (one
 * at least, however big), no reference taken, so that the page is read
 * on another thread whatever the queue does meanwhile and no job is
 * touched again to drop it.  Returns how many jobs were copied (0 at the
 * end) and moves @cursor past them. */
guint jq_queue_copy_page (const JqQueue *q, JqQueueCursor *cursor,
                          GByteArray *page, gsize max_bytes);

/* Drops every waiting job; returns how many. */
guint jq_queue_clear (JqQueue *q);

guint jq_queue_count (const JqQueue *q);

/* What a waiting job costs in memory beyond its arguments' bytes: the
 * job, its place in the tree, its two index entries, and per argument
 * its pointer and allocation.  Measured (20,000 waiting jobs, RSS): 345
 * bytes each for 34 bytes of two arguments, 1,347 for 1,024. */
#define JQ_QUEUE_JOB_COST 320
#define JQ_QUEUE_ARG_COST 32

/* What the waiting jobs cost in memory (jq_queue_job_cost of each);
 * what [jobqueue] max_waiting_bytes bounds. */
gsize jq_queue_get_bytes (const JqQueue *q);
gsize jq_queue_job_cost (const char *const *argv);
/* The task's arguments' bytes, each with its NUL. */
gsize jq_queue_task_bytes (const char *const *argv);
/* Whether this very task waits (addjob would not add a job). */
gboolean jq_queue_has_task (const JqQueue *q, const char *const *argv);

/* Sets the owner of @job, waiting in @q or not, keeping each owner's
 * count right (jq_job_set_owner only for a job not in a queue). */
void jq_queue_set_owner (JqQueue *q, JqJob *job, guint32 uid);
/* How many jobs uid @uid (JQ_JOB_NO_OWNER: unknown and shared ones) has
 * waiting, and what they cost (jq_queue_job_cost): for
 * [jobqueue] user_queue_share. */
void jq_queue_owner_use (const JqQueue *q, guint32 uid, guint *jobs,
                         gsize *bytes);

/* The waiting job with @argv (borrowed), or NULL.  O(1). */
JqJob *jq_queue_find_task (const JqQueue *q, const char *const *argv);

/* The number the next added job gets.  set_next_number only ever raises
 * it: job numbers never go back. */
guint64 jq_queue_get_next_number (const JqQueue *q);
void jq_queue_set_next_number (JqQueue *q, guint64 next);
