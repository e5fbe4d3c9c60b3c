/* Writing XML-RPC answers of ours: a methodResponse put straight into a
 * buffer, or streamed, with no xmlrpc_value tree in between.  The server's
 * side only; the parser of what peers send is message.h. */
#pragma once

#include <glib.h>
#include <string.h>

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

/* Literal markup, such as "<value><array><data>" or "</member>" (inline:
 * the compiler counts a literal's length). */
void jq_message_put_len (JqMessageWriter *w, const char *markup, gsize len);
static inline void
jq_message_put (JqMessageWriter *w, const char *markup)
{
  jq_message_put_len (w, markup, strlen (markup));
}
/* <value><int> (or <i8> beyond 32 bits). */
void jq_message_put_int (JqMessageWriter *w, gint64 n);
void jq_message_put_bool (JqMessageWriter *w, gboolean b);
/* <value><string>, escaped for XML; bytes that are not UTF-8 or that XML
 * cannot carry (control characters) are written as U+FFFD, a carriage
 * return as a character reference so that it arrives as one. */
void jq_message_put_string (JqMessageWriter *w, const char *s);
/* An array of strings. */
void jq_message_put_strings (JqMessageWriter *w, const char *const *argv);
/* One job of a listjobs answer: the array [priority, number, [task]],
 * the task given as its @argc strings one after the other, each ending
 * in its NUL (@task_bytes bytes in all, as jq_queue_copy_page copies
 * them). */
void jq_message_put_listed_job (JqMessageWriter *w, int priority,
                                gint64 number, const char *task,
                                gsize task_bytes, guint argc);
/* "<member><name>@name</name>"; @name is markup (a literal of ours). */
void jq_message_put_member (JqMessageWriter *w, const char *name);
