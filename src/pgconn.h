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

/* PQexec (@n 0 and @values NULL: one or several statements) or
 * PQexecParams (one statement, as libpq takes them), but waiting for the
 * answer at most @deadline_ms by the monotonic clock, the socket polled
 * in non-blocking mode.  Returns the last result, as PQexec does, or
 * NULL when the connection is down or fails.  Past the deadline the
 * connection is dropped (its socket shut down: CONNECTION_BAD, and the
 * next jq_pgconn_ensure reconnects), and jq_pgconn_error_text then says
 * that the database did not answer in time: a database that is frozen,
 * or a network that went silent, never holds the caller longer.  Set
 * the session's statement_timeout below @deadline_ms, so that a merely
 * slow statement is cancelled by the server and the connection kept. */
PGresult *jq_pgconn_exec (PGconn *conn, const char *sql, int n,
                          const char *const *values, const int *lengths,
                          const int *formats, guint deadline_ms);

/* Before PQfinish of a connection jq_pgconn_exec used. */
void jq_pgconn_forget (PGconn *conn);

/* The time budget of every statement, from the cluster's lease
 * (doc/durability.md, "Bounds"): the journal's statements, waits for
 * the queue's lock included, are cancelled by the server after a
 * quarter lease (statement_timeout, lock_timeout), a session idle in a
 * transaction that long is ended by the server (a member frozen while
 * it holds the queue's lock holds it no longer), and the client waits a
 * sixteenth of a lease more before it drops the connection; the lease's
 * own statements get an eighth, and the same sixteenth.  Either way the
 * main loop waits at most 5/16 of a lease on one statement, so the
 * leader's renewals (every eighth) stay well inside its half lease. */
typedef struct {
  guint statement_ms;   /* statement_timeout and lock_timeout */
  guint idle_ms;        /* idle_in_transaction_session_timeout */
  guint deadline_ms;    /* jq_pgconn_exec's: the client gives up */
} JqPgBudget;

JqPgBudget jq_pgconn_budget (guint lease_ms, gboolean lease_connection);

/* Sets @budget's bounds on a new session (and quiets notices), then runs
 * @then (nullable: nothing more) in the same round trip; FALSE when it
 * failed. */
gboolean jq_pgconn_apply_budget (PGconn *conn, const JqPgBudget *budget,
                                 const char *then);

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
  /* A reconnect under way, never waited for: libpq's handshake
   * (PQresetStart, PQresetPoll) is driven by a watch on its socket on
   * the default main context, within @connect_deadline_us. */
  PGconn   *connecting;      /* the connection being reset, or NULL */
  gboolean  handshaken;      /* its handshake is done; setup not yet */
  gboolean  connect_reading; /* what the handshake waits for */
  gint64    connect_deadline_us;
  guint     connect_watch;
};

/* Notices a lost connection: says it, once. */
void jq_pgconn_check (PGconn *conn, JqPgLink *link);

/* TRUE when @conn is up and set up.  Otherwise, at most once a second,
 * starts a reconnect, waits for it at most @wait_ms (0: not at all),
 * and returns FALSE unless it is done by then: the main loop finishes
 * its handshake (within JQ_PGCONN_CONNECT_MS) while it goes on with
 * everything else, and a later call, once the handshake is done, runs
 * the link's setup and returns TRUE (said).  The lease's connection
 * never waits; the journal's waits as long as one of its statements
 * may (its budget's deadline), so that the call that finds the
 * database back is not answered with a fault.  Only a host *name* in
 * the connection string is still looked up blocking (getaddrinfo,
 * within libpq): give addresses where a name server may be slow. */
gboolean jq_pgconn_ensure (PGconn *conn, JqPgLink *link, guint wait_ms);

/* How long one reconnect may take (the handshake). */
#define JQ_PGCONN_CONNECT_MS 2000

/* Ends a reconnect under way (before PQfinish of its connection). */
void jq_pgconn_unlink (JqPgLink *link);

/* pg_advisory_xact_lock (JQ_PG_LOCK_CLASS, ...): "Bots", then what is
 * locked: the creation of tables (by the store, and by the cluster for
 * its own), or the queue (each transaction of the store). */
#define JQ_PG_LOCK_CLASS  "1114599283"
#define JQ_PG_LOCK_SCHEMA "0"
#define JQ_PG_LOCK_QUEUE  "1"

/* The NOTIFY channel a writing transaction of the store signals on, with
 * the writer's member name; the cluster LISTENs. */
#define JQ_PG_CHANNEL "bots_jobqueue"
