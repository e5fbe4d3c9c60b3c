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

/* Appends to the buffer: a copy when it has room (a streamed answer's
 * buffer is allocated whole at the start), else GString's own append. */
static inline void
append (GString *out, const char *s, gsize n)
{
  if (out->len + n < out->allocated_len)
    {
      memcpy (out->str + out->len, s, n);
      out->len += n;
      out->str[out->len] = '\0';
    }
  else
    g_string_append_len (out, s, (gssize) n);
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
        append (w->out, s, part);
      flush_out (w);
      s += part;
      n -= part;
    }
  if (!w->gone)
    append (w->out, s, n);
}

void
jq_message_put_len (JqMessageWriter *w, const char *markup, gsize len)
{
  put_len (w, markup, len);
}

/* Puts the markup @open, @n in decimal, then @close: in one piece,
 * without printf (listjobs puts two numbers per job). */
static void
put_number (JqMessageWriter *w, const char *open, gint64 n,
            const char *close)
{
  char buf[64];
  char *end = buf + sizeof buf, *p = end;
  gsize lc = strlen (close), lo = strlen (open);
  guint64 v = n < 0 ? -(guint64) n : (guint64) n;
  p -= lc;
  memcpy (p, close, lc);
  do
    *--p = (char) ('0' + v % 10);
  while ((v /= 10) > 0);
  if (n < 0)
    *--p = '-';
  p -= lo;
  memcpy (p, open, lo);
  put_len (w, p, (gsize) (end - p));
}

void
jq_message_put_int (JqMessageWriter *w, gint64 n)
{
  if (n < G_MININT32 || n > G_MAXINT32)
    put_number (w, "<value><i8>", n, "</i8></value>");
  else
    put_number (w, "<value><int>", n, "</int></value>");
}

void
jq_message_put_bool (JqMessageWriter *w, gboolean b)
{
  jq_message_put (w, b ? "<value><boolean>1</boolean></value>"
                       : "<value><boolean>0</boolean></value>");
}

/* The bytes put_escaped() must look at: XML's specials, a carriage
 * return, control characters and the first byte of U+FFFE/U+FFFF. */
static gboolean
needs_care (guchar c)
{
  return c == '&' || c == '<' || c == '>' || c == '\r' || c == 0xef
         || (c < 0x20 && c != '\t' && c != '\n');
}

