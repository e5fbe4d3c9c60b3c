/* Tests of the waiting-job queue: Bots' order and duplicate rules, and a
 * randomized comparison against a plain sorted list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <string.h>

#include "queue.h"

static int
setup (void **state)
{
  *state = jq_queue_new ();
  return 0;
}

static int
teardown (void **state)
{
  jq_queue_free (*state);
  return 0;
}

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

static guint64
add (JqQueue *q, const char *const *argv, int priority, JqAddResult expect)
{
  JqJob *job = NULL;
  assert_int_equal (jq_queue_add (q, argv, priority, 0, &job), expect);
  assert_non_null (job);
  return jq_job_get_number (job);
}

static guint64
pop_number (JqQueue *q)
{
  g_autoptr (JqJob) job = jq_queue_pop (q);
  assert_non_null (job);
  return jq_job_get_number (job);
}

static void
test_numbers_start_at_one (void **state)
{
  JqQueue *q = *state;
  assert_int_equal (add (q, TASK ("a"), 5, JQ_ADD_ADDED), 1);
  assert_int_equal (add (q, TASK ("b"), 5, JQ_ADD_ADDED), 2);
  assert_int_equal (add (q, TASK ("c"), 1, JQ_ADD_ADDED), 3);
  assert_int_equal (jq_queue_count (q), 3);
  assert_int_equal (jq_queue_get_next_number (q), 4);
}

static void
test_run_order (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("p5-first"), 5, JQ_ADD_ADDED);   /* 1 */
  add (q, TASK ("p9"), 9, JQ_ADD_ADDED);         /* 2 */
  add (q, TASK ("p1"), 1, JQ_ADD_ADDED);         /* 3 */
  add (q, TASK ("p5-second"), 5, JQ_ADD_ADDED);  /* 4 */
  add (q, TASK ("p1-second"), 1, JQ_ADD_ADDED);  /* 5 */

  assert_int_equal (jq_job_get_number (jq_queue_peek (q)), 3);
  guint64 expected[] = { 3, 5, 1, 4, 2 };
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    assert_int_equal (pop_number (q), expected[i]);
  assert_null (jq_queue_pop (q));
  assert_null (jq_queue_peek (q));
}

static void
test_duplicate_same_priority (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("bots-engine", "-cconfig"), 5, JQ_ADD_ADDED);
  assert_int_equal (add (q, TASK ("bots-engine", "-cconfig"), 5,
                         JQ_ADD_DUPLICATE), 1);
  assert_int_equal (jq_queue_count (q), 1);
  /* The duplicate did not use up a number. */
  assert_int_equal (add (q, TASK ("other"), 5, JQ_ADD_ADDED), 2);
}

static void
test_duplicate_changes_priority (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("x"), 5, JQ_ADD_ADDED);          /* 1 */
  add (q, TASK ("y"), 5, JQ_ADD_ADDED);          /* 2 */
  add (q, TASK ("z"), 3, JQ_ADD_ADDED);          /* 3 */
  assert_int_equal (add (q, TASK ("y"), 1, JQ_ADD_PRIORITY_CHANGED), 2);
  assert_int_equal (jq_job_get_priority (jq_queue_lookup (q, 2)), 1);
  assert_int_equal (jq_queue_count (q), 3);
  assert_int_equal (pop_number (q), 2);
  assert_int_equal (pop_number (q), 3);
  assert_int_equal (pop_number (q), 1);
}

static void
test_duplicate_is_elementwise (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("a", "b"), 5, JQ_ADD_ADDED);
  add (q, TASK ("a b"), 5, JQ_ADD_ADDED);
  add (q, TASK ("a", "b", ""), 5, JQ_ADD_ADDED);
  add (q, TASK ("ab"), 5, JQ_ADD_ADDED);
  add (q, TASK ("a"), 5, JQ_ADD_ADDED);
  assert_int_equal (jq_queue_count (q), 5);
}

