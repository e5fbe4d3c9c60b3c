/* Counters and histograms of the server, and their Prometheus text.
 *
 * One mutex guards everything: each update is a few additions, and a
 * scrape copies nothing it does not print.  Names and units follow
 * Prometheus' conventions (base units: seconds; counters end in _total);
 * doc/admin-api.md lists them. */
#include "metrics.h"

#include <string.h>

#define N_BOUNDS_MAX 16

typedef struct {
  const double *bounds;      /* upper bounds in seconds, ascending */
  guint         n_bounds;
  guint64       counts[N_BOUNDS_MAX];  /* per bucket, not cumulative */
  guint64       count;       /* including those above the last bound */
  double        sum;         /* seconds */
} Histogram;

typedef struct {
  guint64 calls;
  guint64 faults;
} MethodCount;

struct _JqMetrics {
  GMutex      lock;
  guint64     answers[5];              /* by addjob code 0..4 */
  guint64     started;
  guint64     finished[JQ_RESULT_COUNT];
  guint64     maxruntime_exceeded;
  guint64     refused[JQ_REFUSED_COUNT];
  Histogram   duration;
  Histogram   launch_gap;
  Histogram   commit;
  gint64      gap_from_us;             /* a job ended with others waiting;
                                        * 0: none */
  GHashTable *methods;                 /* name (borrowed) -> MethodCount* */
  MethodCount unknown_method;
};

/* A Bots engine run takes seconds to hours. */
static const double duration_bounds[] = {
  0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600,
};
/* The launch gap is milliseconds (doc/design.md). */
static const double gap_bounds[] = {
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};
/* A commit is an fsync or two. */
static const double commit_bounds[] = {
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 1,
};

G_STATIC_ASSERT (G_N_ELEMENTS (duration_bounds) <= N_BOUNDS_MAX);
G_STATIC_ASSERT (G_N_ELEMENTS (gap_bounds) <= N_BOUNDS_MAX);
G_STATIC_ASSERT (G_N_ELEMENTS (commit_bounds) <= N_BOUNDS_MAX);

static void
histogram_init (Histogram *h, const double *bounds, guint n)
{
  memset (h, 0, sizeof *h);
  h->bounds = bounds;
  h->n_bounds = n;
}

static void
histogram_observe (Histogram *h, gint64 us)
{
  double seconds = (double) MAX (us, 0) / G_USEC_PER_SEC;
  for (guint i = 0; i < h->n_bounds; i++)
    if (seconds <= h->bounds[i])
      {
        h->counts[i]++;
        break;
      }
  h->count++;
  h->sum += seconds;
}

JqMetrics *
jq_metrics_new (void)
{
  JqMetrics *m = g_new0 (JqMetrics, 1);
  g_mutex_init (&m->lock);
  histogram_init (&m->duration, duration_bounds,
                  G_N_ELEMENTS (duration_bounds));
  histogram_init (&m->launch_gap, gap_bounds, G_N_ELEMENTS (gap_bounds));
  histogram_init (&m->commit, commit_bounds, G_N_ELEMENTS (commit_bounds));
  m->methods = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  return m;
}

void
jq_metrics_free (JqMetrics *m)
{
  if (m == NULL)
    return;
  g_hash_table_unref (m->methods);
  g_mutex_clear (&m->lock);
  g_free (m);
}

void
jq_metrics_count_answer (JqMetrics *m, int code)
{
  g_mutex_lock (&m->lock);
  m->answers[code >= 0 && code < 5 ? code : 0]++;
  g_mutex_unlock (&m->lock);
}

void
jq_metrics_count_started (JqMetrics *m)
{
  g_mutex_lock (&m->lock);
  m->started++;
  g_mutex_unlock (&m->lock);
}

void
jq_metrics_count_finished (JqMetrics *m, JqResult result,
                           gboolean hit_maxruntime, gint64 duration_us)
{
  g_return_if_fail (result < JQ_RESULT_COUNT);
  g_mutex_lock (&m->lock);
  m->finished[result]++;
  if (hit_maxruntime)
    m->maxruntime_exceeded++;
  if (result != JQ_RESULT_NOT_STARTED)
    histogram_observe (&m->duration, duration_us);
  g_mutex_unlock (&m->lock);
}

static JqResult
result_of (const JqFinished *f)
{
  if (f->start_error != NULL)
    return JQ_RESULT_NOT_STARTED;
  if (f->term_signal != 0)
    return JQ_RESULT_SIGNAL;
  return f->exit_code == 0 ? JQ_RESULT_SUCCESS : JQ_RESULT_FAILURE;
}

