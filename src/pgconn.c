/* What the PostgreSQL store and the cluster's lease both do with a libpq
 * connection (pgconn.h). */
#include "pgconn.h"

#include <errno.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

/* A reconnect at most this often while the database is away. */
#define RECONNECT_US (1 * G_USEC_PER_SEC)

static void
ignore_notice (void *arg, const char *message)
{
}

void
jq_pgconn_quiet (PGconn *conn)
{
  PQsetNoticeProcessor (conn, ignore_notice, NULL);
}

/* Connections dropped for want of an answer in time (PGconn* -> the
 * deadline in ms), until they are reset: their error is ours, not the
 * "server closed the connection" libpq reads after the drop.  Main loop
 * thread only. */
static GHashTable *dropped;

void
jq_pgconn_forget (PGconn *conn)
{
  if (dropped != NULL)
    g_hash_table_remove (dropped, conn);
}

char *
jq_pgconn_error_text (PGconn *conn, PGresult *r)
{
  const char *m = r != NULL ? PQresultErrorMessage (r) : NULL;
  gpointer ms;
  if ((m == NULL || m[0] == '\0') && dropped != NULL
      && g_hash_table_lookup_extended (dropped, conn, NULL, &ms))
    return g_strdup_printf ("no answer from the database within %u ms; the "
                            "connection was dropped",
                            GPOINTER_TO_UINT (ms));
  if (m == NULL || m[0] == '\0')
    m = PQerrorMessage (conn);
  return g_strchomp (g_strdup (m && m[0] ? m : "unknown error"));
}

char *
jq_pgconn_describe (const char *dsn)
{
  char *message = NULL;
  PQconninfoOption *opts = PQconninfoParse (dsn, &message);
  if (opts == NULL)
    {
      PQfreemem (message);
      return g_strdup ("PostgreSQL (connection string not readable)");
    }
  GString *out = g_string_new ("PostgreSQL");
  static const char *const shown[] = { "host", "hostaddr", "port", "dbname",
                                       "user" };
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
    for (gsize i = 0; i < G_N_ELEMENTS (shown); i++)
      if (o->val != NULL && o->val[0] != '\0'
          && strcmp (o->keyword, shown[i]) == 0)
        g_string_append_printf (out, " %s=%s", o->keyword, o->val);
  PQconninfoFree (opts);
  return g_string_free (out, FALSE);
}

PGconn *
jq_pgconn_connect (const char *dsn, const char *application, guint lease_ms)
{
  /* Ours first, the connection string last: what it sets wins (libpq
   * processes the keywords in order).  A silent network must not hold
   * the main loop for long: keepalives and tcp_user_timeout end a dead
   * TCP connection within about a quarter lease (doc/durability.md). */
  g_autofree char *user_timeout = g_strdup_printf ("%u",
                                                   MAX (lease_ms / 4, 250));
  const char *const keys[] = { "connect_timeout", "application_name",
                               "keepalives_idle", "keepalives_interval",
                               "keepalives_count", "tcp_user_timeout",
                               "dbname", NULL };
  const char *const values[] = { "2", application, "1", "1", "2",
                                 user_timeout, dsn, NULL };
  PGconn *conn = PQconnectdbParams (keys, values, 1);
  if (conn != NULL)
    jq_pgconn_quiet (conn);
  return conn;
}

/* Waits until the socket is readable (or writable, with @writing), at
 * most until @deadline_us; FALSE once that has passed. */
static gboolean
wait_socket (PGconn *conn, gboolean writing, gint64 deadline_us)
{
  gint64 left_us = deadline_us - g_get_monotonic_time ();
  if (left_us <= 0)
    return FALSE;
  struct pollfd fd = { .fd = PQsocket (conn),
                       .events = POLLIN | (writing ? POLLOUT : 0) };
  int n = poll (&fd, 1, (int) MIN ((left_us + 999) / 1000, G_MAXINT));
  return n != 0 || g_get_monotonic_time () < deadline_us;
}

/* The database did not answer in time: the connection goes (the server
 * ends the session, and with it any lock it held, when it notices). */
