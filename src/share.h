/* Each user's share of the connections: when all are taken and another
 * caller waits, the connections a user holds beyond its share are ended,
 * its longest idle ones first, so that one user holding every connection
 * cannot keep cron's one bots-job2queue out.  Pure: rpc.c gathers the
 * connections and ends the ones marked. */
#pragma once

#include <glib.h>

/* Default of [jobqueue] user_connection_share: percent of the limit. */
#define JQ_SHARE_DEFAULT_PERCENT 50

typedef struct {
  guint32  uid;        /* the caller's; G_MAXUINT32 for unknown callers,
                        * who share one share */
  guint32  idle_ms;    /* since the connection last received data */
  int      fd;         /* for the caller; not read here */
  gboolean cut;        /* out: to be ended */
} JqShareConn;

/* Connections one user may hold of @max_conn at @percent: at least 1. */
guint jq_share_per_user (guint max_conn, guint percent);

/* Marks in @conns (@n of them, reordered) the connections to end so
 * that no uid holds more than @per_user: of each uid over it, its
 * longest idle ones.  Returns how many were marked; *@uid (nullable)
 * gets the uid that lost the most.  O(n log n). */
guint jq_share_plan (JqShareConn *conns, guint n, guint per_user,
                     guint32 *uid);
