/* The waiting jobs.
 *
 * A balanced tree (GSequence) ordered by (priority, head flag, job
 * number) gives O(log n) insert, pop, removal and re-prioritisation, and
 * walking in run order from any place: a listing can go on page by page
 * from where it stopped (jq_queue_list_page).  Every job knows its place
 * in the tree so that it can be found and moved without a search.  Two
 * hash tables index it: argv -> job for Bots' duplicate rule, and
 * number -> job for removal by number. */
#include "queue.h"

#include <string.h>

struct _JqJob {
  gatomicrefcount ref_count;
  guint32 owner;        /* uid that queued it; JQ_JOB_NO_OWNER: unknown
                         * (beside ref_count: no bigger a job) */
  guint64 number;       /* > 0, unique for the life of the queue */
  int     priority;     /* lower runs first */
  gboolean at_head;     /* restored job: before all others of its priority */
  GSequenceIter *place; /* in the run order; valid while waiting */
  gint64  queued_us;    /* wall clock, unix microseconds */
  char  **argv;
};

struct _JqQueue {
  GSequence  *order;       /* JqJob*, the queue's reference each */
  guint       count;
  GHashTable *by_argv;     /* argv (owned by the job) -> JqJob* */
  GHashTable *by_number;   /* &job->number -> JqJob* */
  guint64     next_number;
  gsize       bytes;       /* jq_queue_task_bytes() of every waiting job */
  GHashTable *by_owner;    /* owner uid -> JqOwnerUse* of its waiting jobs
                            * (user_queue_share) */
};

/* What one owner's waiting jobs take: jobs and jq_queue_job_cost. */
typedef struct {
  guint jobs;
  gsize bytes;
} JqOwnerUse;

/* Charges (@sign 1) or refunds (-1) @job to its owner. */
static void
charge_owner (JqQueue *q, const JqJob *job, int sign)
{
  gpointer key = GUINT_TO_POINTER (job->owner);
  JqOwnerUse *use = g_hash_table_lookup (q->by_owner, key);
  gsize cost = jq_queue_job_cost ((const char *const *) job->argv);
  if (use == NULL)
    {
      use = g_new0 (JqOwnerUse, 1);
      g_hash_table_insert (q->by_owner, key, use);
    }
  if (sign > 0)
    {
      use->jobs++;
      use->bytes += cost;
    }
  else
    {
      use->jobs--;
      use->bytes -= cost;
    }
  if (use->jobs == 0)
    g_hash_table_remove (q->by_owner, key);   /* none left: no entry */
}

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

const char *const *
jq_job_get_argv (const JqJob *job)
{
  return (const char *const *) job->argv;
}

static guint
argv_hash (gconstpointer key)
{
  const char *const *argv = key;
  guint h = 5381;
  for (; *argv != NULL; argv++)
    h = (h * 33) ^ g_str_hash (*argv);
  return h;
}

static gboolean
argv_equal (gconstpointer a, gconstpointer b)
{
  return g_strv_equal ((const char *const *) a, (const char *const *) b);
}

JqQueue *
jq_queue_new (void)
{
  JqQueue *q = g_new0 (JqQueue, 1);
  q->order = g_sequence_new (NULL);   /* its references: unref_all */
  q->by_argv = g_hash_table_new (argv_hash, argv_equal);
  q->by_number = g_hash_table_new (g_int64_hash, g_int64_equal);
  q->by_owner = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                       g_free);
  q->next_number = 1;
  return q;
}

static void
unref_all (JqQueue *q)
{
  GSequenceIter *it = g_sequence_get_begin_iter (q->order);
  for (; !g_sequence_iter_is_end (it); it = g_sequence_iter_next (it))
    jq_job_unref (g_sequence_get (it));
}

void
jq_queue_free (JqQueue *q)
{
  if (q == NULL)
    return;
  unref_all (q);
  g_hash_table_unref (q->by_argv);
  g_hash_table_unref (q->by_number);
  g_hash_table_unref (q->by_owner);
  g_sequence_free (q->order);
  g_free (q);
}

