/* Counters and histograms of the server, and their Prometheus text.
 *
 * Thread-safe: XML-RPC calls are counted on Abyss's threads, job events on
 * the main loop.  No clock: every duration is passed in. */
#pragma once

#include <glib.h>

#include "events.h"

typedef struct _JqMetrics JqMetrics;

/* How a job ended, for bots_jobqueue_jobs_finished_total{result}. */
typedef enum {
  JQ_RESULT_SUCCESS,      /* exit code 0 */
  JQ_RESULT_FAILURE,      /* other exit code */
  JQ_RESULT_SIGNAL,       /* killed by a signal */
  JQ_RESULT_NOT_STARTED,  /* its program could not be started */
  JQ_RESULT_COUNT
} JqResult;

/* Why an HTTP request was refused before any method ran. */
typedef enum {
  JQ_REFUSED_METHOD,      /* 405: not POST (nor GET of a status path) */
  JQ_REFUSED_LENGTH,      /* 411/400: no or bad Content-Length, chunked */
  JQ_REFUSED_TOO_LARGE,   /* 413 */
  JQ_REFUSED_SCREENED,    /* body refused by the screening (a fault) */
  JQ_REFUSED_NOT_FOUND,   /* 404 on the status-only port */
  JQ_REFUSED_COUNT
} JqRefused;

JqMetrics *jq_metrics_new (void);
void jq_metrics_free (JqMetrics *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqMetrics, jq_metrics_free)

/* One addjob/submit answer (0, 2, 3 or 4; anything else counts as 0). */
void jq_metrics_count_answer (JqMetrics *m, int code);
void jq_metrics_count_started (JqMetrics *m);
/* A job ended; @duration_us is ignored for JQ_RESULT_NOT_STARTED. */
void jq_metrics_count_finished (JqMetrics *m, JqResult result,
                                gboolean hit_maxruntime, gint64 duration_us);
/* From one job's end to the next one's start, when a job was waiting. */
void jq_metrics_observe_launch_gap (JqMetrics *m, gint64 us);
void jq_metrics_observe_commit (JqMetrics *m, gint64 us);
/* One XML-RPC call.  @method must be a string that lives as long as @m
 * (the method table's name), or NULL for an unknown method or a body that
 * is not a call: the label set stays bounded whatever clients send. */
void jq_metrics_count_call (JqMetrics *m, const char *method,
                            gboolean fault);
void jq_metrics_count_refused (JqMetrics *m, JqRefused why);

/* A JqObserver (events.h) for @metrics: counts starts and ends by
 * result, their run time, and the launch gap (from an end with a job
 * waiting to the next start).  Loop thread, as every event. */
void jq_metrics_observe (const JqEvent *event, gpointer metrics);

/* What the jobs became: one counter per outcome, read by the scheduler's
 * totals (status(), status.json) as by the Prometheus text. */
typedef struct {
  guint64 started;
  guint64 finished[JQ_RESULT_COUNT];
} JqOutcomes;
JqOutcomes jq_metrics_get_outcomes (JqMetrics *m);

/* What only the scheduler knows at the moment of the scrape. */
typedef struct {
  guint    waiting;
  guint    running;
  gboolean paused;
  gint64   started_us;    /* server start, unix microseconds */
} JqGauges;

/* Appends the Prometheus text exposition (format 0.0.4) to @out. */
void jq_metrics_render (JqMetrics *m, const JqGauges *gauges, GString *out);
