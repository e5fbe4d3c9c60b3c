/* Housekeeping timers of a running server: see housekeeping.h. */
#include "build-config.h"  /* first: it says whether malloc_trim exists */

#include "housekeeping.h"

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

#include "notify.h"
#include "snapshot.h"

/* glibc keeps freed heap for reuse.  Once the server has been quiet for
 * this long after a burst of calls (or after start-up, which reads the
 * whole journal), it hands the free pages back: an idle server stays
 * small. */
#define TRIM_QUIET_SECONDS 10

struct _JqHousekeeping {
  JqScheduler *scheduler;
  JqDoor      *door;
  guint        status_id;    /* the service manager's status line timer */
  guint        watchdog_id;
  guint        trim_id;
  guint64      batches_at_trim;  /* door batches seen at the last tick */
  guint64      batches_trimmed;  /* door batches at the last trim */
  char        *last_status;
};

/* "running job 42, 3 waiting": what systemctl status shows. */
static char *
status_line (JqScheduler *s)
{
  JqSnapshot now = { 0 };
  jq_snapshot_take (&now, s, NULL, TRUE);
  char *line = jq_snapshot_line (&now);
  jq_snapshot_clear (&now);
  return line;
}

/* Once a second at most: cheap, and a queue taking thousands of calls a
 * second need not send thousands of datagrams. */
static gboolean
on_status_timer (gpointer data)
{
  JqHousekeeping *hk = data;
  g_autofree char *line = status_line (hk->scheduler);
  if (g_strcmp0 (line, hk->last_status) != 0)
    {
      jq_notify_status (line);
      g_free (hk->last_status);
      hk->last_status = g_steal_pointer (&line);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer data)
{
  jq_notify_watchdog ();
  return G_SOURCE_CONTINUE;
}

static void
trim_heap (void)
{
#ifdef HAVE_MALLOC_TRIM
  malloc_trim (0);
#endif
}

static gboolean
on_trim_timer (gpointer data)
{
  JqHousekeeping *hk = data;
  guint64 batches = jq_door_get_batches (hk->door);
  if (batches != hk->batches_at_trim)
    hk->batches_at_trim = batches;   /* busy: look again later */
  else if (batches != hk->batches_trimmed)
    {
      trim_heap ();
      hk->batches_trimmed = batches;
    }
  return G_SOURCE_CONTINUE;
}

JqHousekeeping *
jq_housekeeping_start (JqScheduler *scheduler, JqDoor *door)
{
  JqHousekeeping *hk = g_new0 (JqHousekeeping, 1);
  hk->scheduler = scheduler;
  hk->door = door;
  hk->last_status = status_line (scheduler);
  jq_notify_ready (hk->last_status);
  if (g_getenv ("NOTIFY_SOCKET") != NULL && jq_notify_supported ())
    hk->status_id = g_timeout_add_seconds (1, on_status_timer, hk);
  guint64 watchdog = jq_notify_watchdog_interval ();
  if (watchdog > 0)
    hk->watchdog_id = g_timeout_add (MAX (watchdog / 2000, 1), on_watchdog,
                                     hk);
  trim_heap ();
  hk->trim_id = g_timeout_add_seconds (TRIM_QUIET_SECONDS, on_trim_timer,
                                       hk);
  return hk;
}

void
jq_housekeeping_free (JqHousekeeping *hk)
{
  if (hk == NULL)
    return;
  g_clear_handle_id (&hk->status_id, g_source_remove);
  g_clear_handle_id (&hk->watchdog_id, g_source_remove);
  g_clear_handle_id (&hk->trim_id, g_source_remove);
  g_free (hk->last_status);
  g_free (hk);
}
