/* XML-RPC messages from peers we do not trust: strict parsing of a
 * methodCall (server side) or a methodResponse (client side) into
 * xmlrpc-c values.  xmlrpc-c's own XML parser never sees a peer's bytes. */
#pragma once

#include <glib.h>
#include <xmlrpc-c/base.h>

/* xmlrpc-c's values under g_autoptr (the cleanup skips NULL): no
 * read/DECREF pairs to keep in step by hand. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlrpc_value, xmlrpc_DECREF)

/* Deepest element nesting accepted, counted from the root element; Bots'
 * calls need 8, Python's answers to them 9. */
#define JQ_MESSAGE_MAX_DEPTH 32

/* Parses the methodCall in @xml (@len bytes, need not end in NUL).
 * Returns TRUE with *@method (g_free) and *@params (an array; caller
 * DECREFs).  Otherwise returns FALSE, sets @error (JQ_ERROR_PARSE, a
 * message of at most a few hundred bytes of valid UTF-8 that says where
 * and why) and stores nothing.  Never reads more than @len bytes, never
 * expands an entity other than XML's five and character references, and
 * refuses any DOCTYPE. */
gboolean jq_message_parse_call (const char *xml, gsize len, char **method,
                                xmlrpc_value **params, GError **error);

/* Parses the methodResponse in @xml.  Returns its one value (caller
 * DECREFs).  A fault answer returns NULL and sets @error to
 * JQ_ERROR_INVALID with the fault's string; anything that is not a valid
 * response returns NULL with JQ_ERROR_PARSE, as for a call. */
xmlrpc_value *jq_message_parse_response (const char *xml, gsize len,
                                         GError **error);
