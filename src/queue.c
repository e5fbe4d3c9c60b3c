/* The waiting jobs.
 *
 * A binary min-heap ordered by (priority, head flag, job number) gives
 * O(log n) insert, pop, removal and re-prioritisation; every job knows its
 * heap index so that it can be found and moved without a search.  Two hash
 * tables index the heap: argv -> job for Bots' duplicate rule, and
 * number -> job for removal by number. */
#include "queue.h"

#include <string.h>

struct _JqJob {
  gatomicrefcount ref_count;
  guint64 number;       /* > 0, unique for the life of the queue */
  int     priority;     /* lower runs first */
  gboolean at_head;     /* restored job: before all others of its priority */
  guint   heap_index;   /* position in the heap; valid while waiting */
  gint64  queued_us;    /* wall clock, unix microseconds */
  char  **argv;
};

struct _JqQueue {
  GPtrArray  *heap;        /* JqJob*, owns one reference each */
  GHashTable *by_argv;     /* argv (owned by the job) -> JqJob* */
  GHashTable *by_number;   /* &job->number -> JqJob* */
  guint64     next_number;
  gsize       bytes;       /* jq_queue_task_bytes() of every waiting job */
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
  q->heap = g_ptr_array_new_with_free_func ((GDestroyNotify) jq_job_unref);
  q->by_argv = g_hash_table_new (argv_hash, argv_equal);
  q->by_number = g_hash_table_new (g_int64_hash, g_int64_equal);
  q->next_number = 1;
  return q;
}

void
jq_queue_free (JqQueue *q)
{
  if (q == NULL)
    return;
  g_hash_table_unref (q->by_argv);
  g_hash_table_unref (q->by_number);
  g_ptr_array_unref (q->heap);
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
compare_run_order (gconstpointer pa, gconstpointer pb)
{
  const JqJob *a = *(JqJob *const *) pa, *b = *(JqJob *const *) pb;
  return runs_before (a, b) ? -1 : runs_before (b, a) ? 1 : 0;
}

static inline JqJob *
heap_at (const JqQueue *q, guint i)
{
  return g_ptr_array_index (q->heap, i);
}

static void
heap_set (JqQueue *q, guint i, JqJob *job)
{
  q->heap->pdata[i] = job;
  job->heap_index = i;
}

static void
sift_up (JqQueue *q, guint i)
{
  JqJob *job = heap_at (q, i);
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      if (!runs_before (job, heap_at (q, parent)))
        break;
      heap_set (q, i, heap_at (q, parent));
      i = parent;
    }
  heap_set (q, i, job);
}

static void
sift_down (JqQueue *q, guint i)
{
  JqJob *job = heap_at (q, i);
  guint n = q->heap->len;
  for (;;)
    {
      guint child = 2 * i + 1;
      if (child >= n)
        break;
      if (child + 1 < n && runs_before (heap_at (q, child + 1),
                                        heap_at (q, child)))
        child++;
      if (!runs_before (heap_at (q, child), job))
        break;
      heap_set (q, i, heap_at (q, child));
      i = child;
    }
  heap_set (q, i, job);
}

/* Restores heap order around @i after its job's key changed. */
static void
heap_fix (JqQueue *q, guint i)
{
  if (i > 0 && runs_before (heap_at (q, i), heap_at (q, (i - 1) / 2)))
    sift_up (q, i);
  else
    sift_down (q, i);
}

static void
insert (JqQueue *q, JqJob *job)
{
  g_ptr_array_add (q->heap, job);
  job->heap_index = q->heap->len - 1;
  sift_up (q, job->heap_index);
  g_hash_table_insert (q->by_argv, job->argv, job);
  g_hash_table_insert (q->by_number, &job->number, job);
  q->bytes += jq_queue_task_bytes ((const char *const *) job->argv);
}

/* Takes job at heap index @i out of the queue; returns its reference. */
static JqJob *
take (JqQueue *q, guint i)
{
  JqJob *job = heap_at (q, i);
  JqJob *last = heap_at (q, q->heap->len - 1);

  g_hash_table_remove (q->by_argv, job->argv);
  g_hash_table_remove (q->by_number, &job->number);
  q->bytes -= jq_queue_task_bytes ((const char *const *) job->argv);
  g_ptr_array_steal_index_fast (q->heap, q->heap->len - 1);
  if (job != last)
    {
      heap_set (q, i, last);
      heap_fix (q, i);
    }
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
      heap_fix (q, job->heap_index);
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

JqJob *
jq_queue_pop (JqQueue *q)
{
  return q->heap->len == 0 ? NULL : take (q, 0);
}

JqJob *
jq_queue_peek (const JqQueue *q)
{
  return q->heap->len == 0 ? NULL : heap_at (q, 0);
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
  jq_job_unref (take (q, job->heap_index));
  return TRUE;
}

gboolean
jq_queue_set_priority (JqQueue *q, guint64 number, int priority)
{
  JqJob *job = jq_queue_lookup (q, number);
  if (job == NULL)
    return FALSE;
  job->priority = priority;
  heap_fix (q, job->heap_index);
  return TRUE;
}

GPtrArray *
jq_queue_list (const JqQueue *q)
{
  GPtrArray *list = g_ptr_array_new_full (q->heap->len,
                                          (GDestroyNotify) jq_job_unref);
  for (guint i = 0; i < q->heap->len; i++)
    g_ptr_array_add (list, jq_job_ref (heap_at (q, i)));
  g_ptr_array_sort (list, compare_run_order);
  return list;
}

/* The heap's root is the first job; the next one is always a child of a
 * job already taken.  So the first @limit come from walking the heap
 * best-first with a frontier of at most @limit + 1 candidates: the rest
 * of the heap is never looked at. */
GPtrArray *
jq_queue_list_first (const JqQueue *q, guint limit)
{
  GPtrArray *list = g_ptr_array_new_full (MIN (limit, q->heap->len),
                                          (GDestroyNotify) jq_job_unref);
  g_autoptr (GArray) frontier = g_array_new (FALSE, FALSE, sizeof (guint));
  guint root = 0;
  if (q->heap->len > 0)
    g_array_append_val (frontier, root);
  while (list->len < limit && frontier->len > 0)
    {
      guint best = 0;
      for (guint i = 1; i < frontier->len; i++)
        if (runs_before (heap_at (q, g_array_index (frontier, guint, i)),
                         heap_at (q, g_array_index (frontier, guint, best))))
          best = i;
      guint at = g_array_index (frontier, guint, best);
      g_array_remove_index_fast (frontier, best);
      g_ptr_array_add (list, jq_job_ref (heap_at (q, at)));
      for (guint child = 2 * at + 1; child <= 2 * at + 2; child++)
        if (child < q->heap->len)
          g_array_append_val (frontier, child);
    }
  return list;
}

guint
jq_queue_clear (JqQueue *q)
{
  guint n = q->heap->len;
  g_hash_table_remove_all (q->by_argv);
  g_hash_table_remove_all (q->by_number);
  g_ptr_array_set_size (q->heap, 0);
  q->bytes = 0;
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
jq_queue_get_bytes (const JqQueue *q)
{
  return q->bytes;
}

gboolean
jq_queue_has_task (const JqQueue *q, const char *const *argv)
{
  return g_hash_table_contains (q->by_argv, argv);
}

guint
jq_queue_count (const JqQueue *q)
{
  return q->heap->len;
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
