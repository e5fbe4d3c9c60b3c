/* Tasks: Python-style rendering for the log, and limits. */
#include "task.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "botsenv.h"
#include "error.h"

gboolean
jq_task_python_printable (gunichar c)
{
  if (c == ' ')
    return TRUE;
  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
    case G_UNICODE_SPACE_SEPARATOR:
      return FALSE;
    default:
      return TRUE;
    }
}

void
jq_task_append_json_escape (GString *out, gunichar c)
{
  if (c > 0xffff)
    g_string_append_printf (out, "\\u%04x\\u%04x",
                            0xd800 + ((c - 0x10000) >> 10),
                            0xdc00 + ((c - 0x10000) & 0x3ff));
  else
    g_string_append_printf (out, "\\u%04x", c);
}

/* Appends the repr of @s, stopping before the output would pass
 * @limit bytes (counted from the start of @out).  Returns FALSE when it
 * stopped early; the closing quote is then missing. */
static gboolean
repr_append (GString *out, const char *s, gsize limit)
{
  /* Python prefers single quotes and switches to double quotes only when
   * the text holds a single quote and no double quote. */
  char quote = (strchr (s, '\'') && !strchr (s, '"')) ? '"' : '\'';
  const char *end = s + strlen (s);
  char esc[16];

  if (out->len + 1 > limit)
    return FALSE;
  g_string_append_c (out, quote);
  for (const char *p = s; p < end;)
    {
      const char *piece = esc;
      gsize len;
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_snprintf (esc, sizeof esc, "\\x%02x", (guchar) *p);
          len = 4;
          p++;
        }
      else
        {
          const char *next = g_utf8_next_char (p);
          if (c == (gunichar) quote || c == '\\')
            len = g_snprintf (esc, sizeof esc, "\\%c", (char) c);
          else if (c == '\t')
            len = g_snprintf (esc, sizeof esc, "\\t");
          else if (c == '\n')
            len = g_snprintf (esc, sizeof esc, "\\n");
          else if (c == '\r')
            len = g_snprintf (esc, sizeof esc, "\\r");
          else if (jq_task_python_printable (c))
            {
              piece = p;
              len = (gsize) (next - p);
            }
          else if (c < 0x100)
            len = g_snprintf (esc, sizeof esc, "\\x%02x", c);
          else if (c < 0x10000)
            len = g_snprintf (esc, sizeof esc, "\\u%04x", c);
          else
            len = g_snprintf (esc, sizeof esc, "\\U%08x", c);
          p = next;
        }
      if (out->len + len > limit)
        return FALSE;
      g_string_append_len (out, piece, len);
    }
  if (out->len + 1 > limit)
    return FALSE;
  g_string_append_c (out, quote);
  return TRUE;
}

void
jq_task_repr_append_cut (GString *out, const char *s, gsize max)
{
  gsize start = out->len;
  if (!repr_append (out, s, start + max))
    g_string_append_printf (out, "... [cut: %" G_GSIZE_FORMAT " bytes]",
                            strlen (s));
}

static char *
repr_list (const char *const *argv, gsize max)
{
  GString *out = g_string_new ("[");
  gboolean whole = TRUE;
  gsize n = 0, bytes = 0;

  for (gsize i = 0; argv != NULL && argv[i] != NULL; i++)
    {
      n++;
      bytes += strlen (argv[i]);
      if (!whole)
        continue;
      if (i > 0)
        {
          if (out->len + 2 > max)
            whole = FALSE;
          else
            g_string_append (out, ", ");
        }
      whole = whole && repr_append (out, argv[i], max);
    }
  if (whole && out->len + 1 <= max)
    g_string_append_c (out, ']');
  else
    g_string_append_printf (out, "... [cut: the task has %" G_GSIZE_FORMAT
                            " arguments, %" G_GSIZE_FORMAT " bytes]", n,
                            bytes);
  return g_string_free (out, FALSE);
}

char *
jq_task_repr (const char *const *argv)
{
  return repr_list (argv, G_MAXSIZE);
}

char *
jq_task_repr_cut (const char *const *argv)
{
  return repr_list (argv, JQ_TASK_LOG_MAX);
}

gboolean
jq_task_check_limits (const char *const *argv, GError **error)
{
  gsize n = 0, bytes = 0;

  for (; argv[n] != NULL; n++)
    bytes += strlen (argv[n]) + 1;
  if (n > JQ_TASK_MAX_ARGS)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                   "task has %" G_GSIZE_FORMAT " arguments; at most %d "
                   "are accepted", n, JQ_TASK_MAX_ARGS);
      return FALSE;
    }
  if (bytes > JQ_TASK_MAX_BYTES)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                   "task is %" G_GSIZE_FORMAT " bytes long; at most %d are "
                   "accepted", bytes, JQ_TASK_MAX_BYTES);
      return FALSE;
    }
  return TRUE;
}

char **
jq_task_split_list (const char *value)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) parts = g_strsplit_set (value ? value : "", " \t\n,;", -1);

  for (gsize i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_strv_builder_add (b, parts[i]);
  return g_strv_builder_end (b);
}
