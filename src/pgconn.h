/* What the PostgreSQL journal and the cluster's lease both do with a
 * libpq connection.  Built only with libpq. */
#pragma once

#include <glib.h>
#include <libpq-fe.h>

/* Keeps the server's notices ("relation already exists, skipping" and
 * the like) out of standard error: they are not for the log. */
void jq_pgconn_quiet (PGconn *conn);

/* The error of @r (nullable), else of @conn, without its trailing
 * newline; "unknown error" when neither has one.  Free with g_free. */
char *jq_pgconn_error_text (PGconn *conn, PGresult *r);
