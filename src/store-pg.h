/* The PostgreSQL store: the journal in a database shared by every server
 * of a cluster (doc/durability.md, "Several hosts").  A peer of the other
 * stores (store.h); its one entry point is the open below, so that it
 * could be a module of its own.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "journal.h"
#include "log.h"

/* The schema version this program writes (row schema_version of
 * bots_jobqueue.meta).  Bump it with every change of the store's tables
 * (store-pg.c says how). */
#define JQ_STORE_PG_VERSION 2

/* Connects to @dsn (a libpq connection string), creates the schema
 * bots_jobqueue and the store's tables when missing (upgrading older
 * ones), and returns a journal whose calls run there.  Every transaction
 * holds a transaction-level advisory lock, so the servers of a cluster
 * judge addjob one after the other on the same waiting set; a
 * transaction that wrote tells the others with a NOTIFY whose payload is
 * @member.  Later connection losses are not errors of the open: calls
 * then fail (their batch is answered with a fault), the log (@log) says
 * so once, and the next call after a second reconnects.  @lease_ms: the
 * cluster's lease, for the connection's time-outs.  Returns NULL and
 * sets @error (JQ_ERROR_JOURNAL) when the database cannot be reached at
 * start or holds a newer schema, or (a build without libpq) always. */
JqJournal *jq_store_pg_open (const char *dsn, const char *member,
                             guint lease_ms, JqLog *log, GError **error);
