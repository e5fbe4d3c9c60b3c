/* The wait() callers: see waiters.h.
 *
 * Before, one condition variable was broadcast at every end: with a
 * thousand wait() calls blocked, each end woke all of them, and each went
 * through the door to look at its job again.  Here the callers are filed
 * by job number and an event wakes only the callers of its job, each on
 * a condition variable of its own; "changed elsewhere" (a shared queue)
 * wakes every caller, since any job may have changed. */
#include "waiters.h"

struct _JqWaiter {
  guint64  number;
  GCond    cond;
  guint64  events;    /* events for the job since the watch */
  guint64  seen;      /* events at the last jq_waiter_block() */
  gboolean holding;   /* holds a place for blocked callers */
};

struct _JqWaiters {
  JqEvents   *events;
  guint       subscription;
  GMutex      lock;          /* guards everything below */
  GHashTable *by_job;        /* number -> GPtrArray of JqWaiter */
  gboolean    stopping;
  gint        max_blocked;   /* -1: any number */
  guint       blocked;       /* places taken */
};

static void
wake (gpointer data, gpointer unused)
{
  JqWaiter *waiter = data;
  waiter->events++;
  g_cond_signal (&waiter->cond);
}

static void
wake_all (JqWaiters *w)
{
  GHashTableIter iter;
  gpointer list;
  g_hash_table_iter_init (&iter, w->by_job);
  while (g_hash_table_iter_next (&iter, NULL, &list))
    g_ptr_array_foreach (list, wake, NULL);
}

/* On the loop thread: a job ended, could not start or left the queue,
 * or another server changed the queue. */
static void
on_event (const JqEvent *event, gpointer user_data)
{
  JqWaiters *w = user_data;
  if (event->kind == JQ_EVENT_STARTED)
    return;
  g_mutex_lock (&w->lock);
  if (event->kind == JQ_EVENT_CHANGED_ELSEWHERE)
    wake_all (w);
  else
    {
      GPtrArray *list = g_hash_table_lookup (w->by_job, &event->number);
      if (list != NULL)
        g_ptr_array_foreach (list, wake, NULL);
    }
  g_mutex_unlock (&w->lock);
}

JqWaiters *
jq_waiters_new (JqEvents *events)
{
  JqWaiters *w = g_new0 (JqWaiters, 1);
  w->events = events;
  g_mutex_init (&w->lock);
  w->by_job = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                     (GDestroyNotify) g_ptr_array_unref);
  w->max_blocked = -1;
  w->subscription = jq_events_subscribe (events, on_event, w);
  return w;
}

void
jq_waiters_set_max_blocked (JqWaiters *w, guint max)
{
  g_mutex_lock (&w->lock);
  w->max_blocked = (gint) MIN (max, (guint) G_MAXINT);
  g_mutex_unlock (&w->lock);
}

void
jq_waiters_stop (JqWaiters *w)
{
  g_mutex_lock (&w->lock);
  w->stopping = TRUE;
  wake_all (w);
  g_mutex_unlock (&w->lock);
}

void
jq_waiters_free (JqWaiters *w)
{
  if (w == NULL)
    return;
  jq_events_unsubscribe (w->events, w->subscription);
  g_hash_table_unref (w->by_job);
  g_mutex_clear (&w->lock);
  g_free (w);
}

JqWaiter *
jq_waiter_watch (JqWaiters *w, guint64 number)
{
  JqWaiter *waiter = g_new0 (JqWaiter, 1);
  waiter->number = number;
  g_cond_init (&waiter->cond);
  g_mutex_lock (&w->lock);
  GPtrArray *list = g_hash_table_lookup (w->by_job, &number);
  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (w->by_job, g_memdup2 (&number, sizeof number),
                           list);
    }
  g_ptr_array_add (list, waiter);
  g_mutex_unlock (&w->lock);
  return waiter;
}

JqWaitEnd
jq_waiter_block (JqWaiters *w, JqWaiter *waiter, gint64 deadline)
{
  JqWaitEnd end = JQ_WAIT_WOKEN;
  g_mutex_lock (&w->lock);
  /* Each blocked call holds a connection: beyond the bound the answer is
   * the state now, so that waiters can never take every connection from
   * addjob (doc/admin-api.md). */
  if (!waiter->holding && w->max_blocked >= 0
      && w->blocked >= (guint) w->max_blocked)
    end = JQ_WAIT_NO_ROOM;
  else if (!waiter->holding)
    {
      w->blocked++;
      waiter->holding = TRUE;
    }
  while (end == JQ_WAIT_WOKEN && waiter->events == waiter->seen
         && !w->stopping)
    if (!g_cond_wait_until (&waiter->cond, &w->lock, deadline))
      end = JQ_WAIT_TIMED_OUT;
  if (end == JQ_WAIT_WOKEN && w->stopping)
    end = JQ_WAIT_STOPPED;
  waiter->seen = waiter->events;
  g_mutex_unlock (&w->lock);
  return end;
}

void
jq_waiter_unwatch (JqWaiters *w, JqWaiter *waiter)
{
  g_mutex_lock (&w->lock);
  if (waiter->holding)
    w->blocked--;
  GPtrArray *list = g_hash_table_lookup (w->by_job, &waiter->number);
  g_ptr_array_remove_fast (list, waiter);
  if (list->len == 0)
    g_hash_table_remove (w->by_job, &waiter->number);
  g_mutex_unlock (&w->lock);
  g_cond_clear (&waiter->cond);
  g_free (waiter);
}
