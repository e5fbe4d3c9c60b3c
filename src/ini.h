/* A reader for INI files with Python ConfigParser (RawConfigParser) semantics.
 *
 * bots.ini is written for Python, so GKeyFile will not do: ConfigParser
 * accepts "key: value", ";" comments, indented continuation lines,
 * case-insensitive option names and a [DEFAULT] section whose keys every
 * other section inherits.  No interpolation is done. */
#pragma once

#include <glib.h>

typedef struct _JqIni JqIni;

/* Parses @len bytes of @text.  @filename is used in error messages only.
 * Returns the parsed file, or NULL and sets @error (JQ_ERROR_PARSE, the
 * message naming the file and line) on a syntax error. */
JqIni *jq_ini_parse (const char *text, gsize len, const char *filename,
                     GError **error);

/* The largest file jq_ini_load() reads; Bots' own bots.ini is ~5 KB. */
#define JQ_INI_MAX_SIZE (1024 * 1024)

/* Reads and parses the file at @path.  Returns NULL and sets @error when
 * the file cannot be read (JQ_ERROR_NOT_FOUND or JQ_ERROR_IO), is not a
 * regular file (a link to /dev/zero, a FIFO: JQ_ERROR_IO), is larger than
 * JQ_INI_MAX_SIZE (JQ_ERROR_IO), or cannot be parsed. */
JqIni *jq_ini_load (const char *path, GError **error);

void jq_ini_free (JqIni *ini);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqIni, jq_ini_free)

/* Returns the value of @key in @section (section names are case-sensitive,
 * keys are not), falling back to [DEFAULT]; NULL when absent.  The string
 * belongs to @ini. */
const char *jq_ini_get (const JqIni *ini, const char *section,
                        const char *key);

gboolean jq_ini_has_section (const JqIni *ini, const char *section);

/* Typed getters.  When the key is absent, *@out = @fallback and TRUE is
 * returned.  When the value does not convert, FALSE is returned and @error
 * (JQ_ERROR_CONFIG) names file, line, section, key and value. */
gboolean jq_ini_get_bool (const JqIni *ini, const char *section,
                          const char *key, gboolean fallback,
                          gboolean *out, GError **error);
gboolean jq_ini_get_int (const JqIni *ini, const char *section,
                         const char *key, gint64 fallback, gint64 *out,
                         GError **error);

/* Python's getboolean() words: 1/yes/true/on, 0/no/false/off, any case.
 * Returns FALSE when @text is none of them. */
gboolean jq_parse_bool (const char *text, gboolean *out);

/* Python's int(): optional surrounding white space and sign, decimal
 * digits (underscores between digits allowed).  FALSE on anything else or
 * overflow. */
gboolean jq_ini_parse_int (const char *text, gint64 *out);
