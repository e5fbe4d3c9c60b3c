/* The waiting jobs.
 *
 * Laid out for a million waiting jobs in little memory (issue 23: at most
 * 150 bytes each, the job included).  A job is one allocation: its
 * fields, its argv's pointers and the argv's strings after them.  The run
 * order is by (priority, head flag, job number); the jobs of one priority
 * and head flag (a "class") are an array sorted by number, since a new
 * job always has the highest number yet and joins at the end, and the
 * next to run leaves from the front: both O(1), and 8 bytes a job.  A
 * job in the middle (deljob, a new priority) moves the rest of its class
 * by one (memmove, milliseconds at a million).  A job is found by number
 * with a binary search in each class (there are few: Bots' priorities
 * are 1..9).  Bots' duplicate rule looks the task up in an open-addressed
 * hash set of the jobs themselves (about 12 bytes a job).  A listing goes
 * on from any place in the run order: a binary search in its class. */
#include "queue.h"

#include "job-layout.h"

#include <string.h>

/* The waiting jobs of one priority and head flag, by number: jobs[first]
 * up to jobs[end - 1]. */
typedef struct {
  int      priority;
  gboolean at_head;
  JqJob  **jobs;
  gsize    first, end, size;
} Class;

/* The jobs by task: open addressing, linear probing, empty slots NULL. */
typedef struct {
  JqJob **slots;
  gsize   size;          /* 0 before the first job */
  gsize   used;
} TaskSet;

struct _JqQueue {
  GArray     *classes;     /* Class, in run order; none empty */
  guint       count;
  TaskSet     tasks;
  guint64     next_number;
  gsize       bytes;       /* jq_queue_job_cost() of every waiting job */
  GHashTable *by_owner;    /* owner uid -> JqOwnerUse* of its waiting jobs
                            * (user_queue_share) */
};

/* What one owner's waiting jobs take: jobs and jq_queue_job_cost. */
typedef struct {
  guint jobs;
  gsize bytes;
} JqOwnerUse;

static gsize job_cost (const JqJob *job);

