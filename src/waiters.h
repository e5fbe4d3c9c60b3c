/* The wait() callers: each blocks on its own job and is woken, through
 * the job events (events.h), when that job ends, cannot start or leaves
 * the queue, and when another server changed the shared queue (then
 * every caller looks again).  Callers block on the HTTP server's threads;
 * the loop thread wakes them. */
#pragma once

#include <glib.h>

#include "events.h"

typedef struct _JqWaiters JqWaiters;
typedef struct _JqWaiter JqWaiter;

/* Subscribes to @events (borrowed; outlives the object).  Loop thread. */
JqWaiters *jq_waiters_new (JqEvents *events);

/* At most @max callers block at once; beyond them jq_waiter_block()
 * answers JQ_WAIT_NO_ROOM at once.  Without this call any number may
 * block. */
void jq_waiters_set_max_blocked (JqWaiters *w, guint max);

/* Callers blocking now wake (JQ_WAIT_STOPPED), and later ones do not
 * block.  Any thread. */
void jq_waiters_stop (JqWaiters *w);

/* Unsubscribes and frees; no caller may be watching.  Loop thread. */
void jq_waiters_free (JqWaiters *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqWaiters, jq_waiters_free)

/* Starts watching job @number, before its state is looked at: an event
 * between that look and jq_waiter_block() is not missed.  Any thread. */
JqWaiter *jq_waiter_watch (JqWaiters *w, guint64 number);

typedef enum {
  JQ_WAIT_WOKEN,      /* an event for the job (or for every job): look
                       * again */
  JQ_WAIT_TIMED_OUT,  /* @deadline passed */
  JQ_WAIT_STOPPED,    /* jq_waiters_stop() */
  JQ_WAIT_NO_ROOM,    /* the most callers that may block already do */
} JqWaitEnd;

/* Blocks until an event for the watched job since the last look, until
 * @deadline (monotonic µs), or until the waiters stop.  The first call
 * takes one of the places for blocked callers and keeps it until
 * jq_waiter_unwatch(); returns JQ_WAIT_NO_ROOM when there is none. */
JqWaitEnd jq_waiter_block (JqWaiters *w, JqWaiter *waiter, gint64 deadline);

/* Stops watching, gives its place back, and frees @waiter. */
void jq_waiter_unwatch (JqWaiters *w, JqWaiter *waiter);
