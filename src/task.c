/* Tasks: Python-style rendering for the log, limits, authorization. */
#include "task.h"

#include <string.h>

#include "error.h"

/* Python's str.isprintable(): everything but the "Other" and "Separator"
 * categories, the ASCII space excepted. */
static gboolean
python_printable (gunichar c)
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
jq_task_repr_append (GString *out, const char *s)
{
  /* Python prefers single quotes and switches to double quotes only when
   * the text holds a single quote and no double quote. */
  char quote = (strchr (s, '\'') && !strchr (s, '"')) ? '"' : '\'';
  const char *end = s + strlen (s);

  g_string_append_c (out, quote);
  for (const char *p = s; p < end;)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      p = g_utf8_next_char (p);
      if (c == (gunichar) quote || c == '\\')
        g_string_append_printf (out, "\\%c", (char) c);
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (python_printable (c))
        g_string_append_unichar (out, c);
      else if (c < 0x100)
        g_string_append_printf (out, "\\x%02x", c);
      else if (c < 0x10000)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_printf (out, "\\U%08x", c);
    }
  g_string_append_c (out, quote);
}

char *
jq_task_repr (const char *const *argv)
{
  GString *out = g_string_new ("[");

  for (gsize i = 0; argv != NULL && argv[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append (out, ", ");
      jq_task_repr_append (out, argv[i]);
    }
  g_string_append_c (out, ']');
  return g_string_free (out, FALSE);
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

static char *
default_lookup (const char *program, gpointer user_data)
{
  return g_find_program_in_path (program);
}

/* @arg names @program either by its bare name or by the very path that a
 * PATH search for that name finds.  A look-alike elsewhere (say
 * /tmp/bots-engine) does not count: any local user can reach the port. */
static gboolean
names_program (const char *arg, const char *program, JqPathLookup lookup,
               gpointer user_data)
{
  if (strcmp (arg, program) == 0)
    return TRUE;
  if (strchr (arg, '/') == NULL)
    return FALSE;
  g_autofree char *base = g_path_get_basename (arg);
  if (strcmp (base, program) != 0)
    return FALSE;
  g_autofree char *found = lookup (program, user_data);
  if (found == NULL)
    return FALSE;
  g_autofree char *canon_arg = g_canonicalize_filename (arg, "/");
  g_autofree char *canon_found = g_canonicalize_filename (found, "/");
  return strcmp (canon_arg, canon_found) == 0;
}

static gboolean
is_bots_engine (const char *arg, JqPathLookup lookup, gpointer user_data)
{
  return names_program (arg, "bots-engine", lookup, user_data)
         || names_program (arg, "bots-engine.py", lookup, user_data);
}

/* python, python3, python2.7, ... */
static gboolean
is_python_name (const char *name)
{
  if (!g_str_has_prefix (name, "python"))
    return FALSE;
  return strspn (name + 6, "0123456789.") == strlen (name + 6);
}

static gboolean
is_python (const char *arg, JqPathLookup lookup, gpointer user_data)
{
  g_autofree char *base = g_path_get_basename (arg);
  return is_python_name (base) && names_program (arg, base, lookup, user_data);
}

gboolean
jq_task_is_authorized (const char *const *argv, const char *const *authorized,
                       JqPathLookup lookup, gpointer user_data)
{
  if (argv == NULL || argv[0] == NULL)
    return FALSE;
  if (lookup == NULL)
    lookup = default_lookup;
  for (gsize i = 0; authorized != NULL && authorized[i] != NULL; i++)
    if (strcmp (authorized[i], "*") == 0
        || strcmp (authorized[i], argv[0]) == 0)
      return TRUE;
  if (is_bots_engine (argv[0], lookup, user_data))
    return TRUE;
  if (argv[1] == NULL)
    return FALSE;
  return is_python (argv[0], lookup, user_data)
         && is_bots_engine (argv[1], lookup, user_data);
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