static void
drop (PGconn *conn, guint deadline_ms)
{
  if (dropped == NULL)
    dropped = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (dropped, conn, GUINT_TO_POINTER (deadline_ms));
  shutdown (PQsocket (conn), SHUT_RDWR);
  PQconsumeInput (conn);            /* reads the end: CONNECTION_BAD */
}

/* Sends the query, and all of it (a task may be 64 KiB). */
static gboolean
send_query (PGconn *conn, const char *sql, int n, const char *const *values,
            const int *lengths, const int *formats, gint64 deadline_us)
{
  if (PQisnonblocking (conn) == 0 && PQsetnonblocking (conn, 1) != 0)
    return FALSE;
  if (!(n == 0 && values == NULL
        ? PQsendQuery (conn, sql)
        : PQsendQueryParams (conn, sql, n, NULL, values, lengths, formats,
                             0)))
    return FALSE;
  int pending;
  while ((pending = PQflush (conn)) == 1)
    if (!wait_socket (conn, TRUE, deadline_us) || !PQconsumeInput (conn))
      return FALSE;
  return pending == 0;
}

PGresult *
jq_pgconn_exec (PGconn *conn, const char *sql, int n,
                const char *const *values, const int *lengths,
                const int *formats, guint deadline_ms)
{
  if (PQstatus (conn) != CONNECTION_OK)
    return NULL;
  gint64 deadline_us = g_get_monotonic_time ()
                       + (gint64) deadline_ms * 1000;
  if (!send_query (conn, sql, n, values, lengths, formats, deadline_us))
    {
      if (PQstatus (conn) == CONNECTION_OK)
        drop (conn, deadline_ms);
      return NULL;
    }
  PGresult *last = NULL;
  for (;;)
    {
      while (PQisBusy (conn))
        if (!wait_socket (conn, FALSE, deadline_us)
            || !PQconsumeInput (conn))
          {
            PQclear (last);
            if (PQstatus (conn) == CONNECTION_OK)
              drop (conn, deadline_ms);
            return NULL;
          }
      PGresult *r = PQgetResult (conn);
      if (r == NULL)
        return last;
      /* After an error the server runs nothing more of the string. */
      PQclear (last);
      last = r;
    }
}

JqPgBudget
jq_pgconn_budget (guint lease_ms, gboolean lease_connection)
{
  guint statement = MAX (lease_ms / (lease_connection ? 8 : 4), 50);
  return (JqPgBudget) {
    .statement_ms = statement,
    .idle_ms = MAX (lease_ms / 4, 50),
    .deadline_ms = statement + MAX (lease_ms / 16, 25),
  };
}

gboolean
jq_pgconn_apply_budget (PGconn *conn, const JqPgBudget *budget,
                        const char *then)
{
  g_autofree char *sql = g_strdup_printf (
      "SET statement_timeout = %u; SET lock_timeout = %u; "
      "SET idle_in_transaction_session_timeout = %u; "
      "SET client_min_messages = warning%s%s", budget->statement_ms,
      budget->statement_ms, budget->idle_ms, then != NULL ? "; " : "",
      then != NULL ? then : "");
  PGresult *r = jq_pgconn_exec (conn, sql, 0, NULL, NULL, NULL,
                                budget->deadline_ms);
  gboolean ok = PQresultStatus (r) == PGRES_COMMAND_OK;
  PQclear (r);
  return ok;
}

void
jq_pgconn_check (PGconn *conn, JqPgLink *link)
{
  if (PQstatus (conn) == CONNECTION_OK || link->down)
    return;
  link->down = TRUE;
  link->down_since_us = g_get_monotonic_time ();
  link->last_attempt_us = link->down_since_us;
  link->say (link, FALSE, link->data);
}

/* Drives the handshake one step: what libpq can do without waiting,
 * then a watch for what it waits for (its socket may change between
 * steps: a new one per address tried), or the attempt's end. */
static gboolean on_connect_io (gint fd, GIOCondition condition,
                               gpointer data);