static void
test_popped_job_is_not_a_duplicate (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("engine"), 5, JQ_ADD_ADDED);
  g_autoptr (JqJob) running = jq_queue_pop (q);
  /* The same task while the first is running: accepted again. */
  assert_int_equal (add (q, TASK ("engine"), 5, JQ_ADD_ADDED), 2);
}

static void
test_remove_and_lookup (void **state)
{
  JqQueue *q = *state;
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *name = g_strdup_printf ("t%d", i);
      add (q, TASK (name), i % 3, JQ_ADD_ADDED);
    }
  assert_true (jq_queue_remove (q, 4));
  assert_false (jq_queue_remove (q, 4));
  assert_false (jq_queue_remove (q, 99));
  assert_null (jq_queue_lookup (q, 4));
  assert_non_null (jq_queue_lookup (q, 5));
  assert_int_equal (jq_queue_count (q), 9);
  /* The removed task may be queued again, with a new number. */
  assert_int_equal (add (q, TASK ("t3"), 0, JQ_ADD_ADDED), 11);
}

static void
test_set_priority (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("a"), 1, JQ_ADD_ADDED);
  add (q, TASK ("b"), 2, JQ_ADD_ADDED);
  assert_true (jq_queue_set_priority (q, 2, 0));
  assert_false (jq_queue_set_priority (q, 7, 0));
  assert_int_equal (pop_number (q), 2);
  assert_int_equal (pop_number (q), 1);
}

static void
test_list_in_run_order (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("c"), 9, JQ_ADD_ADDED);
  add (q, TASK ("a"), 1, JQ_ADD_ADDED);
  add (q, TASK ("b"), 5, JQ_ADD_ADDED);
  add (q, TASK ("a2"), 1, JQ_ADD_ADDED);
  g_autoptr (GPtrArray) list = jq_queue_list (q);
  guint64 expected[] = { 2, 4, 3, 1 };
  assert_int_equal (list->len, 4);
  for (guint i = 0; i < list->len; i++)
    assert_int_equal (jq_job_get_number (list->pdata[i]), expected[i]);
  /* Listing does not consume. */
  assert_int_equal (jq_queue_count (q), 4);
}

static void
test_clear (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("a"), 1, JQ_ADD_ADDED);
  add (q, TASK ("b"), 1, JQ_ADD_ADDED);
  assert_int_equal (jq_queue_clear (q), 2);
  assert_int_equal (jq_queue_count (q), 0);
  assert_null (jq_queue_pop (q));
  /* Numbers go on after a clear; the old tasks are no longer duplicates. */
  assert_int_equal (add (q, TASK ("a"), 1, JQ_ADD_ADDED), 3);
}

static void
test_restore_at_head (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("a"), 5, JQ_ADD_ADDED);          /* 1 */
  add (q, TASK ("b"), 5, JQ_ADD_ADDED);          /* 2 */
  add (q, TASK ("c"), 4, JQ_ADD_ADDED);          /* 3 */
  g_autoptr (JqJob) was_running = jq_job_new (40, 5, TASK ("r"), 0);
  assert_true (jq_queue_restore (q, was_running, TRUE));
  /* The first few agree, the restored job included. */
  g_autoptr (GPtrArray) first = jq_queue_list_first (q, 2);
  assert_int_equal (first->len, 2);
  assert_int_equal (jq_job_get_number (first->pdata[0]), 3);
  assert_int_equal (jq_job_get_number (first->pdata[1]), 40);
  /* Head of its priority, behind better priorities. */
  assert_int_equal (pop_number (q), 3);
  assert_int_equal (pop_number (q), 40);
  assert_int_equal (pop_number (q), 1);
  assert_int_equal (jq_queue_get_next_number (q), 41);
}

