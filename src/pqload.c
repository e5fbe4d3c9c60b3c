/* libpq, loaded only when it is used.
 *
 * The server is not linked with libpq: libpq brings its TLS and Kerberos
 * libraries (libssl, libcrypto, libgssapi, libldap, gnutls, p11-kit...),
 * which the dynamic loader maps and relocates at every start, about 6 MB
 * resident and half a megabyte of the server's own dirty pages, even
 * when the journal is SQLite (issue 23).  Instead each libpq function the
 * PostgreSQL journal and the cluster call is defined here with libpq's
 * own prototype, and forwards to the real one, looked up with dlopen()
 * the first time any of them is called: only with journal = postgresql.
 *
 * When libpq cannot be loaded (the package was removed after the build),
 * the calls behave as libpq does for a connection that failed:
 * PQconnectdbParams() gives NULL, PQstatus(NULL) CONNECTION_BAD, and
 * PQerrorMessage() says why libpq could not be loaded, which the journal
 * reports as it reports any failure to connect. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include <dlfcn.h>
#include <glib.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* libpq's soname: 5 since PostgreSQL 8.2. */
#define LIBPQ_SONAME "libpq.so.5"

/* Every function used: return type, name, parameters, arguments, and the
 * answer when libpq is not there. */
#define JQ_PQ_FUNCTIONS(X) \
  X (char *, PQgetvalue, (const PGresult *res, int tup, int field), \
     (res, tup, field), NULL) \
  X (ConnStatusType, PQstatus, (const PGconn *conn), (conn), CONNECTION_BAD) \
  X (ExecStatusType, PQresultStatus, (const PGresult *res), (res), \
     PGRES_FATAL_ERROR) \
  X (PGresult *, PQexec, (PGconn *conn, const char *query), (conn, query), \
     NULL) \
  X (int, PQntuples, (const PGresult *res), (res), 0) \
  X (int, PQsocket, (const PGconn *conn), (conn), -1) \
  X (int, PQgetisnull, (const PGresult *res, int tup, int field), \
     (res, tup, field), 1) \
  X (PGresult *, PQexecParams, (PGconn *conn, const char *command, \
     int n, const Oid *types, const char *const *values, const int *lengths, \
     const int *formats, int result_format), (conn, command, n, types, \
     values, lengths, formats, result_format), NULL) \
  X (char *, PQcmdTuples, (PGresult *res), (res), NULL) \
  X (unsigned char *, PQunescapeBytea, (const unsigned char *text, \
     size_t *len), (text, len), NULL) \
  X (PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), \
     (conn), PQTRANS_UNKNOWN) \
  X (PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, \
     PQnoticeProcessor proc, void *arg), (conn, proc, arg), NULL) \
  X (char *, PQresultErrorMessage, (const PGresult *res), (res), NULL) \
  X (PGnotify *, PQnotifies, (PGconn *conn), (conn), NULL) \
  X (int, PQgetlength, (const PGresult *res, int tup, int field), \
     (res, tup, field), 0) \
  X (char *, PQescapeLiteral, (PGconn *conn, const char *str, size_t len), \
     (conn, str, len), NULL) \
  X (int, PQconsumeInput, (PGconn *conn), (conn), 0) \
  X (PGconn *, PQconnectdbParams, (const char *const *keywords, \
     const char *const *values, int expand_dbname), \
     (keywords, values, expand_dbname), NULL) \
  X (char *, PQcmdStatus, (PGresult *res), (res), NULL) \
  X (int, PQsendQuery, (PGconn *conn, const char *query), (conn, query), 0) \
  X (int, PQsendQueryParams, (PGconn *conn, const char *command, \
     int n, const Oid *types, const char *const *values, const int *lengths, \
     const int *formats, int result_format), (conn, command, n, types, \
     values, lengths, formats, result_format), 0) \
  X (PGresult *, PQgetResult, (PGconn *conn), (conn), NULL) \
  X (int, PQisBusy, (PGconn *conn), (conn), 0) \
  X (int, PQflush, (PGconn *conn), (conn), -1) \
  X (int, PQsetnonblocking, (PGconn *conn, int arg), (conn, arg), -1) \
  X (int, PQisnonblocking, (const PGconn *conn), (conn), 0) \
  X (int, PQresetStart, (PGconn *conn), (conn), 0) \
  X (PostgresPollingStatusType, PQresetPoll, (PGconn *conn), (conn), \
     PGRES_POLLING_FAILED)