void
jq_metrics_observe (const JqEvent *e, gpointer metrics)
{
  JqMetrics *m = metrics;
  gint64 gap_from;
  switch (e->kind)
    {
    case JQ_EVENT_STARTED:
      jq_metrics_count_started (m);
      g_mutex_lock (&m->lock);
      gap_from = m->gap_from_us;
      m->gap_from_us = 0;
      g_mutex_unlock (&m->lock);
      if (gap_from != 0)
        jq_metrics_observe_launch_gap (m, e->started_us - gap_from);
      break;
    case JQ_EVENT_FINISHED:
      jq_metrics_count_finished (m, result_of (e->result),
                                 e->result->hit_maxruntime,
                                 e->result->ended_us
                                 - e->result->started_us);
      /* The gap counts only when a job was there to start at once. */
      g_mutex_lock (&m->lock);
      m->gap_from_us = e->waiting > 0 && !e->paused ? e->result->ended_us
                                                    : 0;
      g_mutex_unlock (&m->lock);
      break;
    case JQ_EVENT_START_FAILED:
      jq_metrics_count_finished (m, JQ_RESULT_NOT_STARTED, FALSE, 0);
      break;
    case JQ_EVENT_GONE:
    case JQ_EVENT_CHANGED_ELSEWHERE:
      break;
    }
}

JqOutcomes
jq_metrics_get_outcomes (JqMetrics *m)
{
  JqOutcomes o = { 0 };
  g_mutex_lock (&m->lock);
  o.started = m->started;
  memcpy (o.finished, m->finished, sizeof o.finished);
  g_mutex_unlock (&m->lock);
  return o;
}

void
jq_metrics_observe_launch_gap (JqMetrics *m, gint64 us)
{
  g_mutex_lock (&m->lock);
  histogram_observe (&m->launch_gap, us);
  g_mutex_unlock (&m->lock);
}

void
jq_metrics_observe_commit (JqMetrics *m, gint64 us)
{
  g_mutex_lock (&m->lock);
  histogram_observe (&m->commit, us);
  g_mutex_unlock (&m->lock);
}

void
jq_metrics_count_call (JqMetrics *m, const char *method, gboolean fault)
{
  g_mutex_lock (&m->lock);
  MethodCount *c = &m->unknown_method;
  if (method != NULL)
    {
      c = g_hash_table_lookup (m->methods, method);
      if (c == NULL)
        {
          c = g_new0 (MethodCount, 1);
          g_hash_table_insert (m->methods, (gpointer) method, c);
        }
    }
  c->calls++;
  if (fault)
    c->faults++;
  g_mutex_unlock (&m->lock);
}

void
jq_metrics_count_refused (JqMetrics *m, JqRefused why)
{
  g_return_if_fail (why < JQ_REFUSED_COUNT);
  g_mutex_lock (&m->lock);
  m->refused[why]++;
  g_mutex_unlock (&m->lock);
}

/* ---------------------------------------------------------- text */

static void
header (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                          name, type);
}

static void
append_double (GString *out, double v)
{
  /* 15 digits: "0.0025", not 0.0025000000000000001; locale-free. */
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.15g", v));
}

static void
render_histogram (GString *out, const char *name, const char *help,
                  const Histogram *h)
{
  header (out, name, "histogram", help);
  guint64 cumulative = 0;
  for (guint i = 0; i < h->n_bounds; i++)
    {
      cumulative += h->counts[i];
      g_string_append_printf (out, "%s_bucket{le=\"", name);
      append_double (out, h->bounds[i]);
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", cumulative);
    }
  g_string_append_printf (out, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT
                          "\n%s_sum ", name, h->count, name);
  append_double (out, h->sum);
  g_string_append_printf (out, "\n%s_count %" G_GUINT64_FORMAT "\n", name,
                          h->count);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The XML-RPC call and fault counters, by method (sorted).  Lock held. */
static void
render_calls (JqMetrics *m, GString *out)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, m->methods);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_names);
  header (out, "bots_jobqueue_xmlrpc_calls_total", "counter",
          "XML-RPC calls by method (\"unknown\": no such method, or not a "
          "call).");
  for (guint i = 0; i < names->len; i++)
    {
      MethodCount *c = g_hash_table_lookup (m->methods, names->pdata[i]);
      g_string_append_printf (out, "bots_jobqueue_xmlrpc_calls_total{method=\"%s\"} %"
                              G_GUINT64_FORMAT "\n",
                              (const char *) names->pdata[i], c->calls);
    }
  g_string_append_printf (out, "bots_jobqueue_xmlrpc_calls_total{method=\"unknown\"} %"
                          G_GUINT64_FORMAT "\n", m->unknown_method.calls);
  header (out, "bots_jobqueue_xmlrpc_faults_total", "counter",
          "XML-RPC calls answered with a fault, by method.");
  for (guint i = 0; i < names->len; i++)
    {
      MethodCount *c = g_hash_table_lookup (m->methods, names->pdata[i]);
      g_string_append_printf (out, "bots_jobqueue_xmlrpc_faults_total{method=\"%s\"} %"
                              G_GUINT64_FORMAT "\n",
                              (const char *) names->pdata[i], c->faults);
    }
  g_string_append_printf (out, "bots_jobqueue_xmlrpc_faults_total{method=\"unknown\"} %"
                          G_GUINT64_FORMAT "\n", m->unknown_method.faults);
}

