/* What the status page, its JSON and the Prometheus metrics show: the
 * recent runs (the history's) and queue depth of the last 24 hours, kept
 * on the main loop, and the answers to GET /, /status.json and /metrics built from a
 * snapshot taken through the door.  Knows nothing of HTTP servers. */
#pragma once

#include <glib.h>

#include "door.h"
#include "history.h"
#include "metrics.h"
#include "scheduler.h"

/* Waiting jobs listed by the page and the JSON (the rest are counted). */
#define JQ_STATUS_NEXT_JOBS 100
/* Running jobs listed (nr_threads may be up to 1000; the rest are
 * counted). */
#define JQ_STATUS_RUNNING_JOBS 100
/* Finished jobs listed. */
#define JQ_STATUS_FINISHED_JOBS 25
/* Characters of a task (its arguments and one per separator) and of a
 * start error shown by the JSON and the page; a task may hold 64 KiB.
 * With the counts above and the timeline's, a status.json answer stays
 * below JQ_STATUS_JSON_MAX bytes whatever the queue holds. */
#define JQ_STATUS_TASK_CHARS 300
#define JQ_STATUS_JSON_MAX (1024 * 1024)
/* Runs shown by the 24-hour timeline at most: the history's. */
#define JQ_STATUS_MAX_RUNS JQ_HISTORY_KEEP

typedef struct _JqStatus JqStatus;

/* Observes @scheduler's job events and its journal's commits, and seeds
 * the queue depth from the scheduler's history.  Call on the loop thread
 * before the loop runs; @scheduler and @door must outlive it. */
JqStatus *jq_status_new (JqScheduler *scheduler, JqDoor *door);

JqMetrics *jq_status_get_metrics (JqStatus *st);

/* An addjob or submit answer (loop thread): counted, and the queue depth
 * sampled for the timeline. */
void jq_status_note_answer (JqStatus *st, int code);

typedef enum {
  JQ_STATUS_NONE,       /* not a status path */
  JQ_STATUS_PAGE,       /* "/" and "/index.html" */
  JQ_STATUS_JSON,       /* "/status.json" */
  JQ_STATUS_METRICS,    /* "/metrics" */
  JQ_STATUS_ICON,       /* "/favicon.ico": a small SVG icon */
} JqStatusPath;

/* Which answer @path (without the query string) asks for. */
JqStatusPath jq_status_match (const char *path);

/* The Content-Security-Policy of the page: its one inline script and
 * one style element allowed by their SHA-256 (computed once from the
 * page), nothing else inline; requests to its own origin only. */
const char *jq_status_page_csp (void);

/* The body of answer @what and its Content-Type; any thread.  Returns
 * NULL and sets @error when the loop cannot be asked (the server is
 * stopping). */
GBytes *jq_status_answer (JqStatus *st, JqStatusPath what,
                          const char **content_type, GError **error);

/* Appends @text to @out as a JSON string, quotes included; "<", ">" and
 * "&" are escaped too, so that the text can never close a script or
 * open markup, and invalid UTF-8 is replaced. */
void jq_status_append_json_string (GString *out, const char *text);

/* Times on the page are shown in @zone (settings.py's TIME_ZONE, as the
 * log; NULL or unknown: the system's), which status.json names
 * ("time_zone", null for the system's) beside "now_iso", the time in
 * ISO 8601 with that zone's offset.  Call before the loop runs. */
void jq_status_set_time_zone (JqStatus *st, const char *zone);

void jq_status_free (JqStatus *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqStatus, jq_status_free)
