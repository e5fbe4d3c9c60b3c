/* The XML-RPC interface: HTTP through xmlrpc-c's Abyss server, request
 * limits, and the Bots methods.  The only module that knows xmlrpc-c's
 * server types. */
#pragma once

#include <glib.h>

#include "door.h"
#include "log.h"
#include "scheduler.h"

/* Largest request body accepted. */
#define JQ_RPC_MAX_BODY   (1024 * 1024)
/* history answers hold rows of at most this many bytes of tasks and
 * start errors in all, newest first (doc/admin-api.md). */
#define JQ_RPC_HISTORY_MAX_BYTES (16 * 1024 * 1024)
/* Connections served at once; idle keep-alive ones count. */
#define JQ_RPC_MAX_CONN   1024

typedef struct _JqRpc JqRpc;

/* Methods call into @scheduler only through @door.  All three must
 * outlive the rpc object. */
JqRpc *jq_rpc_new (JqScheduler *scheduler, JqDoor *door, JqLog *log);

/* Answers one request body with the XML of its response: a methodResponse
 * or a fault (code 1, as Python's server gives).  Never fails.  Thread-safe;
 * this is the whole request path short of HTTP (tests and fuzzing use it). */
GBytes *jq_rpc_process (JqRpc *rpc, const char *body, gsize len);

/* Binds @address:@port and starts serving on Abyss's own threads.
 * Returns FALSE and sets @error when the address cannot be used (say, the
 * port is taken). */
gboolean jq_rpc_listen (JqRpc *rpc, const char *address, guint port,
                        GError **error);

/* Stops accepting connections and waits for the server thread.  Calls
 * already inside get their answer. */
void jq_rpc_stop (JqRpc *rpc);

void jq_rpc_free (JqRpc *rpc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqRpc, jq_rpc_free)
