/* Writing XML-RPC answers: see xmlwriter.h. */
#include "xmlwriter.h"

#include <string.h>

struct _JqMessageWriter {
  GString *out;      /* NULL while measuring */
  gsize    size;     /* bytes put so far */
  JqMessageFlush flush;   /* streaming: takes each full buffer */
  gpointer flush_data;
  gboolean flushed;  /* a piece went out already */
  gboolean gone;     /* flush failed: nothing more is kept */
};

/* Hands the buffer to the flush function and empties it. */
static void
flush_out (JqMessageWriter *w)
{
  if (!w->gone && !w->flush (w->out->str, w->out->len, w->flush_data))
    w->gone = TRUE;
  w->flushed = TRUE;
  g_string_truncate (w->out, 0);
}

static void
put_len (JqMessageWriter *w, const char *s, gsize n)
{
  w->size += n;
  if (w->out == NULL)
    return;
  /* Streaming, the buffer never holds more than JQ_MESSAGE_FLUSH_BYTES:
   * a long string goes out in pieces. */
  while (w->flush != NULL && w->out->len + n >= JQ_MESSAGE_FLUSH_BYTES)
    {
      gsize part = JQ_MESSAGE_FLUSH_BYTES - w->out->len;
      if (!w->gone)
        g_string_append_len (w->out, s, (gssize) part);
      flush_out (w);
      s += part;
      n -= part;
    }
  if (!w->gone)
    g_string_append_len (w->out, s, (gssize) n);
}

void
jq_message_put (JqMessageWriter *w, const char *markup)
{
  put_len (w, markup, strlen (markup));
}

void
jq_message_put_int (JqMessageWriter *w, gint64 n)
{
  char buf[64];
  gboolean wide = n < G_MININT32 || n > G_MAXINT32;
  int len = g_snprintf (buf, sizeof buf, wide ? "<value><i8>%" G_GINT64_FORMAT
                        "</i8></value>" : "<value><int>%" G_GINT64_FORMAT
                        "</int></value>", n);
  put_len (w, buf, (gsize) len);
}

void
jq_message_put_bool (JqMessageWriter *w, gboolean b)
{
  jq_message_put (w, b ? "<value><boolean>1</boolean></value>"
                       : "<value><boolean>0</boolean></value>");
}

static void
put_escaped (JqMessageWriter *w, const char *s)
{
  static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */
  const char *run = s;
  for (const char *p = s; *p != '\0'; p++)
    {
      guchar c = *p;
      const char *entity = NULL;
      gsize skip = 1;
      if (c == '&')
        entity = "&amp;";
      else if (c == '<')
        entity = "&lt;";
      else if (c == '>')
        entity = "&gt;";
      else if (c == '\r')
        entity = "&#13;";
      else if (c < 0x20 && c != '\t' && c != '\n')
        entity = replacement;
      else if (c == 0xef && (guchar) p[1] == 0xbf
               && ((guchar) p[2] & 0xfe) == 0xbe)
        entity = replacement, skip = 3;
      if (entity == NULL)
        continue;
      put_len (w, run, p - run);
      jq_message_put (w, entity);
      p += skip - 1;
      run = p + 1;
    }
  put_len (w, run, strlen (run));
}

void
jq_message_put_string (JqMessageWriter *w, const char *s)
{
  jq_message_put (w, "<value><string>");
  if (g_utf8_validate (s, -1, NULL))
    put_escaped (w, s);
  else
    {
      g_autofree char *valid = g_utf8_make_valid (s, -1);
      put_escaped (w, valid);
    }
  jq_message_put (w, "</string></value>");
}

void
jq_message_put_strings (JqMessageWriter *w, const char *const *argv)
{
  jq_message_put (w, "<value><array><data>");
  for (gsize i = 0; argv[i] != NULL; i++)
    jq_message_put_string (w, argv[i]);
  jq_message_put (w, "</data></array></value>");
}

void
jq_message_put_member (JqMessageWriter *w, const char *name)
{
  jq_message_put (w, "<member><name>");
  jq_message_put (w, name);
  jq_message_put (w, "</name>");
}

static void
put_response (JqMessageWriter *w, JqMessageWriteFunc write, gpointer data)
{
  jq_message_put (w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                     "<methodResponse>\r\n<params>\r\n<param>");
  write (w, data);
  jq_message_put (w, "</param>\r\n</params>\r\n</methodResponse>\r\n");
}

GBytes *
jq_message_stream_response (JqMessageWriteFunc write, gpointer data,
                            JqMessageFlush flush, gpointer flush_data)
{
  JqMessageWriter w = { g_string_sized_new (flush ? JQ_MESSAGE_FLUSH_BYTES
                                                  : 4096),
                        0, flush, flush_data, FALSE, FALSE };
  put_response (&w, write, data);
  if (!w.flushed)
    return g_string_free_to_bytes (w.out);
  if (w.out->len > 0)
    flush_out (&w);
  g_string_free (w.out, TRUE);
  return NULL;
}

gboolean
jq_message_writer_gone (const JqMessageWriter *w)
{
  return w->gone;
}

GBytes *
jq_message_write_response (JqMessageWriteFunc write, gpointer data)
{
  JqMessageWriter w = { NULL, 0, NULL, NULL, FALSE, FALSE };
  put_response (&w, write, data);
  gsize size = w.size;
  w.out = g_string_sized_new (size + 1);
  w.size = 0;
  put_response (&w, write, data);
  g_assert (w.size == size);
  return g_string_free_to_bytes (w.out);
}
