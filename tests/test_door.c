/* Tests of the door into the main loop: calls run on the loop's thread,
 * in batches, and a closed door refuses without hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "door.h"

typedef struct {
  GMainContext *context;
  JqDoor       *door;
  GThread      *loop_thread;   /* the thread that must run every call */
  guint         begins, ends;
  gboolean      in_batch;
  guint         calls;
} Fixture;

static gboolean
hook (gboolean begin, gpointer user_data, GError **error)
{
  Fixture *f = user_data;
  if (begin)
    {
      assert_false (f->in_batch);
      f->begins++;
    }
  else
    {
      assert_true (f->in_batch);
      f->ends++;
    }
  f->in_batch = begin;
  return TRUE;
}

static void
count_call (gpointer data)
{
  Fixture *f = data;
  assert_true (g_thread_self () == f->loop_thread);
  assert_true (f->in_batch);
  f->calls++;
}

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->context = g_main_context_new ();
  f->door = jq_door_new (f->context);
  f->loop_thread = g_thread_self ();
  jq_door_set_batch_hook (f->door, hook, f);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  jq_door_free (f->door);
  g_main_context_unref (f->context);
  g_free (f);
  return 0;
}

static gpointer
caller (gpointer data)
{
  Fixture *f = data;
  for (int i = 0; i < 100; i++)
    assert_true (jq_door_call (f->door, count_call, f, NULL));
  return NULL;
}

static void
test_calls_from_threads (void **state)
{
  Fixture *f = *state;
  GThread *threads[8];

  g_main_context_push_thread_default (f->context);
  for (int i = 0; i < 8; i++)
    threads[i] = g_thread_new ("caller", caller, f);
  while (f->calls < 800)
    g_main_context_iteration (f->context, TRUE);
  for (int i = 0; i < 8; i++)
    g_thread_join (threads[i]);
  g_main_context_pop_thread_default (f->context);

  assert_int_equal (f->calls, 800);
  assert_int_equal (f->begins, f->ends);
  assert_int_equal (jq_door_get_batches (f->door), f->begins);
  /* Calls that waited together ran together. */
  assert_true (f->begins <= 800);
}

typedef struct {
  Fixture *f;
  GThread *second;   /* calls while the first call runs */
} Absorb;

static gpointer
second_caller (gpointer data)
{
  Fixture *f = data;
  return GINT_TO_POINTER (jq_door_call (f->door, count_call, f, NULL));
}

/* The first call starts a second caller and returns only once that one
 * waits at the door: the batch is still running. */
static void
call_then_wait_for_second (gpointer data)
{
  Absorb *a = data;
  count_call (a->f);
  a->second = g_thread_new ("second", second_caller, a->f);
  while (jq_door_get_waiting (a->f->door) == 0)
    g_usleep (1000);   /* polls a condition; orders nothing */
}

static gpointer
first_caller (gpointer data)
{
  Absorb *a = data;
  return GINT_TO_POINTER (jq_door_call (a->f->door, call_then_wait_for_second,
                                        a, NULL));
}

/* Absorbing, a call that arrives while a batch runs joins it: one
 * batch, one hook's end for both; without, it waits for a batch of its
 * own. */
static void
run_absorb_case (Fixture *f, gboolean absorbing, guint batches)
{
  Absorb a = { f, NULL };
  jq_door_set_absorbing (f->door, absorbing);
  g_main_context_push_thread_default (f->context);
  GThread *first = g_thread_new ("first", first_caller, &a);
  while (f->calls < 2)
    g_main_context_iteration (f->context, TRUE);
  assert_true (GPOINTER_TO_INT (g_thread_join (first)));
  assert_true (GPOINTER_TO_INT (g_thread_join (a.second)));
  g_main_context_pop_thread_default (f->context);
  assert_int_equal (f->begins, batches);
  assert_int_equal (f->ends, batches);
}

static void
test_absorbing_joins_running_batch (void **state)
{
  run_absorb_case (*state, TRUE, 1);
}

static void
test_not_absorbing_waits (void **state)
{
  run_absorb_case (*state, FALSE, 2);
}

static void
test_owner_runs_at_once (void **state)
{
  Fixture *f = *state;
  g_main_context_push_thread_default (f->context);
  assert_true (g_main_context_acquire (f->context));
  assert_true (jq_door_call (f->door, count_call, f, NULL));
  assert_int_equal (f->calls, 1);
  assert_int_equal (f->begins, 1);
  g_main_context_release (f->context);
  g_main_context_pop_thread_default (f->context);
}

static gpointer
late_caller (gpointer data)
{
  Fixture *f = data;
  return GINT_TO_POINTER (jq_door_call (f->door, count_call, f, NULL));
}

static void
test_closed_door_refuses (void **state)
{
  Fixture *f = *state;
  g_main_context_push_thread_default (f->context);
  assert_true (g_main_context_acquire (f->context));
  jq_door_close (f->door);
  assert_false (jq_door_call (f->door, count_call, f, NULL));
  GThread *t = g_thread_new ("late", late_caller, f);
  assert_false (GPOINTER_TO_INT (g_thread_join (t)));
  assert_int_equal (f->calls, 0);
  g_main_context_release (f->context);
  g_main_context_pop_thread_default (f->context);
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_calls_from_threads),
    T (test_absorbing_joins_running_batch),
    T (test_not_absorbing_waits),
    T (test_owner_runs_at_once),
    T (test_closed_door_refuses),
  };
  return cmocka_run_group_tests_name ("door", tests, NULL, NULL);
}
