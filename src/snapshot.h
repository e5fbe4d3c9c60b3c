/* The server's state at one moment, taken once on the loop thread: what
 * status() (methods.c), status.json and the metrics' gauges (status.c)
 * and the service manager's status line (housekeeping.c) show.  Each
 * formats it; none gathers it on its own, so they cannot disagree. */
#pragma once

#include <glib.h>

#include "cluster.h"
#include "scheduler.h"

typedef struct {
  gint64         now_us;       /* wall clock when taken */
  guint          waiting;
  guint          running_here; /* jobs this server's runner holds, adopted
                                * ones included (the metrics' gauge) */
  gboolean       paused;
  gboolean       journal;      /* the queue is kept on disk */
  JqTotals       totals;       /* since_us: the server's start */
  GPtrArray     *running;      /* JqJob refs, in start order */
  GArray        *pids;         /* GPid, one per running job */
  GArray        *started_us;   /* gint64, one per running job */
  JqClusterInfo *cluster;      /* NULL: not in a cluster */
} JqSnapshot;

/* Fills @snap from @scheduler and, when its queue is shared, @cluster
 * (nullable).  Without @jobs only the counts: running, pids and
 * started_us stay NULL (a follower of a shared queue reads the running
 * jobs from the database).  Loop thread. */
void jq_snapshot_take (JqSnapshot *snap, JqScheduler *scheduler,
                       JqCluster *cluster, gboolean jobs);

/* Frees what @snap holds; it may be taken again. */
void jq_snapshot_clear (JqSnapshot *snap);

/* "running job 42, 3 waiting", "paused; idle, 0 waiting": the service
 * manager's status line, of a snapshot taken with its jobs. */
char *jq_snapshot_line (const JqSnapshot *snap);