/* Charges (@sign 1) or refunds (-1) @job to its owner. */
static void
charge_owner (JqQueue *q, const JqJob *job, int sign)
{
  gpointer key = GUINT_TO_POINTER (job->owner);
  JqOwnerUse *use = g_hash_table_lookup (q->by_owner, key);
  gsize cost = job_cost (job);
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

/* jq_queue_task_bytes() of @job's argv: its strings lie one after the
 * other, so one strlen() (of the last) tells. */
static gsize
job_task_bytes (const JqJob *job)
{
  gsize n = 0;
  while (job->argv[n] != NULL)
    n++;
  if (n == 0)
    return 0;
  const char *last = job->argv[n - 1];
  return (gsize) (last + strlen (last) + 1 - job->argv[0]);
}

/* jq_queue_job_cost() of @job's argv. */
static gsize
job_cost (const JqJob *job)
{
  gsize n = 0;
  while (job->argv[n] != NULL)
    n++;
  return JQ_QUEUE_JOB_COST + JQ_QUEUE_ARG_COST * n + job_task_bytes (job);
}

/* ---- the duplicate set ---- */

static gsize
task_home (const TaskSet *s, guint32 hash)
{
  /* The hash scaled to the table (any size, not only powers of two). */
  return (gsize) (((guint64) hash * 2 * s->size) >> 32);
}

static gsize
task_next (const TaskSet *s, gsize i)
{
  return i + 1 == s->size ? 0 : i + 1;
}

static JqJob *
task_find (const TaskSet *s, const char *const *argv)
{
  if (s->size == 0)
    return NULL;
  guint32 hash = jq_job_hash_task (argv);
  for (gsize i = task_home (s, hash); s->slots[i] != NULL;
       i = task_next (s, i))
    {
      const JqJob *job = s->slots[i];
      if (job->task_hash == hash
          && g_strv_equal ((const char *const *) job->argv, argv))
        return s->slots[i];
    }
  return NULL;
}

static void
task_put (TaskSet *s, JqJob *job)
{
  gsize i = task_home (s, job->task_hash);
  while (s->slots[i] != NULL)
    i = task_next (s, i);
  s->slots[i] = job;
}

/* A table of @size slots holding the same jobs. */
static void
task_resize (TaskSet *s, gsize size)
{
  JqJob **old = s->slots;
  gsize old_size = s->size;
  s->size = size;
  s->slots = g_new0 (JqJob *, size);
  for (gsize i = 0; i < old_size; i++)
    if (old[i] != NULL)
      task_put (s, old[i]);
  g_free (old);
}

static void
task_add (TaskSet *s, JqJob *job)
{
  /* At most three quarters full; it grows by half. */
  if ((s->used + 1) * 4 > s->size * 3)
    task_resize (s, MAX (64, s->size + s->size / 2));
  task_put (s, job);
  s->used++;
}

/* Takes @job out, moving back the jobs after it that probed past its
 * slot (no tombstones). */
static void
task_remove (TaskSet *s, const JqJob *job)
{
  gsize hole = task_home (s, job->task_hash);
  while (s->slots[hole] != job)
    hole = task_next (s, hole);
  s->slots[hole] = NULL;
  s->used--;
  for (gsize j = task_next (s, hole); s->slots[j] != NULL;
       j = task_next (s, j))
    {
      gsize home = task_home (s, s->slots[j]->task_hash);
      /* It stays when its home lies cyclically in (hole, j]. */
      if (hole < j ? (hole < home && home <= j) : (hole < home || home <= j))
        continue;
      s->slots[hole] = s->slots[j];
      s->slots[j] = NULL;
      hole = j;
    }
  if (s->size > 1024 && s->used * 8 < s->size)
    task_resize (s, s->size / 4);
}

static void
task_clear (TaskSet *s)
{
  g_clear_pointer (&s->slots, g_free);
  s->size = 0;
  s->used = 0;
}

/* ---- the run order ---- */

/* Where (@priority, @at_head) runs against class @c: <0 before, 0 in it,
 * >0 after. */
static int
compare_class (int priority, gboolean at_head, const Class *c)
{
  if (priority != c->priority)
    return priority < c->priority ? -1 : 1;
  if (at_head != c->at_head)
    return at_head ? -1 : 1;
  return 0;
}

static Class *
class_at (const JqQueue *q, guint i)
{
  return &g_array_index (q->classes, Class, i);
}

/* The first class that does not run before (@priority, @at_head);
 * *@found: it is that very class. */
static guint
class_search (const JqQueue *q, int priority, gboolean at_head,
              gboolean *found)
{
  guint i = 0;
  *found = FALSE;
  for (; i < q->classes->len; i++)
    {
      int cmp = compare_class (priority, at_head, class_at (q, i));
      if (cmp <= 0)
        {
          *found = cmp == 0;
          break;
        }
    }
  return i;
}

/* The first place in @c whose job's number is @number or above. */
static gsize
class_bound (const Class *c, guint64 number)
{
  gsize lo = c->first, hi = c->end;
  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;
      if (c->jobs[mid]->number < number)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

static void
class_compact (Class *c)
{
  gsize n = c->end - c->first;
  memmove (c->jobs, c->jobs + c->first, n * sizeof *c->jobs);
  c->first = 0;
  c->end = n;
}

static void
class_insert (Class *c, JqJob *job)
{
  if (c->end == c->size)
    {
      if (c->first >= c->size / 4 && c->first > 0)
        class_compact (c);     /* the front's room, left by popped jobs */
      else
        {
          c->size = MAX (16, c->size + c->size / 2);
          c->jobs = g_renew (JqJob *, c->jobs, c->size);
        }
    }
  gsize at = c->end;   /* a new job: the highest number yet */
  if (at > c->first && c->jobs[at - 1]->number > job->number)
    at = class_bound (c, job->number);
  memmove (c->jobs + at + 1, c->jobs + at, (c->end - at) * sizeof *c->jobs);
  c->jobs[at] = job;
  c->end++;
}

static void
class_remove (Class *c, gsize at)
{
  if (at == c->first)
    c->first++;        /* the next to run: nothing moves */
  else
    {
      memmove (c->jobs + at, c->jobs + at + 1,
               (c->end - at - 1) * sizeof *c->jobs);
      c->end--;
    }
  gsize n = c->end - c->first;
  if (c->size > 64 && n < c->size / 4)
    {
      class_compact (c);
      c->size = MAX (64, 2 * n);
      c->jobs = g_renew (JqJob *, c->jobs, c->size);
    }
}

/* The class of (@priority, @at_head), made when there is none. */
static Class *
class_for (JqQueue *q, int priority, gboolean at_head)
{
  gboolean found;
  guint i = class_search (q, priority, at_head, &found);
  if (!found)
    {
      Class c = { .priority = priority, .at_head = at_head };
      g_array_insert_val (q->classes, i, c);
    }
  return class_at (q, i);
}

/* Takes the job at @at of class @ci out of the run order, and the class
 * itself when it is left empty. */
static void
order_remove (JqQueue *q, guint ci, gsize at)
{
  Class *c = class_at (q, ci);
  class_remove (c, at);
  if (c->first == c->end)
    {
      g_free (c->jobs);
      g_array_remove_index (q->classes, ci);
    }
}

/* Where waiting @job is: its class and its place there. */
static gboolean
locate (const JqQueue *q, const JqJob *job, guint *ci, gsize *at)
{
  gboolean found;
  *ci = class_search (q, job->priority, job->at_head, &found);
  if (!found)
    return FALSE;
  const Class *c = class_at (q, *ci);
  *at = class_bound (c, job->number);
  return *at < c->end && c->jobs[*at] == job;
}

/* Where the waiting job numbered @number is: one search per class. */
static gboolean
locate_number (const JqQueue *q, guint64 number, guint *ci, gsize *at)
{
  for (guint i = 0; i < q->classes->len; i++)
    {
      const Class *c = class_at (q, i);
      gsize k = class_bound (c, number);
      if (k < c->end && c->jobs[k]->number == number)
        {
          *ci = i;
          *at = k;
          return TRUE;
        }
    }
  return FALSE;
}

/* ---- the queue ---- */

JqQueue *
jq_queue_new (void)
{
  JqQueue *q = g_new0 (JqQueue, 1);
  q->classes = g_array_new (FALSE, FALSE, sizeof (Class));
  q->by_owner = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                       g_free);
  q->next_number = 1;
  return q;
}

/* Drops every job's reference and every class. */
static void
unref_all (JqQueue *q)
{
  for (guint i = 0; i < q->classes->len; i++)
    {
      Class *c = class_at (q, i);
      for (gsize k = c->first; k < c->end; k++)
        jq_job_unref (c->jobs[k]);
      g_free (c->jobs);
    }
  g_array_set_size (q->classes, 0);
  task_clear (&q->tasks);
}

void
jq_queue_free (JqQueue *q)
{
  if (q == NULL)
    return;
  unref_all (q);
  g_array_unref (q->classes);
  g_hash_table_unref (q->by_owner);
  g_free (q);
}

static void
insert (JqQueue *q, JqJob *job)
{
  class_insert (class_for (q, job->priority, job->at_head), job);
  task_add (&q->tasks, job);
  q->count++;
  q->bytes += job_cost (job);
  charge_owner (q, job, 1);
}

/* Takes the job at @at of class @ci out of the queue; returns its
 * reference. */
static JqJob *
take (JqQueue *q, guint ci, gsize at)
{
  JqJob *job = class_at (q, ci)->jobs[at];
  order_remove (q, ci, at);
  task_remove (&q->tasks, job);
  q->bytes -= job_cost (job);
  charge_owner (q, job, -1);
  q->count--;
  return job;
}

/* Moves waiting @job (at @at of class @ci) to @priority. */
static void
move (JqQueue *q, JqJob *job, guint ci, gsize at, int priority)
{
  order_remove (q, ci, at);
  job->priority = priority;
  class_insert (class_for (q, priority, job->at_head), job);
}

JqAddResult
jq_queue_add (JqQueue *q, const char *const *argv, int priority,
              gint64 now_us, JqJob **job_out)
{
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, JQ_ADD_DUPLICATE);

  JqJob *job = task_find (&q->tasks, argv);
  JqAddResult result;
  guint ci;
  gsize at;

  if (job != NULL && job->priority == priority)
    result = JQ_ADD_DUPLICATE;
  else if (job != NULL)
    {
      if (locate (q, job, &ci, &at))   /* always: it waits */
        move (q, job, ci, at, priority);
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
  guint ci;
  gsize at;
  if (locate_number (q, job->number, &ci, &at)
      || task_find (&q->tasks, (const char *const *) job->argv) != NULL)
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
  return q->count == 0 ? NULL : take (q, 0, class_at (q, 0)->first);
}

JqJob *
jq_queue_peek (const JqQueue *q)
{
  return q->count == 0 ? NULL : class_at (q, 0)->jobs[class_at (q, 0)->first];
}

JqJob *
jq_queue_lookup (const JqQueue *q, guint64 number)
{
  guint ci;
  gsize at;
  return locate_number (q, number, &ci, &at) ? class_at (q, ci)->jobs[at]
                                             : NULL;
}

gboolean
jq_queue_remove (JqQueue *q, guint64 number)
{
  guint ci;
  gsize at;
  if (!locate_number (q, number, &ci, &at))
    return FALSE;
  jq_job_unref (take (q, ci, at));
  return TRUE;
}

gboolean
jq_queue_set_priority (JqQueue *q, guint64 number, int priority)
{
  guint ci;
  gsize at;
  if (!locate_number (q, number, &ci, &at))
    return FALSE;
  JqJob *job = class_at (q, ci)->jobs[at];
  if (job->priority != priority)
    move (q, job, ci, at, priority);
  return TRUE;
}

/* How many places ahead list_from() prefetches. */
#define LIST_PREFETCH 8

/* Up to @limit jobs from place @at of class @ci on, in run order, until
 * their tasks take @max_bytes (at least one job). */
static GPtrArray *
list_from (const JqQueue *q, guint ci, gsize at, guint limit,
           gsize max_bytes)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (
      (GDestroyNotify) jq_job_unref);
  gsize bytes = 0;
  for (; ci < q->classes->len; ci++, at = 0)
    {
      const Class *c = class_at (q, ci);
      for (gsize k = MAX (at, c->first); k < c->end; k++)
        {
          if (list->len >= limit || (list->len > 0 && bytes >= max_bytes))
            return list;
          JqJob *job = c->jobs[k];
          /* A page walks jobs that are seldom in the cache: ask for the
           * ones a few places on (their header and their task's first
           * bytes) while this one is counted. */
          if (k + LIST_PREFETCH < c->end)
            {
              const char *ahead = (const char *) c->jobs[k + LIST_PREFETCH];
              __builtin_prefetch (ahead);
              __builtin_prefetch (ahead + 64);
            }
          bytes += job_task_bytes (job);
          g_ptr_array_add (list, jq_job_ref (job));
        }
    }
  return list;
}

