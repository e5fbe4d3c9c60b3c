/* Calling the job queue server from a command-line program: the only
 * module that knows xmlrpc-c's client. */
#pragma once

#include <glib.h>
#include <xmlrpc-c/base.h>

#include "config.h"
#include "message.h"

typedef struct _JqClient JqClient;

/* The largest answer a client can read (bytes): xmlrpc-c 1.33's memory
 * blocks, in which its curl transport collects an answer, hold no more.
 * listjobs has no cap (Bots' own method): this holds some 100,000 tasks
 * of 1 KiB; history is capped at 16 MiB of task text
 * (doc/admin-api.md). */
#define JQ_CLIENT_MAX_ANSWER (128 << 20)

/* A client for the server that @config describes (its port and bind
 * address).  @timeout_ms bounds each call; a refused connection fails at
 * once.  Never sends loopback calls through an HTTP proxy. */
JqClient *jq_client_new (const JqConfig *config, guint timeout_ms,
                         GError **error);

/* The server's URL, for messages. */
const char *jq_client_get_url (JqClient *client);

/* Calls @method with @params (an XML-RPC array, borrowed).  Returns the
 * result (caller DECREFs), or NULL and sets @error: JQ_ERROR_IO when the
 * server cannot be reached (the call did not reach it) or answers anything
 * but an XML-RPC response (read strictly, by src/message.c) of at most
 * JQ_CLIENT_MAX_ANSWER bytes (a larger one: an error that says so),
 * JQ_ERROR_UNANSWERED when the call was sent but no answer came (timed
 * out, connection ended): the server may still carry it out, since a
 * server at its connection limit reads a waiting call later,
 * JQ_ERROR_INVALID with the fault's text when it answers with a fault.
 * The result's type is whatever the peer sent: callers check it. */
xmlrpc_value *jq_client_call (JqClient *client, const char *method,
                              xmlrpc_value *params, GError **error);

void jq_client_free (JqClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqClient, jq_client_free)

/* Whether every string of @argv can be sent in an XML-RPC call: valid
 * UTF-8, no character beyond U+FFFF (xmlrpc-c 1.33 holds none) and none
 * that XML 1.0 cannot carry.  Otherwise FALSE with @error
 * (JQ_ERROR_INVALID) naming the argument (1 for argv[0]) and why. */
gboolean jq_client_check_strings (const char *const *argv, GError **error);

/* Builds an XML-RPC array of strings from @argv; on a string that cannot
 * be sent, sets a fault in @env with jq_client_check_strings()'s message
 * (the array is still returned, for the caller to DECREF). */
xmlrpc_value *jq_client_strings (xmlrpc_env *env, const char *const *argv);