void
jq_metrics_render (JqMetrics *m, const JqGauges *g, GString *out)
{
  static const char *const results[JQ_RESULT_COUNT] = {
    "success", "failure", "signal", "not_started",
  };
  static const char *const refusals[JQ_REFUSED_COUNT] = {
    "method", "length", "too_large", "screened", "not_found",
  };
  static const int codes[] = { 0, 2, 3, 4 };

  g_mutex_lock (&m->lock);
  header (out, "bots_jobqueue_add_requests_total", "counter",
          "addjob and submit calls by Bots' answer code (0 added or "
          "priority changed, 2 empty task, 3 not authorized, 4 duplicate).");
  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++)
    g_string_append_printf (out, "bots_jobqueue_add_requests_total{code=\"%d\"} %"
                            G_GUINT64_FORMAT "\n", codes[i],
                            m->answers[codes[i]]);
  header (out, "bots_jobqueue_jobs_started_total", "counter",
          "Jobs whose program was started.");
  g_string_append_printf (out, "bots_jobqueue_jobs_started_total %"
                          G_GUINT64_FORMAT "\n", m->started);
  header (out, "bots_jobqueue_jobs_finished_total", "counter",
          "Jobs that ended, by result.");
  for (guint i = 0; i < JQ_RESULT_COUNT; i++)
    g_string_append_printf (out, "bots_jobqueue_jobs_finished_total{result=\"%s\"} %"
                            G_GUINT64_FORMAT "\n", results[i],
                            m->finished[i]);
  header (out, "bots_jobqueue_jobs_maxruntime_exceeded_total", "counter",
          "Ended jobs that had run longer than maxruntime.");
  g_string_append_printf (out, "bots_jobqueue_jobs_maxruntime_exceeded_total %"
                          G_GUINT64_FORMAT "\n", m->maxruntime_exceeded);
  header (out, "bots_jobqueue_jobs_waiting", "gauge", "Jobs waiting to run.");
  g_string_append_printf (out, "bots_jobqueue_jobs_waiting %u\n", g->waiting);
  header (out, "bots_jobqueue_jobs_running", "gauge", "Jobs running now.");
  g_string_append_printf (out, "bots_jobqueue_jobs_running %u\n", g->running);
  header (out, "bots_jobqueue_paused", "gauge",
          "1 while the queue is paused (no job starts).");
  g_string_append_printf (out, "bots_jobqueue_paused %d\n", g->paused ? 1 : 0);
  render_histogram (out, "bots_jobqueue_job_duration_seconds",
                    "Run time of the jobs that ended.", &m->duration);
  render_histogram (out, "bots_jobqueue_launch_gap_seconds",
                    "From a job's end to the next job's start, when one was "
                    "waiting.", &m->launch_gap);
  render_histogram (out, "bots_jobqueue_journal_commit_duration_seconds",
                    "Time of each journal commit.", &m->commit);

  render_calls (m, out);
  header (out, "bots_jobqueue_http_requests_refused_total", "counter",
          "HTTP requests refused before any method ran, by reason.");
  for (guint i = 0; i < JQ_REFUSED_COUNT; i++)
    g_string_append_printf (out, "bots_jobqueue_http_requests_refused_total{reason=\"%s\"} %"
                            G_GUINT64_FORMAT "\n", refusals[i], m->refused[i]);
  g_mutex_unlock (&m->lock);

  header (out, "bots_jobqueue_start_time_seconds", "gauge",
          "When the server started, in seconds since the Unix epoch.");
  g_string_append (out, "bots_jobqueue_start_time_seconds ");
  append_double (out, (double) g->started_us / G_USEC_PER_SEC);
  g_string_append_c (out, '\n');
}