static void
connect_step (JqPgLink *link, PostgresPollingStatusType st)
{
  PGconn *conn = link->connecting;
  if (st == PGRES_POLLING_OK)
    link->handshaken = TRUE;
  if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED)
    {
      link->connecting = NULL;
      return;
    }
  if (g_get_monotonic_time () >= link->connect_deadline_us)
    {
      /* Given up: the next attempt's PQresetStart closes the socket. */
      if (dropped == NULL)
        dropped = g_hash_table_new (NULL, NULL);
      g_hash_table_insert (dropped, conn,
                           GUINT_TO_POINTER (JQ_PGCONN_CONNECT_MS));
      shutdown (PQsocket (conn), SHUT_RDWR);
      link->connecting = NULL;
      return;
    }
  link->connect_reading = st == PGRES_POLLING_READING;
  GSource *source = g_unix_fd_source_new (
      PQsocket (conn), (link->connect_reading ? G_IO_IN : G_IO_OUT)
                       | G_IO_ERR | G_IO_HUP);
  g_source_set_ready_time (source, link->connect_deadline_us);
  g_source_set_callback (source, G_SOURCE_FUNC (on_connect_io), link, NULL);
  link->connect_watch = g_source_attach (source, NULL);
  g_source_unref (source);
}

static gboolean
on_connect_io (gint fd, GIOCondition condition, gpointer data)
{
  JqPgLink *link = data;
  link->connect_watch = 0;
  /* On the deadline alone (nothing ready) libpq is not asked: it would
   * find nothing to read and say so, while the attempt just ends. */
  connect_step (link, condition != 0 ? PQresetPoll (link->connecting)
                                     : PGRES_POLLING_READING);
  return G_SOURCE_REMOVE;
}

void
jq_pgconn_unlink (JqPgLink *link)
{
  g_clear_handle_id (&link->connect_watch, g_source_remove);
  link->connecting = NULL;
  link->handshaken = FALSE;
}

/* The handshake is done: the session's settings, and the news. */
static gboolean
finish (PGconn *conn, JqPgLink *link)
{
  if (PQstatus (conn) != CONNECTION_OK)
    {
      link->handshaken = FALSE;
      return FALSE;
    }
  jq_pgconn_quiet (conn);
  if (link->setup != NULL && !link->setup (conn, link->data))
    {
      link->handshaken = PQstatus (conn) == CONNECTION_OK;
      return FALSE;
    }
  link->handshaken = FALSE;
  link->down = FALSE;
  link->say (link, TRUE, link->data);
  return TRUE;
}

/* Drives the handshake here, at most until @until_us (monotonic), in
 * place of its watch. */
static void
connect_here (JqPgLink *link, gint64 until_us)
{
  while (link->connecting != NULL)
    {
      gint64 left_us = MIN (until_us, link->connect_deadline_us)
                       - g_get_monotonic_time ();
      if (until_us - g_get_monotonic_time () <= 0)
        return;
      struct pollfd fd = { .fd = PQsocket (link->connecting),
                           .events = link->connect_reading ? POLLIN
                                                           : POLLOUT };
      int n = poll (&fd, 1, (int) MAX ((left_us + 999) / 1000, 0));
      if (n == 0 && g_get_monotonic_time () < link->connect_deadline_us)
        continue;
      g_clear_handle_id (&link->connect_watch, g_source_remove);
      connect_step (link, n != 0 ? PQresetPoll (link->connecting)
                                 : PGRES_POLLING_READING);
    }
}

gboolean
jq_pgconn_ensure (PGconn *conn, JqPgLink *link, guint wait_ms)
{
  gint64 now = g_get_monotonic_time ();
  if (link->connecting != NULL && wait_ms > 0)
    connect_here (link, now + (gint64) wait_ms * 1000);
  if (link->handshaken)
    return finish (conn, link);
  if (link->connecting != NULL)
    return FALSE;
  if (PQstatus (conn) == CONNECTION_OK)
    return TRUE;
  jq_pgconn_check (conn, link);
  if (now - link->last_attempt_us < RECONNECT_US)
    return FALSE;
  link->last_attempt_us = now;
  jq_pgconn_forget (conn);
  if (!PQresetStart (conn))
    return FALSE;
  link->connecting = conn;
  link->connect_deadline_us = now + (gint64) JQ_PGCONN_CONNECT_MS * 1000;
  /* libpq's rule: before the first PQresetPoll, wait as if it had said
   * "writing". */
  connect_step (link, PGRES_POLLING_WRITING);
  if (wait_ms > 0)
    connect_here (link, now + (gint64) wait_ms * 1000);
  return link->handshaken && finish (conn, link);
}
