/* The XML-RPC server: HTTP through xmlrpc-c's Abyss server, connection
 * and body limits, corked answers, the GETs of the status page; the
 * methods themselves are methods.c's.  The only module that knows
 * xmlrpc-c's server types. */
#pragma once

#include <glib.h>

#include "door.h"
#include "log.h"
#include "methods.h"
#include "scheduler.h"
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

/* Methods call into @scheduler only through @door.  All three must
 * outlive the rpc object. */
JqRpc *jq_rpc_new (JqScheduler *scheduler, JqDoor *door, JqLog *log);

/* With @bots3 (a Bots 3 installation), addjob answers only what Bots 3's
 * callers can show (PROTOCOL section 2): 0 for a job that is in the
 * queue, 4 for a duplicate, and 1 for everything that queued nothing
 * (empty, not authorized, queue full, journal fault, bad arguments),
 * never 2, 3 or a fault; the log says why.  submit() always gives the
 * true answer; our own clients call it.  Default: FALSE (Bots 4's codes
 * and faults).  Call before jq_rpc_listen. */
void jq_rpc_set_bots3_answers (JqRpc *rpc, gboolean bots3);

/* Answers one request body with the XML of its response: a methodResponse
 * or a fault (code 1, as Python's server gives).  Never fails.  Thread-safe;
 * this is the whole request path short of HTTP (tests and fuzzing use it). */
GBytes *jq_rpc_process (JqRpc *rpc, const char *body, gsize len);

/* Serves GET /, /status.json and /metrics from @status (borrowed; must
 * outlive @rpc) on every port, and counts calls into its metrics.  Call
 * before listening. */
void jq_rpc_set_status (JqRpc *rpc, JqStatus *status);

/* The methods it serves (borrowed), for wiring them before listening. */
JqMethods *jq_rpc_get_methods (JqRpc *rpc);

/* When all connections are taken and another caller waits, a user
 * holding more than @percent of them loses those beyond, its longest
 * idle first (share.h).  Default JQ_SHARE_DEFAULT_PERCENT.  Call before
 * serving. */
void jq_rpc_set_user_share (JqRpc *rpc, guint percent);

/* Callers that @admins include (borrowed; it must outlive @rpc) may do
 * what root and the server's own user may: pause, resume, clear, and
 * remove or reprioritise any job.  Call before serving. */
void jq_rpc_set_admins (JqRpc *rpc, const JqAdmins *admins);

/* Binds @address:@port: the descriptor, or -1 and sets @error (a numeric
 * address is needed; the port may be taken).  Separate from serving so
 * that a server started as root binds a low port before it gives up root
 * (src/privdrop.h); it listens only once it serves, so connections are
 * refused until then, as before. */
int jq_rpc_bind (const char *address, guint port, GError **error);

/* Serves the status page and metrics only (no XML-RPC) on @fd, a socket
 * of jq_rpc_bind() for @address:@port (named in messages), which it
 * takes; after jq_rpc_set_status().  FALSE and @error as below. */
gboolean jq_rpc_listen_status (JqRpc *rpc, const char *address, guint port,
                               int fd, GError **error);

/* Serves XML-RPC on @fd, a socket of jq_rpc_bind() for @address, which it
 * takes: Abyss's threads (its accept loop, run again should it end, and a
 * thread per connection), plus a gate thread that answers HTTP 503 to
 * connections over the limit.  Returns FALSE and sets @error when Abyss
 * cannot start. */
gboolean jq_rpc_listen (JqRpc *rpc, const char *address, int fd,
                        GError **error);

/* Connections served at once (at least 1); one more is answered HTTP 503
 * and closed.  Call before jq_rpc_listen(). */
void jq_rpc_set_max_connections (JqRpc *rpc, guint max_conn);

/* Stops accepting connections and waits for the server threads.  Calls
 * already inside get their answer and can write it (up to 2 s). */
void jq_rpc_stop (JqRpc *rpc);

void jq_rpc_free (JqRpc *rpc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqRpc, jq_rpc_free)