static void
test_restore_refuses_clashes (void **state)
{
  JqQueue *q = *state;
  add (q, TASK ("a"), 5, JQ_ADD_ADDED);
  g_autoptr (JqJob) same_number = jq_job_new (1, 5, TASK ("other"), 0);
  g_autoptr (JqJob) same_argv = jq_job_new (9, 5, TASK ("a"), 0);
  assert_false (jq_queue_restore (q, same_number, FALSE));
  assert_false (jq_queue_restore (q, same_argv, FALSE));
  assert_int_equal (jq_queue_count (q), 1);
}

static void
test_next_number_only_rises (void **state)
{
  JqQueue *q = *state;
  jq_queue_set_next_number (q, 100);
  jq_queue_set_next_number (q, 50);
  assert_int_equal (add (q, TASK ("a"), 5, JQ_ADD_ADDED), 100);
}

static void
test_job_outlives_queue (void **state)
{
  JqQueue *q = jq_queue_new ();
  JqJob *job = NULL;
  jq_queue_add (q, TASK ("a", "b"), 3, 1234, &job);
  jq_job_ref (job);
  jq_queue_free (q);
  assert_string_equal (jq_job_get_argv (job)[1], "b");
  assert_int_equal (jq_job_get_queued_us (job), 1234);
  jq_job_unref (job);
}

/* ------------------------------------------------------------------ model */

typedef struct {
  int     priority;
  guint64 number;
  int     task;        /* index into the task pool */
} ModelJob;

static int
model_cmp (gconstpointer a, gconstpointer b)
{
  const ModelJob *x = a, *y = b;
  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return x->number < y->number ? -1 : x->number > y->number;
}

static int
model_find_task (GArray *m, int task)
{
  for (guint i = 0; i < m->len; i++)
    if (g_array_index (m, ModelJob, i).task == task)
      return (int) i;
  return -1;
}

#define POOL 300

static void
check_same (JqQueue *q, GArray *m, char ***pool)
{
  g_autoptr (GPtrArray) list = jq_queue_list (q);
  assert_int_equal (list->len, m->len);
  for (guint i = 0; i < m->len; i++)
    {
      ModelJob *mj = &g_array_index (m, ModelJob, i);
      JqJob *job = list->pdata[i];
      assert_int_equal (jq_job_get_number (job), mj->number);
      assert_int_equal (jq_job_get_priority (job), mj->priority);
      assert_true (g_strv_equal (jq_job_get_argv (job),
                                 (const char *const *) pool[mj->task]));
    }
  /* The first few, without sorting the rest, agree with the full list. */
  for (guint limit = 0; limit <= 12; limit += 3)
    {
      g_autoptr (GPtrArray) first = jq_queue_list_first (q, limit);
      assert_int_equal (first->len, MIN (limit, list->len));
      for (guint i = 0; i < first->len; i++)
        assert_ptr_equal (first->pdata[i], list->pdata[i]);
    }
  /* Pages of an unchanged queue give the whole list once, in order. */
  JqQueueCursor cursor = { 0 };
  guint at = 0;
  for (;;)
    {
      g_autoptr (GPtrArray) page = jq_queue_list_page (q, &cursor, 7,
                                                       G_MAXSIZE);
      if (page->len == 0)
        break;
      for (guint i = 0; i < page->len; i++)
        assert_ptr_equal (page->pdata[i], list->pdata[at++]);
    }
  assert_int_equal (at, list->len);
}

/* A copied page's record says what its job says: number, priority and
 * the task's strings one after the other. */
static void
check_listed (const JqListedJob *rec, JqJob *job)
{
  const char *const *argv = jq_job_get_argv (job);
  assert_int_equal (rec->number, jq_job_get_number (job));
  assert_int_equal (rec->priority, jq_job_get_priority (job));
  assert_int_equal (rec->argc, g_strv_length ((char **) argv));
  const char *task = jq_listed_job_task (rec);
  for (guint a = 0; a < rec->argc; a++)
    {
      assert_string_equal (task, argv[a]);
      task += strlen (task) + 1;
    }
  assert_int_equal (task - jq_listed_job_task (rec), rec->task_bytes);
}