GPtrArray *
jq_queue_list (const JqQueue *q)
{
  return list_from (q, 0, 0, G_MAXUINT, G_MAXSIZE);
}

GPtrArray *
jq_queue_list_first (const JqQueue *q, guint limit)
{
  return list_from (q, 0, 0, limit, G_MAXSIZE);
}

/* The place right after the last job @cursor listed, whether it is
 * still there or not: class @ci, place @at. */
static void
cursor_place (const JqQueue *q, const JqQueueCursor *cursor, guint *ci,
              gsize *at)
{
  *ci = 0;
  *at = 0;
  if (cursor->begun)
    {
      gboolean found;
      *ci = class_search (q, cursor->priority, cursor->at_head, &found);
      if (found)
        *at = class_bound (class_at (q, *ci), cursor->number + 1);
    }
}

static void
cursor_past (JqQueueCursor *cursor, const JqJob *last)
{
  *cursor = (JqQueueCursor) { TRUE, last->priority, last->at_head,
                              last->number };
}

GPtrArray *
jq_queue_list_page (const JqQueue *q, JqQueueCursor *cursor, guint limit,
                    gsize max_bytes)
{
  guint ci;
  gsize at;
  cursor_place (q, cursor, &ci, &at);
  GPtrArray *page = list_from (q, ci, at, limit, max_bytes);
  if (page->len > 0)
    cursor_past (cursor, page->pdata[page->len - 1]);
  return page;
}

