/* Tests of the metrics: counting, cumulative histogram buckets, and the
 * text exposition's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "metrics.h"

static int
setup (void **state)
{
  *state = jq_metrics_new ();
  return 0;
}

static int
teardown (void **state)
{
  jq_metrics_free (*state);
  return 0;
}

static char *
render (JqMetrics *m)
{
  JqGauges g = { 7, 1, TRUE, G_GINT64_CONSTANT (1795816792) * G_USEC_PER_SEC };
  GString *out = g_string_new (NULL);
  jq_metrics_render (m, &g, out);
  return g_string_free (out, FALSE);
}

static void
assert_line (const char *text, const char *line)
{
  g_autofree char *with = g_strconcat ("\n", line, "\n", NULL);
  if (strstr (text, with) == NULL)
    fail_msg ("missing line \"%s\" in:\n%s", line, text);
}

static void
test_counters_and_gauges (void **state)
{
  JqMetrics *m = *state;
  jq_metrics_count_answer (m, 0);
  jq_metrics_count_answer (m, 0);
  jq_metrics_count_answer (m, 4);
  jq_metrics_count_answer (m, 99);          /* unknown codes count as 0 */
  jq_metrics_count_started (m);
  jq_metrics_count_finished (m, JQ_RESULT_SIGNAL, TRUE, 2 * G_USEC_PER_SEC);
  jq_metrics_count_finished (m, JQ_RESULT_NOT_STARTED, FALSE, 0);
  jq_metrics_count_refused (m, JQ_REFUSED_TOO_LARGE);
  g_autofree char *text = render (m);
  assert_line (text, "bots_jobqueue_add_requests_total{code=\"0\"} 3");
  assert_line (text, "bots_jobqueue_add_requests_total{code=\"4\"} 1");
  assert_line (text, "bots_jobqueue_add_requests_total{code=\"2\"} 0");
  assert_line (text, "bots_jobqueue_jobs_started_total 1");
  assert_line (text, "bots_jobqueue_jobs_finished_total{result=\"signal\"} 1");
  assert_line (text, "bots_jobqueue_jobs_finished_total{result=\"not_started\"} 1");
  assert_line (text, "bots_jobqueue_jobs_maxruntime_exceeded_total 1");
  /* a job that never started has no duration */
  assert_line (text, "bots_jobqueue_job_duration_seconds_count 1");
  assert_line (text, "bots_jobqueue_jobs_waiting 7");
  assert_line (text, "bots_jobqueue_jobs_running 1");
  assert_line (text, "bots_jobqueue_paused 1");
  assert_line (text, "bots_jobqueue_http_requests_refused_total{reason=\"too_large\"} 1");
  assert_line (text, "bots_jobqueue_start_time_seconds 1795816792");
  assert_line (text, "# TYPE bots_jobqueue_job_duration_seconds histogram");
}

static void
test_histogram_is_cumulative (void **state)
{
  JqMetrics *m = *state;
  jq_metrics_observe_launch_gap (m, 500);                  /* 0.5 ms */
  jq_metrics_observe_launch_gap (m, 3000);                 /* 3 ms */
  jq_metrics_observe_launch_gap (m, 3000);
  jq_metrics_observe_launch_gap (m, 60 * G_USEC_PER_SEC);  /* over all */
  jq_metrics_observe_launch_gap (m, -5);                   /* clock step */
  g_autofree char *text = render (m);
  assert_line (text, "bots_jobqueue_launch_gap_seconds_bucket{le=\"0.001\"} 2");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_bucket{le=\"0.0025\"} 2");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_bucket{le=\"0.005\"} 4");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_bucket{le=\"5\"} 4");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_bucket{le=\"+Inf\"} 5");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_count 5");
  assert_line (text, "bots_jobqueue_launch_gap_seconds_sum 60.0065");
}

static void
test_methods_bounded (void **state)
{
  JqMetrics *m = *state;
  static const char addjob[] = "addjob";
  jq_metrics_count_call (m, addjob, FALSE);
  jq_metrics_count_call (m, addjob, TRUE);
  jq_metrics_count_call (m, NULL, TRUE);
  g_autofree char *text = render (m);
  assert_line (text, "bots_jobqueue_xmlrpc_calls_total{method=\"addjob\"} 2");
  assert_line (text, "bots_jobqueue_xmlrpc_faults_total{method=\"addjob\"} 1");
  assert_line (text, "bots_jobqueue_xmlrpc_calls_total{method=\"unknown\"} 1");
  assert_line (text, "bots_jobqueue_xmlrpc_faults_total{method=\"unknown\"} 1");
}

#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)

int
main (void)
{
  const struct CMUnitTest tests[] = {
    T (test_counters_and_gauges),
    T (test_histogram_is_cumulative),
    T (test_methods_bounded),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