/* Copied pages of an unchanged queue give the whole list once, in
 * order, each page within its bytes unless it holds one job. */
static void
check_copied_pages (JqQueue *q, gsize max_bytes)
{
  g_autoptr (GPtrArray) list = jq_queue_list (q);
  g_autoptr (GByteArray) page = g_byte_array_new ();
  JqQueueCursor cursor = { 0 };
  guint at = 0, n;
  while ((n = jq_queue_copy_page (q, &cursor, page, max_bytes)) > 0)
    {
      assert_true (n == 1 || page->len <= max_bytes);
      const JqListedJob *rec = (const JqListedJob *) (void *) page->data;
      for (guint i = 0; i < n; i++, rec = jq_listed_job_next (rec))
        check_listed (rec, list->pdata[at++]);
      assert_ptr_equal (rec, page->data + page->len);
      g_byte_array_set_size (page, 0);
    }
  assert_int_equal (page->len, 0);
  assert_int_equal (at, list->len);
}

static void
test_random_against_model (void **state)
{
  JqQueue *q = *state;
  g_autoptr (GArray) m = g_array_new (FALSE, FALSE, sizeof (ModelJob));
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261127);
  char **pool[POOL];
  guint64 next = 1;

  for (int i = 0; i < POOL; i++)
    {
      pool[i] = g_new0 (char *, 3);
      pool[i][0] = g_strdup_printf ("task-%d", i % 100);
      pool[i][1] = g_strdup_printf ("-c%d", i / 100);
    }

  for (int step = 0; step < 100000; step++)
    {
      int op = g_rand_int_range (rand, 0, 100);
      if (op < 55)
        {
          int task = g_rand_int_range (rand, 0, POOL);
          int prio = g_rand_int_range (rand, 1, 10);
          int at = model_find_task (m, task);
          JqAddResult expect;
          if (at < 0)
            {
              ModelJob mj = { prio, next++, task };
              g_array_append_val (m, mj);
              expect = JQ_ADD_ADDED;
            }
          else if (g_array_index (m, ModelJob, at).priority == prio)
            expect = JQ_ADD_DUPLICATE;
          else
            {
              g_array_index (m, ModelJob, at).priority = prio;
              expect = JQ_ADD_PRIORITY_CHANGED;
            }
          g_array_sort (m, model_cmp);
          assert_int_equal (jq_queue_add (q, (const char *const *) pool[task],
                                          prio, step, NULL), expect);
        }
      else if (op < 80)
        {
          g_autoptr (JqJob) job = jq_queue_pop (q);
          if (m->len == 0)
            assert_null (job);
          else
            {
              assert_non_null (job);
              assert_int_equal (jq_job_get_number (job),
                                g_array_index (m, ModelJob, 0).number);
              g_array_remove_index (m, 0);
            }
        }
      else if (op < 90)
        {
          guint64 number = g_rand_int_range (rand, 1, (gint32) next + 1);
          gboolean in_model = FALSE;
          for (guint i = 0; i < m->len; i++)
            if (g_array_index (m, ModelJob, i).number == number)
              {
                g_array_remove_index (m, i);
                in_model = TRUE;
                break;
              }
          assert_int_equal (jq_queue_remove (q, number), in_model);
        }
      else if (op < 99)
        {
          if (m->len == 0)
            continue;
          guint i = g_rand_int_range (rand, 0, m->len);
          int prio = g_rand_int_range (rand, 1, 10);
          guint64 number = g_array_index (m, ModelJob, i).number;
          g_array_index (m, ModelJob, i).priority = prio;
          g_array_sort (m, model_cmp);
          assert_true (jq_queue_set_priority (q, number, prio));
        }
      else if (g_rand_int_range (rand, 0, 10) == 0)
        {
          assert_int_equal (jq_queue_clear (q), m->len);
          g_array_set_size (m, 0);
        }

      assert_int_equal (jq_queue_count (q), m->len);
      if (m->len > 0)
        assert_int_equal (jq_job_get_number (jq_queue_peek (q)),
                          g_array_index (m, ModelJob, 0).number);
      if (step % 1000 == 0)
        {
          check_same (q, m, pool);
          check_copied_pages (q, 100 + step % 300);
        }
    }
  check_same (q, m, pool);
  check_copied_pages (q, 1);
  check_copied_pages (q, G_MAXSIZE);
  for (int i = 0; i < POOL; i++)
    g_strfreev (pool[i]);
}