/* Those that return nothing. */
#define JQ_PQ_PROCEDURES(X) \
  X (PQclear, (PGresult *res), (res)) \
  X (PQfinish, (PGconn *conn), (conn)) \
  X (PQconninfoFree, (PQconninfoOption *options), (options))

#define JQ_PQ_POINTER(ret, name, params, args, missing) ret (*name) params;
#define JQ_PQ_PROC_POINTER(name, params, args) void (*name) params;

static struct {
  JQ_PQ_FUNCTIONS (JQ_PQ_POINTER)
  JQ_PQ_PROCEDURES (JQ_PQ_PROC_POINTER)
  void (*PQfreemem) (void *ptr);
  PQconninfoOption *(*PQconninfoParse) (const char *conninfo,
                                        char **errmsg);
  char *(*PQerrorMessage) (const PGconn *conn);
} pq;

static char *load_error;   /* why libpq could not be loaded */

static gboolean
lookup_all (void *lib)
{
#define JQ_PQ_LOOKUP(ret, name, params, args, missing) \
  if ((pq.name = (ret (*) params) dlsym (lib, #name)) == NULL) \
    return FALSE;
#define JQ_PQ_PROC_LOOKUP(name, params, args) \
  if ((pq.name = (void (*) params) dlsym (lib, #name)) == NULL) \
    return FALSE;
  JQ_PQ_FUNCTIONS (JQ_PQ_LOOKUP)
  JQ_PQ_PROCEDURES (JQ_PQ_PROC_LOOKUP)
  return (pq.PQfreemem = (void (*) (void *)) dlsym (lib, "PQfreemem"))
         && (pq.PQconninfoParse = (PQconninfoOption *(*) (const char *,
                                                          char **))
             dlsym (lib, "PQconninfoParse"))
         && (pq.PQerrorMessage = (char *(*) (const PGconn *))
             dlsym (lib, "PQerrorMessage"));
}

/* TRUE once libpq is loaded; tried once. */
static gboolean
loaded (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      void *lib = dlopen (LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
      if (lib == NULL || !lookup_all (lib))
        {
          const char *why = dlerror ();
          load_error = g_strdup_printf ("the PostgreSQL client library "
                                        "could not be loaded (%s): install "
                                        "libpq5", why ? why : LIBPQ_SONAME);
          memset (&pq, 0, sizeof pq);
        }
      g_once_init_leave (&once, 1);
    }
  return load_error == NULL;
}

#define JQ_PQ_DEFINE(ret, name, params, args, missing) \
  ret name params \
  { \
    return loaded () ? pq.name args : (missing); \
  }
#define JQ_PQ_PROC_DEFINE(name, params, args) \
  void name params \
  { \
    if (loaded ()) \
      pq.name args; \
  }
JQ_PQ_FUNCTIONS (JQ_PQ_DEFINE)
JQ_PQ_PROCEDURES (JQ_PQ_PROC_DEFINE)

void
PQfreemem (void *ptr)
{
  if (loaded ())
    pq.PQfreemem (ptr);
  else
    free (ptr);
}

PQconninfoOption *
PQconninfoParse (const char *conninfo, char **errmsg)
{
  if (loaded ())
    return pq.PQconninfoParse (conninfo, errmsg);
  if (errmsg != NULL)
    *errmsg = NULL;
  return NULL;
}

char *
PQerrorMessage (const PGconn *conn)
{
  if (loaded ())
    return pq.PQerrorMessage (conn);
  return load_error;
}
