/* What the PostgreSQL journal and the cluster's lease both do with a
 * libpq connection. */
#include "pgconn.h"

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