/* Many jobs, most removed out of order: the duplicate set (whose
 * removal moves its neighbours back) still finds every task left and
 * none of those gone, a job is still found by number, and the rest runs
 * in order.  Restored jobs come in any order of number. */
static void
test_many_removed_out_of_order (void **state)
{
  JqQueue *q = *state;
  const guint n = 20000;
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261205);
  g_autofree gboolean *gone = g_new0 (gboolean, n + 1);
  char arg[32];
  const char *argv[] = { "bots-engine", arg, NULL };

  for (guint i = 1; i <= n; i++)
    {
      g_snprintf (arg, sizeof arg, "--run=%u", i);
      assert_int_equal (jq_queue_add (q, argv, 1 + (int) (i % 3), 0, NULL),
                        JQ_ADD_ADDED);
    }
  for (guint k = 0; k < n * 3 / 4; k++)
    {
      guint i = (guint) g_rand_int_range (rand, 1, (gint32) n + 1);
      assert_int_equal (jq_queue_remove (q, i), !gone[i]);
      gone[i] = TRUE;
    }
  for (guint i = 1; i <= n; i++)
    {
      g_snprintf (arg, sizeof arg, "--run=%u", i);
      assert_int_equal (jq_queue_has_task (q, argv), !gone[i]);
      assert_int_equal (jq_queue_lookup (q, i) != NULL, !gone[i]);
    }
  /* put some back, highest numbers first */
  for (gint64 i = n; i >= 1; i -= 7)
    if (gone[i])
      {
        g_snprintf (arg, sizeof arg, "--run=%u", (guint) i);
        g_autoptr (JqJob) job = jq_job_new ((guint64) i, 1 + (int) (i % 3),
                                            argv, 0);
        assert_true (jq_queue_restore (q, job, FALSE));
        gone[i] = FALSE;
      }
  int last_priority = 0;
  guint64 last_number = 0;
  guint left = jq_queue_count (q);
  for (guint k = 0; k < left; k++)
    {
      g_autoptr (JqJob) job = jq_queue_pop (q);
      int p = jq_job_get_priority (job);
      guint64 num = jq_job_get_number (job);
      assert_false (gone[num]);
      assert_true (p > last_priority
                   || (p == last_priority && num > last_number));
      last_priority = p;
      last_number = num;
    }
  assert_null (jq_queue_pop (q));
}

/* A million jobs in order: a measure more than a test, run by `make
 * bench` (test_queue --million), not by make check.  It prints the heap
 * bytes each waiting job takes (malloc's own count, so the figure is the
 * queue's, not the page cache's or the libraries'). */