/* Whether @a runs before @b. */
static gboolean
runs_before (const JqJob *a, const JqJob *b)
{
  if (a->priority != b->priority)
    return a->priority < b->priority;
  if (a->at_head != b->at_head)
    return a->at_head;
  return a->number < b->number;
}

static int
compare_jobs (gconstpointer pa, gconstpointer pb, gpointer unused)
{
  const JqJob *a = pa, *b = pb;
  return runs_before (a, b) ? -1 : runs_before (b, a) ? 1 : 0;
}

static void
insert (JqQueue *q, JqJob *job)
{
  job->place = g_sequence_insert_sorted (q->order, job, compare_jobs, NULL);
  q->count++;
  g_hash_table_insert (q->by_argv, job->argv, job);
  g_hash_table_insert (q->by_number, &job->number, job);
  q->bytes += jq_queue_job_cost ((const char *const *) job->argv);
  charge_owner (q, job, 1);
}

/* Takes @job out of the queue; returns its reference. */
static JqJob *
take (JqQueue *q, JqJob *job)
{
  g_hash_table_remove (q->by_argv, job->argv);
  g_hash_table_remove (q->by_number, &job->number);
  q->bytes -= jq_queue_job_cost ((const char *const *) job->argv);
  charge_owner (q, job, -1);
  q->count--;
  g_sequence_remove (g_steal_pointer (&job->place));
  return job;
}

JqAddResult
jq_queue_add (JqQueue *q, const char *const *argv, int priority,
              gint64 now_us, JqJob **job_out)
{
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, JQ_ADD_DUPLICATE);

  JqJob *job = g_hash_table_lookup (q->by_argv, argv);
  JqAddResult result;

  if (job != NULL && job->priority == priority)
    result = JQ_ADD_DUPLICATE;
  else if (job != NULL)
    {
      job->priority = priority;
      g_sequence_sort_changed (job->place, compare_jobs, NULL);
      result = JQ_ADD_PRIORITY_CHANGED;
    }
  else
    {
      job = jq_job_new (q->next_number++, priority, argv, now_us);
      insert (q, job);
      result = JQ_ADD_ADDED;
    }
  if (job_out != NULL)
    *job_out = job;
  return result;
}

gboolean
jq_queue_restore (JqQueue *q, JqJob *job, gboolean at_head)
{
  if (g_hash_table_contains (q->by_number, &job->number)
      || g_hash_table_contains (q->by_argv, job->argv))
    return FALSE;
  job->at_head = at_head;
  insert (q, jq_job_ref (job));
  if (job->number >= q->next_number)
    q->next_number = job->number + 1;
  return TRUE;
}

static JqJob *
first (const JqQueue *q)
{
  GSequenceIter *it = g_sequence_get_begin_iter (q->order);
  return g_sequence_iter_is_end (it) ? NULL : g_sequence_get (it);
}

JqJob *
jq_queue_pop (JqQueue *q)
{
  JqJob *job = first (q);
  return job == NULL ? NULL : take (q, job);
}

JqJob *
jq_queue_peek (const JqQueue *q)
{
  return first (q);
}

JqJob *
jq_queue_lookup (const JqQueue *q, guint64 number)
{
  return g_hash_table_lookup (q->by_number, &number);
}

gboolean
jq_queue_remove (JqQueue *q, guint64 number)
{
  JqJob *job = jq_queue_lookup (q, number);
  if (job == NULL)
    return FALSE;
  jq_job_unref (take (q, job));
  return TRUE;
}

gboolean
jq_queue_set_priority (JqQueue *q, guint64 number, int priority)
{
  JqJob *job = jq_queue_lookup (q, number);
  if (job == NULL)
    return FALSE;
  job->priority = priority;
  g_sequence_sort_changed (job->place, compare_jobs, NULL);
  return TRUE;
}

/* Up to @limit jobs from @it on, in run order, until their tasks take
 * @max_bytes (at least one job). */
