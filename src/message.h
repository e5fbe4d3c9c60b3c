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

/* Writing a methodResponse straight into one buffer of exactly its size,
 * with no xmlrpc_value tree in between: a listjobs of 200,000 jobs cost
 * 437 MB through xmlrpc-c's values and serializer, where its answer is
 * 40 MB.  @write is called twice with @data, once to measure and once to
 * write, and must put the same both times: the response's one value,
 * with the jq_message_put functions below.  Returns the whole response. */
typedef struct _JqMessageWriter JqMessageWriter;
typedef void (*JqMessageWriteFunc) (JqMessageWriter *w, gpointer data);
GBytes *jq_message_write_response (JqMessageWriteFunc write, gpointer data);

/* Streaming an answer that may be large, in one pass: @write puts it
 * (once) into a buffer that goes to @flush each time it holds
 * JQ_MESSAGE_FLUSH_BYTES, so that the answer is never held whole.  When
 * the whole answer stayed below that, @flush was never called and it is
 * returned; otherwise every byte has gone to @flush (the last piece too)
 * and NULL is returned.  With @flush NULL the answer is returned whole.
 * @flush returns FALSE when the reader is gone: nothing more is kept, and
 * @write may stop early (jq_message_writer_gone).  For answers whose
 * parts are fetched while writing: @write is called once, not twice. */
#define JQ_MESSAGE_FLUSH_BYTES (32 * 1024)
typedef gboolean (*JqMessageFlush) (const char *data, gsize len,
                                    gpointer user_data);
GBytes *jq_message_stream_response (JqMessageWriteFunc write, gpointer data,
                                    JqMessageFlush flush,
                                    gpointer flush_data);
/* TRUE once a flush failed: what is put is dropped. */
gboolean jq_message_writer_gone (const JqMessageWriter *w);

/* Literal markup, such as "<value><array><data>" or "</member>". */
void jq_message_put (JqMessageWriter *w, const char *markup);
/* <value><int> (or <i8> beyond 32 bits). */
void jq_message_put_int (JqMessageWriter *w, gint64 n);
void jq_message_put_bool (JqMessageWriter *w, gboolean b);
/* <value><string>, escaped for XML; bytes that are not UTF-8 or that XML
 * cannot carry (control characters) are written as U+FFFD, a carriage
 * return as a character reference so that it arrives as one. */
void jq_message_put_string (JqMessageWriter *w, const char *s);
/* An array of strings. */
void jq_message_put_strings (JqMessageWriter *w, const char *const *argv);
/* "<member><name>@name</name>"; @name is markup (a literal of ours). */
void jq_message_put_member (JqMessageWriter *w, const char *name);
