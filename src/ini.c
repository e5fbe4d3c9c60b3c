/* INI reader with Python ConfigParser (RawConfigParser) semantics.
 *
 * The rules follow what Python 3's ConfigParser does with its default
 * options, with one deliberate difference: a repeated section is merged and
 * a repeated option keeps its last value (as Python 2, which Bots 3 runs on,
 * did) instead of being refused; see doc/configuration.md. */
#include "ini.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "ownedfile.h"

typedef struct {
  char *value;
  int   line;              /* 1-based line of the "key = value" line */
} IniValue;

struct _JqIni {
  char       *filename;
  GHashTable *sections;    /* section name -> GHashTable (lower key -> IniValue) */
};

static void
ini_value_free (gpointer p)
{
  IniValue *v = p;
  g_free (v->value);
  g_free (v);
}

static GHashTable *
section_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                ini_value_free);
}

void
jq_ini_free (JqIni *ini)
{
  if (ini == NULL)
    return;
  g_hash_table_unref (ini->sections);
  g_free (ini->filename);
  g_free (ini);
}

/* A value being built from its first line and any continuation lines. */
typedef struct {
  GString *text;
  guint    pending_blank;   /* blank lines seen inside the value so far */
} Building;

static void
finish_value (GHashTable *section, const char *key, Building *b, int line)
{
  IniValue *v = g_new0 (IniValue, 1);
  /* Python joins the lines and strips trailing white space. */
  g_strchomp (b->text->str);
  v->value = g_string_free (b->text, FALSE);
  v->line = line;
  b->text = NULL;
  b->pending_blank = 0;
  g_hash_table_replace (section, g_ascii_strdown (key, -1), v);
}

static gboolean
is_comment (const char *stripped)
{
  return stripped[0] == '#' || stripped[0] == ';';
}

/* The parse of one file, line by line. */
typedef struct {
  JqIni      *ini;
  const char *filename;
  GHashTable *section;      /* borrowed from ini->sections; NULL before
                             * the first header */
  char       *key;          /* option whose value is open, or NULL */
  int         key_line;
  gsize       key_indent;
  Building    value;
} Parser;

static void
close_value (Parser *p)
{
  if (p->key == NULL)
    return;
  finish_value (p->section, p->key, &p->value, p->key_line);
  g_clear_pointer (&p->key, g_free);
}

/* "[name]": later options go to that section (made at its first
 * header; a repeated header adds to it). */
static gboolean
parse_section (Parser *p, const char *stripped, int lineno, GError **error)
{
  const char *close = strrchr (stripped, ']');
  if (close == NULL || close == stripped + 1)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "%s line %d: %s section header: %s", p->filename,
                   lineno, close == NULL ? "unterminated" : "empty",
                   stripped);
      return FALSE;
    }
  g_autofree char *name = g_strndup (stripped + 1, close - stripped - 1);
  p->section = g_hash_table_lookup (p->ini->sections, name);
  if (p->section == NULL)
    {
      p->section = section_new ();
      g_hash_table_insert (p->ini->sections, g_steal_pointer (&name),
                           p->section);
    }
  return TRUE;
}

/* "key = value" or "key: value": opens a value that indented lines below
 * may continue. */
static gboolean
parse_option (Parser *p, char *stripped, gsize indent, int lineno,
              GError **error)
{
  if (p->section == NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "%s line %d: setting before any [section] header: %s",
                   p->filename, lineno, stripped);
      return FALSE;
    }
  gsize delim = strcspn (stripped, "=:");
  if (stripped[delim] == '\0')
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "%s line %d: expected \"key = value\" or "
                   "\"key: value\", got: %s", p->filename, lineno, stripped);
      return FALSE;
    }
  g_autofree char *name = g_strchomp (g_strndup (stripped, delim));
  if (name[0] == '\0')
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "%s line %d: a value without a key: %s", p->filename,
                   lineno, stripped);
      return FALSE;
    }
  p->key = g_steal_pointer (&name);
  p->key_line = lineno;
  p->key_indent = indent;
  p->value.text = g_string_new (g_strchug (stripped + delim + 1));
  p->value.pending_blank = 0;
  return TRUE;
}

/* One line, by its kind: blank or comment, continuation of the open
 * value, section header, or option. */
static gboolean
parse_line (Parser *p, char *line, int lineno, GError **error)
{
  gsize l = strlen (line);
  if (l > 0 && line[l - 1] == '\r')
    line[--l] = '\0';
  gsize indent = strspn (line, " \t\f\v");
  g_autofree char *stripped = g_strstrip (g_strdup (line));

  if (stripped[0] == '\0' || is_comment (stripped))
    {
      /* A blank line may sit inside a multi-line value; a comment line
       * is dropped without ending it. */
      if (stripped[0] == '\0' && p->key != NULL)
        p->value.pending_blank++;
      return TRUE;
    }
  if (p->key != NULL && indent > p->key_indent)
    {
      Building *b = &p->value;
      for (; b->pending_blank > 0; b->pending_blank--)
        g_string_append_c (b->text, '\n');
      g_string_append_c (b->text, '\n');
      g_string_append (b->text, stripped);
      return TRUE;
    }
  close_value (p);
  if (stripped[0] == '[')
    return parse_section (p, stripped, lineno, error);
  return parse_option (p, stripped, indent, lineno, error);
}

