/* The waiting jobs (the jobs themselves are job.c's).
 *
 * A balanced tree (GSequence) ordered by (priority, head flag, job
 * number) gives O(log n) insert, pop, removal and re-prioritisation, and
 * walking in run order from any place: a listing can go on page by page
 * from where it stopped (jq_queue_list_page).  Two hash tables index it:
 * argv -> job for Bots' duplicate rule, and number -> the job's place in
 * the tree, so that a job is found, moved and removed without a search. */
#include "queue.h"

#include <string.h>

struct _JqQueue {
  GSequence  *order;       /* JqJob*, the queue's reference each */
  guint       count;
  GHashTable *by_argv;     /* argv (owned by the job) -> JqJob* */
  GHashTable *by_number;   /* jq_job_number_key -> GSequenceIter* (its
                            * place in order) */
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
  gpointer key = GUINT_TO_POINTER (jq_job_get_owner (job));
  JqOwnerUse *use = g_hash_table_lookup (q->by_owner, key);
  gsize cost = jq_queue_job_cost (jq_job_get_argv (job));
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

/* A place in the run order: a job's, or a listing's cursor. */
typedef struct {
  int      priority;
  gboolean at_head;
  guint64  number;
} Place;

static Place
place_of (const JqJob *job)
{
  return (Place) { jq_job_get_priority (job), jq_job_is_at_head (job),
                   jq_job_get_number (job) };
}

/* Whether @a runs before @b. */
static gboolean
runs_before (const Place *a, const Place *b)
{
  if (a->priority != b->priority)
    return a->priority < b->priority;
  if (a->at_head != b->at_head)
    return a->at_head;
  return a->number < b->number;
}

/* Orders the tree.  A NULL item is the cursor (@cursor, a Place) that
 * jq_queue_list_page searches for: GSequence hands the searched-for
 * item to this function like any other. */
static int
compare_jobs (gconstpointer pa, gconstpointer pb, gpointer cursor)
{
  Place a = pa != NULL ? place_of (pa) : *(const Place *) cursor;
  Place b = pb != NULL ? place_of (pb) : *(const Place *) cursor;
  return runs_before (&a, &b) ? -1 : runs_before (&b, &a) ? 1 : 0;
}

/* Where waiting @job is in the tree. */
static GSequenceIter *
place_in_tree (const JqQueue *q, const JqJob *job)
{
  return g_hash_table_lookup (q->by_number, jq_job_number_key (job));
}

static void
insert (JqQueue *q, JqJob *job)
{
  GSequenceIter *place = g_sequence_insert_sorted (q->order, job,
                                                   compare_jobs, NULL);
  q->count++;
  g_hash_table_insert (q->by_argv, (gpointer) jq_job_get_argv (job), job);
  g_hash_table_insert (q->by_number, (gpointer) jq_job_number_key (job),
                       place);
  q->bytes += jq_queue_job_cost (jq_job_get_argv (job));
  charge_owner (q, job, 1);
}

/* Takes @job out of the queue; returns its reference. */
static JqJob *
take (JqQueue *q, JqJob *job)
{
  GSequenceIter *place = place_in_tree (q, job);
  g_hash_table_remove (q->by_argv, jq_job_get_argv (job));
  g_hash_table_remove (q->by_number, jq_job_number_key (job));
  q->bytes -= jq_queue_job_cost (jq_job_get_argv (job));
  charge_owner (q, job, -1);
  q->count--;
  g_sequence_remove (place);
  return job;
}

/* Moves waiting @job to @priority. */
static void
move (JqQueue *q, JqJob *job, int priority)
{
  jq_job_set_priority (job, priority);
  g_sequence_sort_changed (place_in_tree (q, job), compare_jobs, NULL);
}

JqAddResult
jq_queue_add (JqQueue *q, const char *const *argv, int priority,
              gint64 now_us, JqJob **job_out)
{
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, JQ_ADD_DUPLICATE);

  JqJob *job = g_hash_table_lookup (q->by_argv, argv);
  JqAddResult result;

  if (job != NULL && jq_job_get_priority (job) == priority)
    result = JQ_ADD_DUPLICATE;
  else if (job != NULL)
    {
      move (q, job, priority);
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
  guint64 number = jq_job_get_number (job);
  if (g_hash_table_contains (q->by_number, &number)
      || g_hash_table_contains (q->by_argv, jq_job_get_argv (job)))
    return FALSE;
  jq_job_set_at_head (job, at_head);
  insert (q, jq_job_ref (job));
  if (number >= q->next_number)
    q->next_number = number + 1;
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
  GSequenceIter *place = g_hash_table_lookup (q->by_number, &number);
  return place != NULL ? g_sequence_get (place) : NULL;
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
  move (q, job, priority);
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
      bytes += jq_queue_task_bytes (jq_job_get_argv (job));
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
      Place after = { cursor->priority, cursor->at_head, cursor->number };
      it = g_sequence_search (q->order, NULL, compare_jobs, &after);
    }
  GPtrArray *page = list_from (it, limit, max_bytes);
  if (page->len > 0)
    {
      Place last = place_of (page->pdata[page->len - 1]);
      *cursor = (JqQueueCursor) { TRUE, last.priority, last.at_head,
                                  last.number };
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
jq_queue_set_owner (JqQueue *q, JqJob *job, guint32 uid)
{
  gboolean waiting = jq_queue_lookup (q, jq_job_get_number (job)) == job;
  if (waiting)
    charge_owner (q, job, -1);
  jq_job_set_owner (job, uid);
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