static void
put_escaped (JqMessageWriter *w, const char *s, gsize len)
{
  static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */
  const char *run = s, *end = s + len;
  for (const char *p = s; p < end; p++)
    {
      guchar c = *p;
      const char *entity = NULL;
      gsize skip = 1;
      if (G_LIKELY (!needs_care (c)))
        continue;
      if (c == '&')
        entity = "&amp;";
      else if (c == '<')
        entity = "&lt;";
      else if (c == '>')
        entity = "&gt;";
      else if (c == '\r')
        entity = "&#13;";
      else if (c < 0x20)
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
  put_len (w, run, end - run);
}

/* The bytes a string can be copied with as they are: printable ASCII
 * but XML's specials, a tab and a newline (a task's usual bytes). */
static const guint8 plain_byte[256] = {
  ['\t'] = 1, ['\n'] = 1,
  [' ' ... '%'] = 1, ['\'' ... ';'] = 1, ['='] = 1, ['?' ... '~'] = 1,
};

/* The length of @s when all its bytes are plain, else -1: one pass that
 * spares the usual string the length, UTF-8 and escaping passes. */
static gssize
plain_length (const char *s)
{
  const guchar *p = (const guchar *) s;
  while (plain_byte[*p])
    p++;
  return *p == '\0' ? (gssize) (p - (const guchar *) s) : -1;
}

/* A string's text, escaped (between <string> and </string>). */
static void
put_text (JqMessageWriter *w, const char *s)
{
  gssize plain = plain_length (s);
  gsize len = plain >= 0 ? (gsize) plain : strlen (s);
  if (plain >= 0)
    put_len (w, s, len);
  else if (g_utf8_validate_len (s, len, NULL))
    put_escaped (w, s, len);
  else
    {
      g_autofree char *valid = g_utf8_make_valid (s, (gssize) len);
      put_escaped (w, valid, strlen (valid));
    }
}

void
jq_message_put_string (JqMessageWriter *w, const char *s)
{
  jq_message_put (w, "<value><string>");
  put_text (w, s);
  jq_message_put (w, "</string></value>");
}

/* The array's markup between its strings is put as one literal each
 * (listjobs puts a hundred thousand of these arrays). */
static void
put_strings_then (JqMessageWriter *w, const char *const *argv,
                  const char *close, gsize close_len)
{
  if (argv[0] == NULL)
    {
      jq_message_put (w, "<value><array><data></data></array></value>");
      put_len (w, close, close_len);
      return;
    }
  jq_message_put (w, "<value><array><data><value><string>");
  for (gsize i = 0; argv[i] != NULL; i++)
    {
      put_text (w, argv[i]);
      if (argv[i + 1] != NULL)
        jq_message_put (w, "</string></value><value><string>");
    }
  jq_message_put (w, "</string></value></data></array></value>");
  put_len (w, close, close_len);
}

void
jq_message_put_strings (JqMessageWriter *w, const char *const *argv)
{
  put_strings_then (w, argv, "", 0);
}

/* ---- listjobs' jobs: the usual one written straight into the buffer
 *
 * A listjobs of 100,000 jobs is 90% markup: the general puts' checks per
 * piece (room, a flush due) cost more than the bytes.  A job whose task
 * is plain (plain_byte) and whose most possible size fits in the
 * buffer's room is written with a cursor and no check, then the buffer
 * is flushed in pieces of exactly JQ_MESSAGE_FLUSH_BYTES as put_len()
 * would have: the same bytes, cut at the same places. */

/* The most a listed job's markup takes beside its task's bytes: the
 * fixed markup (under 250 bytes) with two numbers of up to 20 digits,
 * and the markup between two strings per argument. */
#define LISTED_MOST(argc, task_bytes) \
  (320 + 32 * (gsize) (argc) + (gsize) (task_bytes))
/* Room beyond a streamed answer's piece, so that a job that begins in a
 * piece's last bytes is written whole before the piece goes out. */
#define LISTED_SLACK 4096

#define LIT(p, s) (memcpy ((p), (s), sizeof (s) - 1), (p) + sizeof (s) - 1)

static char *
decimal (char *p, gint64 n)
{
  char buf[24];
  char *end = buf + sizeof buf, *d = end;
  guint64 v = n < 0 ? -(guint64) n : (guint64) n;
  do
    *--d = (char) ('0' + v % 10);
  while ((v /= 10) > 0);
  if (n < 0)
    *--d = '-';
  memcpy (p, d, (gsize) (end - d));
  return p + (end - d);
}

/* The task's strings at @p, or NULL when a byte is not plain (nothing
 * is then kept of what was written). */
static char *
plain_task (char *p, const char *task, gsize task_bytes, guint argc)
{
  if (argc == 0)
    return LIT (p, "<value><array><data></data></array></value>");
  p = LIT (p, "<value><array><data><value><string>");
  const guchar *t = (const guchar *) task, *last = t + task_bytes - 1;
  for (; t < last; t++)
    if (G_LIKELY (plain_byte[*t]))
      *p++ = (char) *t;
    else if (*t == '\0')
      p = LIT (p, "</string></value><value><string>");
    else
      return NULL;
  return LIT (p, "</string></value></data></array></value>");
}

/* The job at the buffer's end, or FALSE when it is not plain. */
static gboolean
put_plain_job (GString *out, int priority, gint64 number, const char *task,
               gsize task_bytes, guint argc)
{
  char *p = out->str + out->len;
  p = LIT (p, "<value><array><data><value><int>");
  p = decimal (p, priority);
  if (number < G_MININT32 || number > G_MAXINT32)
    {
      p = LIT (p, "</int></value><value><i8>");
      p = LIT (decimal (p, number), "</i8></value>");
    }
  else
    {
      p = LIT (p, "</int></value><value><int>");
      p = LIT (decimal (p, number), "</int></value>");
    }
  p = plain_task (p, task, task_bytes, argc);
  if (p == NULL)
    return FALSE;
  p = LIT (p, "</data></array></value>");
  out->len = (gsize) (p - out->str);
  out->str[out->len] = '\0';
  return TRUE;
}

/* Streaming: each full piece goes out, the bytes after it to the
 * buffer's start. */
static void
flush_full_pieces (JqMessageWriter *w)
{
  while (w->out->len >= JQ_MESSAGE_FLUSH_BYTES)
    {
      if (!w->gone && !w->flush (w->out->str, JQ_MESSAGE_FLUSH_BYTES,
                                 w->flush_data))
        w->gone = TRUE;
      w->flushed = TRUE;
      gsize rest = w->out->len - JQ_MESSAGE_FLUSH_BYTES;
      memmove (w->out->str, w->out->str + JQ_MESSAGE_FLUSH_BYTES, rest);
      g_string_truncate (w->out, rest);
    }
}

/* A task's strings with the general puts: any bytes, any size. */
static void
put_task (JqMessageWriter *w, const char *task, guint argc)
{
  if (argc == 0)
    {
      jq_message_put (w, "<value><array><data></data></array></value>");
      return;
    }
  jq_message_put (w, "<value><array><data><value><string>");
  for (guint i = 0; i < argc; i++)
    {
      put_text (w, task);
      task += strlen (task) + 1;
      if (i + 1 < argc)
        jq_message_put (w, "</string></value><value><string>");
    }
  jq_message_put (w, "</string></value></data></array></value>");
}

void
jq_message_put_listed_job (JqMessageWriter *w, int priority, gint64 number,
                           const char *task, gsize task_bytes, guint argc)
{
  GString *out = w->out;
  if (out != NULL && !w->gone
      && out->len + LISTED_MOST (argc, task_bytes) < out->allocated_len)
    {
      gsize before = out->len;
      if (put_plain_job (out, priority, number, task, task_bytes, argc))
        {
          w->size += out->len - before;
          if (w->flush != NULL)
            flush_full_pieces (w);
          return;
        }
      out->str[before] = '\0';
    }
  put_number (w, "<value><array><data><value><int>", priority,
              "</int></value>");
  jq_message_put_int (w, number);
  put_task (w, task, argc);
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
                                                    + LISTED_SLACK
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
