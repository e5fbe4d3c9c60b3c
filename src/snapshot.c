/* The server's state at one moment: see snapshot.h. */
#include "build-config.h"

#include "snapshot.h"

void
jq_snapshot_take (JqSnapshot *snap, JqScheduler *s, JqCluster *cluster,
                  gboolean jobs)
{
  jq_snapshot_clear (snap);
  snap->now_us = g_get_real_time ();
  if (jobs)
    {
      snap->pids = g_array_new (FALSE, FALSE, sizeof (GPid));
      snap->started_us = g_array_new (FALSE, FALSE, sizeof (gint64));
      snap->running = jq_scheduler_list_running (s, snap->pids,
                                                 snap->started_us);
    }
  snap->waiting = jq_scheduler_count_waiting (s);
  snap->running_here = jq_scheduler_get_running (s);
  snap->paused = jq_scheduler_get_paused (s);
  snap->totals = jq_scheduler_get_totals (s);
  snap->journal = jq_scheduler_is_durable (s);
  snap->cluster = jq_scheduler_is_shared (s) && cluster != NULL
                  ? jq_cluster_info (cluster) : NULL;
}

void
jq_snapshot_clear (JqSnapshot *snap)
{
  g_clear_pointer (&snap->running, g_ptr_array_unref);
  g_clear_pointer (&snap->pids, g_array_unref);
  g_clear_pointer (&snap->started_us, g_array_unref);
  g_clear_pointer (&snap->cluster, jq_cluster_info_free);
}

char *
jq_snapshot_line (const JqSnapshot *snap)
{
  GString *line = g_string_new (snap->paused ? "paused; " : "");
  if (snap->running->len == 0)
    g_string_append (line, "idle");
  for (guint i = 0; i < snap->running->len; i++)
    g_string_append_printf (line, "%s job %" G_GUINT64_FORMAT,
                            i == 0 ? "running" : ",",
                            jq_job_get_number (snap->running->pdata[i]));
  g_string_append_printf (line, ", %u waiting", snap->waiting);
  return g_string_free (line, FALSE);
}
