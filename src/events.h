/* What happens to jobs, as one stream: the scheduler emits, and the
 * history, the metrics, the status page and the wait() callers subscribe.
 * Main loop thread only. */
#pragma once

#include <glib.h>

#include "finished.h"

typedef enum {
  JQ_EVENT_STARTED,        /* @job, @started_us */
  JQ_EVENT_FINISHED,       /* @job, @result; before the next job starts */
  JQ_EVENT_START_FAILED,   /* @job, @result (its start_error and ended_us
                            * set), @start_error */
  JQ_EVENT_GONE,           /* @number left the queue without running
                            * (removed, cleared, taken by getjob) */
  JQ_EVENT_CHANGED_ELSEWHERE, /* another server changed the shared
                               * queue: what a job became may have
                               * changed (@number 0) */
} JqEventKind;

typedef struct {
  JqEventKind        kind;
  guint64            number;       /* the job's; 0 for CHANGED_ELSEWHERE */
  JqJob             *job;          /* borrowed; NULL for GONE and
                                    * CHANGED_ELSEWHERE */
  gint64             started_us;
  const JqFinished  *result;
  const char        *start_error;
  guint              waiting;      /* jobs waiting at that moment */
  gboolean           paused;
} JqEvent;

typedef void (*JqObserver) (const JqEvent *event, gpointer user_data);

typedef struct _JqEvents JqEvents;

JqEvents *jq_events_new (void);
void jq_events_free (JqEvents *events);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqEvents, jq_events_free)

/* @observer hears every event from now on, after those subscribed
 * before it.  Returns an id for jq_events_unsubscribe (never 0). */
guint jq_events_subscribe (JqEvents *events, JqObserver observer,
                           gpointer user_data);

/* Not from inside an observer. */
void jq_events_unsubscribe (JqEvents *events, guint id);

/* Tells every observer, in the order they subscribed. */
void jq_events_emit (JqEvents *events, const JqEvent *event);