/* Appends @job's record (JqListedJob and its task's bytes) to @page.
 * The strings follow argv[] in the job's one allocation: one copy. */
static void
copy_job (GByteArray *page, const JqJob *job, guint argc, gsize task)
{
  gsize at = page->len;
  g_byte_array_set_size (page, (guint) (at + JQ_LISTED_JOB_SIZE (task)));
  JqListedJob *rec = (JqListedJob *) (void *) (page->data + at);
  *rec = (JqListedJob) { job->number, job->priority, argc, (guint32) task };
  if (task > 0)
    memcpy (rec + 1, job->argv[0], task);
}

guint
jq_queue_copy_page (const JqQueue *q, JqQueueCursor *cursor,
                    GByteArray *page, gsize max_bytes)
{
  guint ci, n = 0;
  gsize at;
  const JqJob *last = NULL;
  cursor_place (q, cursor, &ci, &at);
  for (; ci < q->classes->len; ci++, at = 0)
    {
      const Class *c = class_at (q, ci);
      for (gsize k = MAX (at, c->first); k < c->end; k++)
        {
          const JqJob *job = c->jobs[k];
          if (k + LIST_PREFETCH < c->end)
            {
              const char *ahead = (const char *) c->jobs[k + LIST_PREFETCH];
              __builtin_prefetch (ahead);
              __builtin_prefetch (ahead + 64);
            }
          guint argc = 0;
          while (job->argv[argc] != NULL)
            argc++;
          gsize task = job_task_bytes (job);
          if (n > 0 && page->len + JQ_LISTED_JOB_SIZE (task) > max_bytes)
            goto full;
          copy_job (page, job, argc, task);
          last = job;
          n++;
        }
    }
full:
  if (last != NULL)
    cursor_past (cursor, last);
  return n;
}

guint
jq_queue_clear (JqQueue *q)
{
  guint n = q->count;
  unref_all (q);
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
  return task_find (&q->tasks, argv) != NULL;
}

JqJob *
jq_queue_find_task (const JqQueue *q, const char *const *argv)
{
  return task_find (&q->tasks, argv);
}

void
jq_queue_set_owner (JqQueue *q, JqJob *job, guint32 uid)
{
  guint ci;
  gsize at;
  gboolean waiting = locate (q, job, &ci, &at);
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
