/* Leadership of a cluster of servers sharing one PostgreSQL journal:
 * exactly one of them launches jobs, the others take over when its lease
 * runs out.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "journal.h"
#include "log.h"
#include "scheduler.h"

typedef struct _JqCluster JqCluster;

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
 * every eighth of @lease_ms, LISTEN for other servers' writes.  Sets the
 * scheduler's launch gate: it launches only while this server holds a
 * lease renewed less than half a lease ago and has taken over (read the
 * queue, queued again what was running; tried until done).  Nothing
 * runs until
 * jq_cluster_start().  NULL and @error when the database cannot be
 * reached (or in a build without libpq). */
JqCluster *jq_cluster_new (const char *dsn, const char *member,
                           guint lease_ms, JqJournal *journal,
                           JqScheduler *scheduler, JqLog *log,
                           GError **error);

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
