/* Leadership of a cluster of servers sharing one PostgreSQL journal:
 * exactly one of them launches jobs, the others take over when its lease
 * runs out.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "journal.h"
#include "log.h"

typedef struct _JqCluster JqCluster;

/* What the cluster asks of the server's scheduler, its only way to it:
 * the moves of a lead, its end, and wake-ups (server.c wires the
 * scheduler in; cluster.c knows no scheduler).  The scheduler asks the
 * cluster back through its launch gate, jq_cluster_may_launch().  Every
 * one is called on the loop. */
typedef struct {
  /* This server has won the lease: read the whole queue again, queue
   * again first of its priority each job recorded as running
   * (jq_scheduler_lead).  FALSE and @error when the journal fails. */
  gboolean (*lead) (gpointer launcher, GError **error);
  /* The leader, every half lease: requeue the rows recorded as running
   * that no server runs (jq_scheduler_requeue_strays). */
  gboolean (*requeue_strays) (gpointer launcher, GError **error);
  /* This server lost the lead: end its running jobs, recording nothing
   * of them (jq_scheduler_yield). */
  void     (*yield) (gpointer launcher);
  /* The leader: start what can start, in a transaction of its own (a
   * take-over done, another server's write heard, a heartbeat). */
  void     (*wake) (gpointer launcher);
  /* Another server wrote to the shared queue (its NOTIFY). */
  void     (*changed_elsewhere) (gpointer launcher);
  /* How many jobs this server runs. */
  guint    (*running) (gpointer launcher);
} JqClusterLauncher;

/* One server of the cluster as status shows it. */
typedef struct {
  char    *name;
  gint64   heartbeat_us;   /* wall clock of its last heartbeat */
  gboolean leader;
} JqClusterMember;

typedef struct {
  char      *member;       /* this server's name */
  char      *leader;       /* NULL when no lease is held */
  gint64     term;         /* the leader's term; increases with each lead */
  gboolean   leading;      /* this server launches */
  guint      lease_ms;
  GArray    *members;      /* JqClusterMember, by name */
} JqClusterInfo;

void jq_cluster_info_free (JqClusterInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqClusterInfo, jq_cluster_info_free)

/* Joins the cluster of @journal's database (@dsn, the same connection
 * string) as @member, with its own connection: a heartbeat and the lease
 * every eighth of @lease_ms, LISTEN for other servers' writes; its moves
 * go to @launcher (borrowed) with @launcher_data.  Nothing runs until
 * jq_cluster_start().  NULL and @error when the database cannot be
 * reached (or in a build without libpq). */
JqCluster *jq_cluster_new (const char *dsn, const char *member,
                           guint lease_ms, JqJournal *journal,
                           const JqClusterLauncher *launcher,
                           gpointer launcher_data, JqLog *log,
                           GError **error);

/* The scheduler's launch gate (a JqLaunchGate on @data, the cluster):
 * yes only while this server holds a lease renewed less than half a
 * lease ago, has taken over (read the queue, queued again what was
 * running; tried until done) and its journal is healthy. */
gboolean jq_cluster_may_launch (gpointer data);

/* Starts heartbeats and tries to lead at once. */
void jq_cluster_start (JqCluster *c);

/* A transaction of the journal failed.  When it started, ended or
 * requeued a job, a leader stops launching at once and ends its jobs;
 * what the database says is running runs again under the next leader
 * (which may be this server, once it can write again).  Otherwise, and
 * on a follower, nothing more is done: the queue is read again next
 * time. */
void jq_cluster_journal_failed (JqCluster *c);

/* What status shows (new). */
JqClusterInfo *jq_cluster_info (JqCluster *c);

/* Leaves the cluster: a leader hands its lease back, so that another
 * server leads at once instead of after the lease. */
void jq_cluster_free (JqCluster *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqCluster, jq_cluster_free)
