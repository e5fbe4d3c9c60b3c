/* File descriptors as a budget: how many connections the descriptor limit
 * pays for, once the server and its jobs have what they need.  Redis
 * derives its maxclients the same way. */
#pragma once

#include <glib.h>

/* Held for the whole run: stdin/out/err, the log, the lock file, the
 * journal (queue.db, its -wal and -shm, and room for SQLite's temporary
 * files), the listening socket, the eventfds of the door, of the HTTP
 * gate and of GLib's main context, the pipe of GLib's signal handling,
 * the service manager's socket, and a margin for what is opened for a
 * moment (/proc while recovering, error reports, a rotated log, the
 * gate's refused connections being read to their end: at most four). */
#define JQ_FDBUDGET_SERVER 32
/* Per job that may run at once: its stdout and stderr pipes (both ends
 * while it runs: runner.c keeps the write ends), the pidfd of GLib's
 * child watch, a spare. */
#define JQ_FDBUDGET_PER_JOB 6

typedef struct {
  guint64 limit;        /* the soft RLIMIT_NOFILE now */
  guint64 was;          /* the soft limit the process was started with */
  guint64 reserve;      /* kept for the server, its jobs and the
                         * status-only port's connections */
  guint   connections;  /* served at once */
  guint   other_connections; /* of the status-only port, at once */
} JqFdBudget;

/* Pure: the budget of @limit descriptors for @nr_threads jobs at once,
 * up to @other_conn connections of other ports (the status-only port's;
 * 0 without one) and the XML-RPC port's, connections costing @per_conn
 * each.  The other ports get at most a quarter of what the server and
 * its jobs leave (a low limit must not go to browsers and scrapers: an
 * outside test held all 64 of the status port's under a limit of 128,
 * and the XML-RPC port's clients were reset); each port at least 1
 * connection, the XML-RPC port at most @max_conn. */
JqFdBudget jq_fdbudget_plan (guint64 limit, guint64 was, guint nr_threads,
                             guint other_conn, guint per_conn,
                             guint max_conn);

/* Raises the soft limit to the hard one (when the kernel allows it) and
 * plans with what it then is. */
JqFdBudget jq_fdbudget_take (guint nr_threads, guint other_conn,
                             guint per_conn, guint max_conn);
