/* The journal in a PostgreSQL database, shared by every server of a
 * cluster (doc/durability.md, "Several hosts").  Main loop thread only. */
#pragma once

#include <glib.h>

#include "journal.h"
#include "log.h"

/* The schema version this program writes (row schema_version of
 * bots_jobqueue.meta).  Bump it with every change of the tables. */
#define JQ_PGJOURNAL_VERSION 1

/* The NOTIFY channel a writing transaction signals on. */
#define JQ_PGJOURNAL_CHANNEL "bots_jobqueue"

/* Connects to @dsn (a libpq connection string), creates the schema
 * bots_jobqueue and its tables when missing, and returns a journal whose
 * calls run there.  Every transaction holds a transaction-level advisory
 * lock, so the servers of a cluster judge addjob one after the other on
 * the same waiting set; a transaction that wrote tells the others with a
 * NOTIFY whose payload is @member.  Later connection losses are not
 * errors of the open: calls then fail (their batch is answered with a
 * fault), the log says so once, and the next call after a second
 * reconnects.  Returns NULL and sets @error (JQ_ERROR_JOURNAL) when the
 * database cannot be reached at start or holds a newer schema, or (a
 * build without libpq) always. */
/* @lease_ms: the cluster's lease, for the connection's time-outs. */
JqJournal *jq_pgjournal_open (const char *dsn, const char *member,
                              guint lease_ms, JqLog *log, GError **error);

/* A connection to @dsn (libpq's PGconn, an opaque pointer here so that
 * this header needs no libpq) as @application, with time-outs that suit a
 * lease of @lease_ms: connect within 2 s, a silent TCP peer given up after
 * a quarter lease.  What @dsn sets itself wins. */
typedef struct pg_conn PGconn;
PGconn *jq_pgjournal_connect (const char *dsn, const char *application,
                              guint lease_ms);

/* @dsn for the log and status: host, port, dbname and user only, never a
 * password.  Never NULL. */
char *jq_pgjournal_describe_dsn (const char *dsn);

/* FALSE while the current transaction has failed or the database is
 * unreachable: nothing may be launched on the strength of it. */
gboolean jq_pgjournal_is_healthy (JqJournal *journal);

/* Whether the last failed transaction started, ended or requeued a job
 * (what only the leader writes): the database then does not know what
 * runs.  Adds, priorities and removals that failed need nothing more than
 * their fault. */
gboolean jq_pgjournal_lost_a_move (JqJournal *journal);
