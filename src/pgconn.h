/* What the PostgreSQL store and the cluster's lease both do with a libpq
 * connection: connect with the lease's time-outs, describe it without
 * its password, notice its loss once, and reconnect at most once a
 * second.  Built only with libpq. */
#pragma once

#include <glib.h>
#include <libpq-fe.h>

/* A connection to @dsn (a libpq connection string) as @application, with
 * time-outs that suit a lease of @lease_ms: connect within 2 s, a silent
 * TCP peer given up after a quarter lease.  What @dsn sets itself wins.
 * Never NULL (check PQstatus). */
PGconn *jq_pgconn_connect (const char *dsn, const char *application,
                           guint lease_ms);

/* @dsn for the log and status: host, port, dbname and user only, never a
 * password.  Never NULL. */
char *jq_pgconn_describe (const char *dsn);

/* Keeps the server's notices ("relation already exists, skipping" and
 * the like) out of standard error: they are not for the log. */
void jq_pgconn_quiet (PGconn *conn);

/* The error of @r (nullable), else of @conn, without its trailing
 * newline; "unknown error" when neither has one.  Free with g_free. */
char *jq_pgconn_error_text (PGconn *conn, PGresult *r);

/* Settings of a new session (nullable); FALSE when they failed. */
typedef gboolean (*JqPgSetup) (PGconn *conn, gpointer data);

/* Said once when the connection is found lost (@back FALSE), and once
 * when it is back (@back TRUE; *@link says since when it was down). */
typedef struct _JqPgLink JqPgLink;
typedef void (*JqPgSay) (const JqPgLink *link, gboolean back,
                         gpointer data);

/* One connection's link: what its owner does on a new session and says
 * of its state, and the state.  Set the first three, zero the rest. */
struct _JqPgLink {
  JqPgSetup setup;
  JqPgSay   say;
  gpointer  data;
  gboolean  down;            /* lost, and said so */
  gint64    down_since_us;   /* monotonic */
  gint64    last_attempt_us; /* monotonic: the last reconnect tried */
};

/* Notices a lost connection: says it, once. */
void jq_pgconn_check (PGconn *conn, JqPgLink *link);

/* TRUE when @conn is up.  Otherwise, at most once a second, resets it and
 * runs the link's setup: TRUE when both succeed (and said). */
gboolean jq_pgconn_ensure (PGconn *conn, JqPgLink *link);

/* pg_advisory_xact_lock (JQ_PG_LOCK_CLASS, ...): "Bots", then what is
 * locked: the creation of tables (by the store, and by the cluster for
 * its own), or the queue (each transaction of the store). */
#define JQ_PG_LOCK_CLASS  "1114599283"
#define JQ_PG_LOCK_SCHEMA "0"
#define JQ_PG_LOCK_QUEUE  "1"

/* The NOTIFY channel a writing transaction of the store signals on, with
 * the writer's member name; the cluster LISTENs. */
#define JQ_PG_CHANNEL "bots_jobqueue"
