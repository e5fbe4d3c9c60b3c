/* Tests of the wait() callers' registry: per-job wake-ups from the job
 * events, "changed elsewhere" for all, the bound on blocked callers and
 * the stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "waiters.h"

/* Already passed: block() only says what happened since the last look. */
#define NOW 0

static void
emit (JqEvents *events, JqEventKind kind, guint64 number)
{
  jq_events_emit (events, &(JqEvent) { .kind = kind, .number = number });
}

/* Only the watched job's end wakes; a start does not. */
static void
test_woken_per_job (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (JqWaiters) w = jq_waiters_new (events);
  JqWaiter *five = jq_waiter_watch (w, 5);
  JqWaiter *six = jq_waiter_watch (w, 6);
  emit (events, JQ_EVENT_FINISHED, 6);
  emit (events, JQ_EVENT_STARTED, 5);
  assert_int_equal (jq_waiter_block (w, five, NOW), JQ_WAIT_TIMED_OUT);
  assert_int_equal (jq_waiter_block (w, six, NOW), JQ_WAIT_WOKEN);
  /* Counted once: the next block waits for a new event. */
  assert_int_equal (jq_waiter_block (w, six, NOW), JQ_WAIT_TIMED_OUT);
  emit (events, JQ_EVENT_GONE, 5);
  assert_int_equal (jq_waiter_block (w, five, NOW), JQ_WAIT_WOKEN);
  emit (events, JQ_EVENT_START_FAILED, 5);
  assert_int_equal (jq_waiter_block (w, five, NOW), JQ_WAIT_WOKEN);
  jq_waiter_unwatch (w, five);
  jq_waiter_unwatch (w, six);
}

/* Two callers of one job both wake; one leaving keeps the other filed. */
static void
test_same_job_twice (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (JqWaiters) w = jq_waiters_new (events);
  JqWaiter *a = jq_waiter_watch (w, 7);
  JqWaiter *b = jq_waiter_watch (w, 7);
  emit (events, JQ_EVENT_FINISHED, 7);
  assert_int_equal (jq_waiter_block (w, a, NOW), JQ_WAIT_WOKEN);
  jq_waiter_unwatch (w, a);
  assert_int_equal (jq_waiter_block (w, b, NOW), JQ_WAIT_WOKEN);
  emit (events, JQ_EVENT_FINISHED, 7);
  assert_int_equal (jq_waiter_block (w, b, NOW), JQ_WAIT_WOKEN);
  jq_waiter_unwatch (w, b);
}

/* Another server changed the shared queue: every caller looks again. */
static void
test_changed_elsewhere_wakes_all (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (JqWaiters) w = jq_waiters_new (events);
  JqWaiter *a = jq_waiter_watch (w, 1);
  JqWaiter *b = jq_waiter_watch (w, 2);
  emit (events, JQ_EVENT_CHANGED_ELSEWHERE, 0);
  assert_int_equal (jq_waiter_block (w, a, NOW), JQ_WAIT_WOKEN);
  assert_int_equal (jq_waiter_block (w, b, NOW), JQ_WAIT_WOKEN);
  jq_waiter_unwatch (w, a);
  jq_waiter_unwatch (w, b);
}

/* Beyond the bound a caller does not block; a place given back is free
 * again. */
static void
test_bound (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (JqWaiters) w = jq_waiters_new (events);
  jq_waiters_set_max_blocked (w, 1);
  JqWaiter *a = jq_waiter_watch (w, 1);
  JqWaiter *b = jq_waiter_watch (w, 2);
  assert_int_equal (jq_waiter_block (w, a, NOW), JQ_WAIT_TIMED_OUT);
  assert_int_equal (jq_waiter_block (w, b, NOW), JQ_WAIT_NO_ROOM);
  /* a keeps its place over several looks. */
  assert_int_equal (jq_waiter_block (w, a, NOW), JQ_WAIT_TIMED_OUT);
  jq_waiter_unwatch (w, a);
  assert_int_equal (jq_waiter_block (w, b, NOW), JQ_WAIT_TIMED_OUT);
  jq_waiter_unwatch (w, b);
}

typedef struct {
  JqWaiters *w;
  JqWaiter  *waiter;
  JqWaitEnd  end;
} Blocked;

static gpointer
block_thread (gpointer data)
{
  Blocked *b = data;
  b->end = jq_waiter_block (b->w, b->waiter, G_MAXINT64);
  return NULL;
}

/* A caller blocked on another thread wakes at its job's end, and at the
 * stop; after the stop nobody blocks. */
static void
test_woken_across_threads (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (JqWaiters) w = jq_waiters_new (events);
  Blocked b = { w, jq_waiter_watch (w, 3), JQ_WAIT_TIMED_OUT };
  GThread *t = g_thread_new ("waiter", block_thread, &b);
  emit (events, JQ_EVENT_FINISHED, 3);
  g_thread_join (t);
  assert_int_equal (b.end, JQ_WAIT_WOKEN);
  t = g_thread_new ("waiter", block_thread, &b);
  jq_waiters_stop (w);
  g_thread_join (t);
  assert_int_equal (b.end, JQ_WAIT_STOPPED);
  assert_int_equal (jq_waiter_block (w, b.waiter, G_MAXINT64),
                    JQ_WAIT_STOPPED);
  jq_waiter_unwatch (w, b.waiter);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_woken_per_job),
    cmocka_unit_test (test_same_job_twice),
    cmocka_unit_test (test_changed_elsewhere_wakes_all),
    cmocka_unit_test (test_bound),
    cmocka_unit_test (test_woken_across_threads),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
