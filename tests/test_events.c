/* Tests of the one event stream (events.c) and of its two first
 * subscribers, the history and the metrics: every listener hears every
 * event in the order it subscribed, an end is in the history before a
 * later listener hears of it, and there is one counter per outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "history.h"
#include "metrics.h"

#include <string.h>

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct {
  GString   *heard;       /* "name:kind " per event heard */
  const char *name;
  JqHistory *history;     /* nullable: looked at when an end is heard */
  gboolean   found;       /* the history knew the job when heard */
} Listener;

static void
listen (const JqEvent *e, gpointer data)
{
  Listener *l = data;
  g_string_append_printf (l->heard, "%s:%d ", l->name, e->kind);
  if (l->history != NULL && e->kind == JQ_EVENT_FINISHED)
    {
      g_autoptr (JqFinished) f = jq_history_find (l->history, e->number);
      l->found = f != NULL;
    }
}

static void
test_order_and_unsubscribe (void **state)
{
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (GString) heard = g_string_new (NULL);
  Listener a = { heard, "a", NULL, FALSE };
  Listener b = { heard, "b", NULL, FALSE };
  guint ida = jq_events_subscribe (events, listen, &a);
  guint idb = jq_events_subscribe (events, listen, &b);
  assert_int_not_equal (ida, 0);
  assert_int_not_equal (ida, idb);
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_GONE, .number = 1 });
  assert_string_equal (heard->str, "a:3 b:3 ");
  jq_events_unsubscribe (events, ida);
  g_string_truncate (heard, 0);
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_CHANGED_ELSEWHERE });
  assert_string_equal (heard->str, "b:4 ");
  jq_events_unsubscribe (events, idb);
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_GONE, .number = 2 });
  assert_string_equal (heard->str, "b:4 ");
}

/* The history hears first: a listener woken by an end finds it there. */
static void
test_history_hears_first (void **state)
{
  g_autoptr (JqJournal) j = jq_journal_open_none ();
  g_autoptr (JqHistory) h = jq_history_new (j);
  g_autoptr (JqEvents) events = jq_events_new ();
  g_autoptr (GString) heard = g_string_new (NULL);
  Listener waiter = { heard, "w", h, FALSE };
  jq_events_subscribe (events, jq_history_observe, h);
  jq_events_subscribe (events, listen, &waiter);
  JqFinished f = { .number = 9, .argv = TASK ("t"), .ended_us = 20,
                   .exit_code = 1 };
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_FINISHED,
                                       .number = 9, .result = &f });
  assert_true (waiter.found);
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_GONE, .number = 10 });
  assert_true (jq_history_is_gone (h, 10));
  JqFinished failed = { .number = 11, .argv = TASK ("u"), .ended_us = 30,
                        .start_error = "no such file" };
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_START_FAILED,
                                       .number = 11, .result = &failed,
                                       .start_error = failed.start_error });
  g_autoptr (JqFinished) got = jq_history_find (h, 11);
  assert_non_null (got);
  assert_string_equal (got->start_error, "no such file");
}

/* One counter per outcome: a signal is a failure of its own kind, a
 * start failure is counted once, and the launch gap is measured only
 * from an end with a job waiting. */
static void
test_metrics_count_outcomes (void **state)
{
  g_autoptr (JqMetrics) m = jq_metrics_new ();
  g_autoptr (JqEvents) events = jq_events_new ();
  jq_events_subscribe (events, jq_metrics_observe, m);
  JqFinished ok = { .number = 1, .started_us = 1000, .ended_us = 3000 };
  JqFinished killed = { .number = 2, .started_us = 1000, .ended_us = 5000,
                        .exit_code = -9, .term_signal = 9 };
  JqFinished bad = { .number = 3, .ended_us = 6000, .start_error = "x" };
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_STARTED,
                                       .started_us = 1000 });
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_FINISHED,
                                       .result = &ok, .waiting = 1 });
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_STARTED,
                                       .started_us = 3500 });
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_FINISHED,
                                       .result = &killed });
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_START_FAILED,
                                       .result = &bad, .start_error = "x" });
  jq_events_emit (events, &(JqEvent) { .kind = JQ_EVENT_GONE, .number = 4 });
  JqOutcomes o = jq_metrics_get_outcomes (m);
  assert_int_equal (o.started, 2);
  assert_int_equal (o.finished[JQ_RESULT_SUCCESS], 1);
  assert_int_equal (o.finished[JQ_RESULT_FAILURE], 0);
  assert_int_equal (o.finished[JQ_RESULT_SIGNAL], 1);
  assert_int_equal (o.finished[JQ_RESULT_NOT_STARTED], 1);
  JqGauges g = { 0 };
  g_autoptr (GString) out = g_string_new (NULL);
  jq_metrics_render (m, &g, out);
  /* One gap, 0.5 ms, from the first end (a job waited) to the start. */
  assert_non_null (strstr (out->str,
                           "bots_jobqueue_launch_gap_seconds_count 1\n"));
  assert_non_null (strstr (out->str,
                           "bots_jobqueue_launch_gap_seconds_sum 0.0005\n"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_order_and_unsubscribe),
    cmocka_unit_test (test_history_hears_first),
    cmocka_unit_test (test_metrics_count_outcomes),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
