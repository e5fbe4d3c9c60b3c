/* One stream of job events.
 *
 * Before, the scheduler called each listener by a hook of its own (an
 * ended hook for wait(), an observer for the status page and the
 * metrics, a cache for itself), and each hook heard a different set of
 * moments.  Here every listener hears every event, in the order it
 * subscribed: the history first (the scheduler's own), so that a
 * listener woken by an end already finds it there. */
#include "events.h"

typedef struct {
  guint      id;
  JqObserver observer;
  gpointer   user_data;
} Subscriber;

struct _JqEvents {
  GArray *subscribers;     /* Subscriber, in subscription order */
  guint   last_id;
};

JqEvents *
jq_events_new (void)
{
  JqEvents *events = g_new0 (JqEvents, 1);
  events->subscribers = g_array_new (FALSE, FALSE, sizeof (Subscriber));
  return events;
}

void
jq_events_free (JqEvents *events)
{
  if (events == NULL)
    return;
  g_array_unref (events->subscribers);
  g_free (events);
}

guint
jq_events_subscribe (JqEvents *events, JqObserver observer,
                     gpointer user_data)
{
  Subscriber s = { ++events->last_id, observer, user_data };
  g_array_append_val (events->subscribers, s);
  return s.id;
}

void
jq_events_unsubscribe (JqEvents *events, guint id)
{
  for (guint i = 0; i < events->subscribers->len; i++)
    if (g_array_index (events->subscribers, Subscriber, i).id == id)
      {
        g_array_remove_index (events->subscribers, i);
        return;
      }
}

void
jq_events_emit (JqEvents *events, const JqEvent *event)
{
  for (guint i = 0; i < events->subscribers->len; i++)
    {
      const Subscriber *s = &g_array_index (events->subscribers, Subscriber,
                                            i);
      s->observer (event, s->user_data);
    }
}