static GPtrArray *
list_from (GSequenceIter *it, guint limit, gsize max_bytes)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (
      (GDestroyNotify) jq_job_unref);
  gsize bytes = 0;
  for (; !g_sequence_iter_is_end (it) && list->len < limit
         && (list->len == 0 || bytes < max_bytes);
       it = g_sequence_iter_next (it))
    {
      JqJob *job = g_sequence_get (it);
      bytes += jq_queue_task_bytes ((const char *const *) job->argv);
      g_ptr_array_add (list, jq_job_ref (job));
    }
  return list;
}

GPtrArray *
jq_queue_list (const JqQueue *q)
{
  return list_from (g_sequence_get_begin_iter (q->order), G_MAXUINT,
                    G_MAXSIZE);
}

GPtrArray *
jq_queue_list_first (const JqQueue *q, guint limit)
{
  return list_from (g_sequence_get_begin_iter (q->order), limit,
                    G_MAXSIZE);
}

GPtrArray *
jq_queue_list_page (const JqQueue *q, JqQueueCursor *cursor, guint limit,
                    gsize max_bytes)
{
  GSequenceIter *it = g_sequence_get_begin_iter (q->order);
  if (cursor->begun)
    {
      /* The place right after the last job listed, whether it is still
       * there or not. */
      JqJob key = { .priority = cursor->priority, .at_head = cursor->at_head,
                    .number = cursor->number };
      it = g_sequence_search (q->order, &key, compare_jobs, NULL);
    }
  GPtrArray *page = list_from (it, limit, max_bytes);
  if (page->len > 0)
    {
      const JqJob *last = page->pdata[page->len - 1];
      *cursor = (JqQueueCursor) { TRUE, last->priority, last->at_head,
                                  last->number };
    }
  return page;
}

guint
jq_queue_clear (JqQueue *q)
{
  guint n = q->count;
  g_hash_table_remove_all (q->by_argv);
  g_hash_table_remove_all (q->by_number);
  unref_all (q);
  g_sequence_remove_range (g_sequence_get_begin_iter (q->order),
                           g_sequence_get_end_iter (q->order));
  q->count = 0;
  q->bytes = 0;
  g_hash_table_remove_all (q->by_owner);
  return n;
}

gsize
jq_queue_task_bytes (const char *const *argv)
{
  gsize n = 0;
  for (; *argv != NULL; argv++)
    n += strlen (*argv) + 1;
  return n;
}

gsize
jq_queue_job_cost (const char *const *argv)
{
  gsize n = 0;
  for (const char *const *a = argv; *a != NULL; a++)
    n++;
  return JQ_QUEUE_JOB_COST + JQ_QUEUE_ARG_COST * n
         + jq_queue_task_bytes (argv);
}

gsize
jq_queue_get_bytes (const JqQueue *q)
{
  return q->bytes;
}

gboolean
jq_queue_has_task (const JqQueue *q, const char *const *argv)
{
  return g_hash_table_contains (q->by_argv, argv);
}

JqJob *
jq_queue_find_task (const JqQueue *q, const char *const *argv)
{
  return g_hash_table_lookup (q->by_argv, argv);
}

void
jq_job_set_owner (JqJob *job, guint32 uid)
{
  job->owner = uid;
}

void
jq_queue_set_owner (JqQueue *q, JqJob *job, guint32 uid)
{
  gboolean waiting = jq_queue_lookup (q, job->number) == job;
  if (waiting)
    charge_owner (q, job, -1);
  job->owner = uid;
  if (waiting)
    charge_owner (q, job, 1);
}

void
jq_queue_owner_use (const JqQueue *q, guint32 uid, guint *jobs, gsize *bytes)
{
  const JqOwnerUse *use = g_hash_table_lookup (q->by_owner,
                                               GUINT_TO_POINTER (uid));
  *jobs = use != NULL ? use->jobs : 0;
  *bytes = use != NULL ? use->bytes : 0;
}

guint32
jq_job_get_owner (const JqJob *job)
{
  return job->owner;
}

guint
jq_queue_count (const JqQueue *q)
{
  return q->count;
}

guint64
jq_queue_get_next_number (const JqQueue *q)
{
  return q->next_number;
}

void
jq_queue_set_next_number (JqQueue *q, guint64 next)
{
  if (next > q->next_number)
    q->next_number = next;
}
