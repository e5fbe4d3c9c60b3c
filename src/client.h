/* Calling the job queue server from a command-line program: the only
 * module that knows xmlrpc-c's client. */
#pragma once

#include <glib.h>
#include <xmlrpc-c/base.h>

#include "config.h"
#include "message.h"

typedef struct _JqClient JqClient;

/* A client for the server that @config describes (its port and bind
 * address).  @timeout_ms bounds each call; a refused connection fails at
 * once.  Never sends loopback calls through an HTTP proxy. */
JqClient *jq_client_new (const JqConfig *config, guint timeout_ms,
                         GError **error);

/* The server's URL, for messages. */
const char *jq_client_get_url (JqClient *client);

/* Calls @method with @params (an XML-RPC array, borrowed).  Returns the
 * result (caller DECREFs), or NULL and sets @error: JQ_ERROR_IO when the
 * server cannot be reached or answers anything but an XML-RPC response
 * (read strictly, by src/message.c), JQ_ERROR_INVALID with the fault's
 * text when it answers with a fault.  The result's type is whatever the
 * peer sent: callers check it. */
xmlrpc_value *jq_client_call (JqClient *client, const char *method,
                              xmlrpc_value *params, GError **error);

void jq_client_free (JqClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqClient, jq_client_free)

/* Builds an XML-RPC array of strings from @argv. */
xmlrpc_value *jq_client_strings (xmlrpc_env *env, const char *const *argv);
