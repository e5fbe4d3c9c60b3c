/* The XML-RPC server's requests: routing (XML-RPC POSTs to methods.c,
 * GETs of the status page to status.c) and the browser rules, on the
 * ports that http.c serves. */
#pragma once

#include <glib.h>

#include "http.h"
#include "log.h"
#include "methods.h"
#include "status.h"

/* Largest request body accepted. */
#define JQ_RPC_MAX_BODY JQ_METHODS_MAX_BODY
/* Connections served at once by default; idle keep-alive ones count.
 * The server sets its own from the descriptor budget. */
#define JQ_RPC_MAX_CONN   1024
/* Descriptors one connection holds: its socket and the pipe Abyss keeps
 * to interrupt it. */
#define JQ_RPC_FDS_PER_CONN 3
/* Connections at once on the status-only port. */
#define JQ_RPC_MAX_STATUS_CONN 64
/* wait() calls may block on at most 1/JQ_RPC_WAIT_SHARE of the
 * connections (each holds one): the rest stay for addjob and the other
 * methods.  Beyond that, wait() answers at once. */
#define JQ_RPC_WAIT_SHARE 4

typedef struct _JqRpc JqRpc;

/* Serves @methods (the server builds them, and stops them with the rpc:
 * jq_rpc_stop) and, when @status is not NULL, GET /, /status.json and
 * /metrics from @status on every port, counting refused requests into
 * its metrics.  All three are borrowed and must outlive the rpc object. */
JqRpc *jq_rpc_new (JqMethods *methods, JqStatus *status, JqLog *log);

/* Answers one request body with the XML of its response: a methodResponse
 * or a fault (code 1, as Python's server gives), as the server's own
 * user.  Never fails.  Thread-safe; this is the whole request path short
 * of HTTP (tests and fuzzing use it). */
GBytes *jq_rpc_process (JqRpc *rpc, const char *body, gsize len);

/* The HTTP server of both ports (tests set smaller budgets on it). */
JqHttp *jq_rpc_get_http (JqRpc *rpc);

/* When all connections are taken and another caller waits, a user
 * holding more than @percent of them loses those beyond, its longest
 * idle first (share.h).  Default JQ_SHARE_DEFAULT_PERCENT.  Call before
 * serving. */
void jq_rpc_set_user_share (JqRpc *rpc, guint percent);

/* Callers that @admins include (borrowed; it must outlive @rpc) may do
 * what root and the server's own user may: pause, resume, clear, and
 * remove or reprioritise any job.  Call before serving. */
void jq_rpc_set_admins (JqRpc *rpc, const JqAdmins *admins);

/* Serves the status page and metrics only (no XML-RPC) on @fd, a socket
 * of jq_http_bind() for @address:@port (named in messages), which it
 * takes; only with a status.  FALSE and @error as below. */
gboolean jq_rpc_listen_status (JqRpc *rpc, const char *address, guint port,
                               int fd, GError **error);

/* Serves XML-RPC on @fd, a socket of jq_http_bind() for @address, which it
 * takes: Abyss's threads (its accept loop, run again should it end, and a
 * thread per connection), plus a gate thread that answers HTTP 503 to
 * connections over the limit.  Returns FALSE and sets @error when Abyss
 * cannot start. */
gboolean jq_rpc_listen (JqRpc *rpc, const char *address, int fd,
                        GError **error);

/* Connections served at once (at least 1); one more is answered HTTP 503
 * and closed.  Call before jq_rpc_listen(). */
void jq_rpc_set_max_connections (JqRpc *rpc, guint max_conn);
/* Connections at once on the status-only port (at most
 * JQ_RPC_MAX_STATUS_CONN, the default): what the descriptor budget
 * pays for. */
void jq_rpc_set_max_status_connections (JqRpc *rpc, guint max_conn);

/* Stops the methods' wait() calls and both ports (jq_http_stop): calls
 * already inside get their answer and can write it (up to 2 s). */
void jq_rpc_stop (JqRpc *rpc);

void jq_rpc_free (JqRpc *rpc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqRpc, jq_rpc_free)