static void
test_million_waiting (void **state)
{
  JqQueue *q = *state;
  const guint n = 1000000;
  char number[32];
  const char *argv[] = { "bots-engine", number, NULL };
  /* malloc's count of both heap chunks and mmap()ed blocks (the big
   * arrays are the latter) */
  size_t before = mallinfo2 ().uordblks + mallinfo2 ().hblkhd;

  for (guint i = 0; i < n; i++)
    {
      g_snprintf (number, sizeof number, "-r%u", i);
      /* priorities cycle 9..1 so the heap really has to order them */
      assert_int_equal (jq_queue_add (q, argv, 9 - (int) (i % 9), 0, NULL),
                        JQ_ADD_ADDED);
    }
  assert_int_equal (jq_queue_count (q), n);
  printf ("queue: %.0f bytes of heap per waiting job at %u waiting\n",
          (double) (mallinfo2 ().uordblks + mallinfo2 ().hblkhd - before) / n,
          n);
  g_snprintf (number, sizeof number, "-r%u", 500000u);
  assert_int_equal (jq_queue_add (q, argv, 9 - (int) (500000 % 9), 0, NULL),
                    JQ_ADD_DUPLICATE);

  int last_priority = 0;
  guint64 last_number = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (JqJob) job = jq_queue_pop (q);
      int p = jq_job_get_priority (job);
      guint64 num = jq_job_get_number (job);
      assert_true (p > last_priority
                   || (p == last_priority && num > last_number));
      last_priority = p;
      last_number = num;
    }
  assert_int_equal (jq_queue_count (q), 0);
}

/* A listing in pages goes on from the place of the last job it gave,
 * whatever happened to that job meanwhile; a page stops at its byte
 * bound, after one job at least. */
static void
test_list_in_pages (void **state)
{
  JqQueue *q = *state;
  guint64 a = add (q, TASK ("a"), 5, JQ_ADD_ADDED);
  guint64 b = add (q, TASK ("bb"), 5, JQ_ADD_ADDED);
  guint64 c = add (q, TASK ("ccc"), 5, JQ_ADD_ADDED);
  guint64 d = add (q, TASK ("d"), 9, JQ_ADD_ADDED);
  JqQueueCursor cursor = { 0 };
  g_autoptr (GPtrArray) one = jq_queue_list_page (q, &cursor, 2, G_MAXSIZE);
  assert_int_equal (one->len, 2);
  assert_int_equal (jq_job_get_number (one->pdata[1]), b);
  assert_true (jq_queue_remove (q, b));         /* the cursor's own job */
  guint64 e = add (q, TASK ("e"), 1, JQ_ADD_ADDED);   /* before the place */
  guint64 f = add (q, TASK ("f"), 7, JQ_ADD_ADDED);   /* after it */
  g_autoptr (GPtrArray) two = jq_queue_list_page (q, &cursor, 10, 1);
  assert_int_equal (two->len, 1);               /* "ccc" alone is over 1 */
  assert_int_equal (jq_job_get_number (two->pdata[0]), c);
  g_autoptr (GPtrArray) three = jq_queue_list_page (q, &cursor, 10,
                                                    G_MAXSIZE);
  assert_int_equal (three->len, 2);
  assert_int_equal (jq_job_get_number (three->pdata[0]), f);
  assert_int_equal (jq_job_get_number (three->pdata[1]), d);
  g_autoptr (GPtrArray) end = jq_queue_list_page (q, &cursor, 10, G_MAXSIZE);
  assert_int_equal (end->len, 0);
  (void) a;
  (void) e;
}

int
main (int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_numbers_start_at_one),
    T (test_run_order),
    T (test_duplicate_same_priority),
    T (test_duplicate_changes_priority),
    T (test_duplicate_is_elementwise),
    T (test_popped_job_is_not_a_duplicate),
    T (test_remove_and_lookup),
    T (test_set_priority),
    T (test_list_in_run_order),
    T (test_list_in_pages),
    T (test_clear),
    T (test_restore_at_head),
    T (test_restore_refuses_clashes),
    T (test_next_number_only_rises),
    cmocka_unit_test (test_job_outlives_queue),
    T (test_random_against_model),
    T (test_many_removed_out_of_order),
  };
  const struct CMUnitTest bench[] = {
    T (test_million_waiting),
  };
  if (argc > 1 && strcmp (argv[1], "--million") == 0)
    return cmocka_run_group_tests_name ("queue-bench", bench, NULL, NULL);
  return cmocka_run_group_tests_name ("queue", tests, NULL, NULL);
}