JqIni *
jq_ini_parse (const char *text, gsize len, const char *filename,
              GError **error)
{
  g_autoptr (JqIni) ini = g_new0 (JqIni, 1);
  ini->filename = g_strdup (filename);
  ini->sections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_hash_table_unref);

  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "%s: contains a NUL byte; not a text file", filename);
      return NULL;
    }
  g_autofree char *copy = g_strndup (text, len);
  char *start = copy;
  if (g_str_has_prefix (start, "\xEF\xBB\xBF"))
    start += 3;

  /* Line ends as Python's universal newlines read them: \n, \r\n and a
   * lone \r (old Mac files), which Python reads as a line end too; read
   * as text, "enabled = True" on such a file was not found. */
  char *out = start;
  for (const char *in = start; *in != '\0'; in++)
    if (*in != '\r')
      *out++ = *in;
    else if (in[1] != '\n')
      *out++ = '\n';
  *out = '\0';
  g_auto (GStrv) lines = g_strsplit (start, "\n", -1);
  Parser p = { .ini = ini, .filename = filename };
  for (int i = 0; lines[i] != NULL; i++)
    if (!parse_line (&p, lines[i], i + 1, error))
      return NULL;
  close_value (&p);
  return g_steal_pointer (&ini);
}

JqIni *
jq_ini_load (const char *path, GError **error)
{
  gsize len = 0;
  g_autofree char *text = jq_ownedfile_read (path, "bots.ini",
                                             JQ_INI_MAX_SIZE,
                                             JQ_OWNEDFILE_WHOLE, &len, error);
  if (text == NULL)
    return NULL;
  return jq_ini_parse (text, len, path, error);
}

static const IniValue *
lookup (const JqIni *ini, const char *section, const char *key)
{
  g_autofree char *lower = g_ascii_strdown (key, -1);
  const char *names[] = { section, "DEFAULT" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      GHashTable *s = g_hash_table_lookup (ini->sections, names[i]);
      IniValue *v = s ? g_hash_table_lookup (s, lower) : NULL;
      if (v != NULL)
        return v;
    }
  return NULL;
}

const char *
jq_ini_get (const JqIni *ini, const char *section, const char *key)
{
  const IniValue *v = lookup (ini, section, key);
  return v ? v->value : NULL;
}

gboolean
jq_ini_has_section (const JqIni *ini, const char *section)
{
  return g_hash_table_contains (ini->sections, section);
}

gboolean
jq_parse_bool (const char *text, gboolean *out)
{
  static const char *const yes[] = { "1", "yes", "true", "on" };
  static const char *const no[] = { "0", "no", "false", "off" };

  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (text, yes[i]) == 0)
        return *out = TRUE, TRUE;
      if (g_ascii_strcasecmp (text, no[i]) == 0)
        return *out = FALSE, TRUE;
    }
  return FALSE;
}

gboolean
jq_ini_parse_int (const char *text, gint64 *out)
{
  g_autofree char *digits = g_strstrip (g_strdup (text));
  const char *p = digits;
  gboolean negative = FALSE;
  guint64 value = 0;
  gboolean last_was_digit = FALSE;

  if (*p == '+' || *p == '-')
    negative = (*p++ == '-');
  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; *p != '\0'; p++)
    {
      if (*p == '_' && last_was_digit && g_ascii_isdigit (p[1]))
        {
          last_was_digit = FALSE;
          continue;
        }
      if (!g_ascii_isdigit (*p))
        return FALSE;
      value = value * 10 + (guint64) (*p - '0');
      if (value > (guint64) G_MAXINT64)
        return FALSE;
      last_was_digit = TRUE;
    }
  *out = negative ? -(gint64) value : (gint64) value;
  return TRUE;
}

gboolean
jq_ini_get_bool (const JqIni *ini, const char *section, const char *key,
                 gboolean fallback, gboolean *out, GError **error)
{
  const IniValue *v = lookup (ini, section, key);
  if (v == NULL)
    return *out = fallback, TRUE;
  if (jq_parse_bool (v->value, out))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
               "%s line %d: [%s] %s = \"%s\" is not a boolean "
               "(use true/false, yes/no, on/off or 1/0)",
               ini->filename, v->line, section, key, v->value);
  return FALSE;
}

gboolean
jq_ini_get_int (const JqIni *ini, const char *section, const char *key,
                gint64 fallback, gint64 *out, GError **error)
{
  const IniValue *v = lookup (ini, section, key);
  if (v == NULL)
    return *out = fallback, TRUE;
  if (jq_ini_parse_int (v->value, out))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
               "%s line %d: [%s] %s = \"%s\" is not a whole number",
               ini->filename, v->line, section, key, v->value);
  return FALSE;
}
