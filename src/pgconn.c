/* What the PostgreSQL store and the cluster's lease both do with a libpq
 * connection (pgconn.h). */
#include "pgconn.h"

#include <string.h>

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

char *
jq_pgconn_error_text (PGconn *conn, PGresult *r)
{
  const char *m = r != NULL ? PQresultErrorMessage (r) : NULL;
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

gboolean
jq_pgconn_ensure (PGconn *conn, JqPgLink *link)
{
  if (PQstatus (conn) == CONNECTION_OK)
    return TRUE;
  jq_pgconn_check (conn, link);
  gint64 now = g_get_monotonic_time ();
  if (now - link->last_attempt_us < RECONNECT_US)
    return FALSE;
  link->last_attempt_us = now;
  PQreset (conn);
  jq_pgconn_quiet (conn);
  if (PQstatus (conn) != CONNECTION_OK
      || (link->setup != NULL && !link->setup (conn, link->data)))
    return FALSE;
  link->down = FALSE;
  link->say (link, TRUE, link->data);
  return TRUE;
}
