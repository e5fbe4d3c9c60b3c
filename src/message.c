/* XML-RPC messages from peers we do not trust: strict parsing.
 *
 * Why not xmlrpc-c's own parser: version 1.33 expands internal entities
 * (a 1 KB DOCTYPE costs gigabytes), recurses once per element (7,000
 * nested elements overflow a thread's stack) and crashes while wording
 * its error for an <i8> that is not a number.  A text screen in front of
 * it was bypassed three ways, so it no longer sees a peer's bytes at all.
 *
 * Here GLib's GMarkup does the XML: it knows no DTD (a DOCTYPE reaches us
 * as "passthrough" text and is refused), expands only XML's five entities
 * and character references, validates UTF-8, and keeps its element stack
 * on the heap.  On top of it a small grammar of the XML-RPC subset refuses
 * at the first element that does not belong, so nothing is built for a
 * bad message beyond what was read.  Depth is counted at every start tag
 * and refused past JQ_MESSAGE_MAX_DEPTH: bounded by construction, not by
 * looking for "/>" in text.
 *
 * Every scalar is checked as it ends: integers are decimal (ASCII white
 * space around, one optional sign, digits only) and in range for their
 * element; booleans are 0 or 1; doubles are finite decimals; strings hold
 * no NUL; base64 is canonical; dates are ISO 8601 as XML-RPC writes them.
 * That is everything Python's xmlrpc.client (3) and xmlrpclib (2) write,
 * including <value>text</value> as a string, <nil/>, <i8>, no <params>,
 * comments, CDATA and the <?xml ...?> declaration.  Unknown elements,
 * attributes other than xmlns declarations, and text where no text belongs
 * are refused rather than ignored as Python would: a peer that writes them
 * is not one we know. */
#include "message.h"

#include <math.h>
#include <string.h>

#include "error.h"

typedef enum {
  EL_METHOD_CALL, EL_METHOD_RESPONSE, EL_METHOD_NAME, EL_PARAMS, EL_PARAM,
  EL_FAULT, EL_VALUE, EL_ARRAY, EL_DATA, EL_STRUCT, EL_MEMBER, EL_NAME,
  /* the scalars, from here on: they hold text only */
  EL_INT, EL_I8, EL_BOOLEAN, EL_DOUBLE, EL_STRING, EL_BASE64, EL_DATETIME,
  EL_NIL,
} Element;

static const struct {
  const char *name;
  Element     element;
} elements[] = {
  { "methodCall", EL_METHOD_CALL }, { "methodResponse", EL_METHOD_RESPONSE },
  { "methodName", EL_METHOD_NAME }, { "params", EL_PARAMS },
  { "param", EL_PARAM }, { "fault", EL_FAULT }, { "value", EL_VALUE },
  { "array", EL_ARRAY }, { "data", EL_DATA }, { "struct", EL_STRUCT },
  { "member", EL_MEMBER }, { "name", EL_NAME }, { "int", EL_INT },
  { "i4", EL_INT }, { "i8", EL_I8 }, { "ex:i8", EL_I8 },
  { "boolean", EL_BOOLEAN }, { "double", EL_DOUBLE },
  { "string", EL_STRING }, { "base64", EL_BASE64 },
  { "dateTime.iso8601", EL_DATETIME }, { "nil", EL_NIL },
  { "ex:nil", EL_NIL },
};

typedef struct {
  Element       element;
  guint         children;   /* child elements seen so far */
  xmlrpc_value *value;      /* VALUE, PARAM, FAULT, MEMBER: the value read;
                             * ARRAY: the array; STRUCT: the struct */
  char         *name;       /* MEMBER: its name, once read */
  gsize         name_len;
} Frame;

typedef struct {
  Element       root;       /* EL_METHOD_CALL or EL_METHOD_RESPONSE */
  GArray       *stack;      /* Frame, innermost last */
  GString      *text;       /* text of the innermost VALUE or scalar */
  gboolean      ended;      /* the root element has closed */
  gboolean      seen_root;
  char         *method;     /* call: methodName */
  gsize         method_len;
  xmlrpc_value *params;     /* call: the params array; response: the value */
  gboolean      fault;      /* response: <fault> rather than <params> */
} Parser;

static void
frame_clear (gpointer p)
{
  Frame *f = p;
  if (f->value != NULL)
    xmlrpc_DECREF (f->value);
  g_free (f->name);
}

static Frame *
top (Parser *p)
{
  return p->stack->len > 0
    ? &g_array_index (p->stack, Frame, p->stack->len - 1) : NULL;
}

/* At most 40 characters of peer text for a message, control characters
 * shown as '?'. */
static char *
quote (const char *text, gsize len)
{
  g_autofree char *valid = g_utf8_make_valid (text, (gssize) len);
  GString *out = g_string_new ("\"");
  const char *s = valid;
  for (int n = 0; *s != '\0'; n++, s = g_utf8_next_char (s))
    {
      if (n == 40)
        {
          g_string_append (out, "...");
          break;
        }
      if ((guchar) *s < 0x20 || *s == 0x7f)
        g_string_append_c (out, '?');
      else
        g_string_append_len (out, s, g_utf8_next_char (s) - s);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

static gboolean
all_space (const char *text, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isspace (text[i]))
      return FALSE;
  return TRUE;
}

static gboolean
oom (xmlrpc_env *env, GError **error)
{
  if (!env->fault_occurred)
    return FALSE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "cannot build the value: %s",
               env->fault_string);
  return TRUE;
}

/* ------------------------------------------------------------ scalars */

/* Decimal integer text: ASCII white space around, one optional sign,
 * digits.  Sets *@too_big when it is one but outside [@min, @max]. */
static gboolean
parse_integer (const char *text, gsize len, gint64 min, gint64 max,
               gint64 *out, gboolean *too_big)
{
  const char *p = text, *end = text + len;
  gboolean negative = FALSE;
  *too_big = FALSE;
  while (p < end && g_ascii_isspace (*p))
    p++;
  if (p < end && (*p == '+' || *p == '-'))
    negative = *p++ == '-';
  if (p == end || !g_ascii_isdigit (*p))
    return FALSE;
  guint64 limit = negative ? (guint64) (-(min + 1)) + 1 : (guint64) max;
  guint64 v = 0;
  for (; p < end && g_ascii_isdigit (*p); p++)
    {
      guint d = *p - '0';
      if (!*too_big && v > (limit - d) / 10)
        *too_big = TRUE;
      v = v * 10 + d;
    }
  while (p < end && g_ascii_isspace (*p))
    p++;
  if (p != end)
    {
      *too_big = FALSE;
      return FALSE;
    }
  if (*too_big)
    return FALSE;
  *out = negative ? (gint64) (0 - v) : (gint64) v;
  return TRUE;
}

/* A finite decimal: [sign] digits [. digits] [e [sign] digits], with at
 * least one digit before the exponent.  Python writes repr(), which is
 * this for every finite float. */
static gboolean
parse_double (const char *text, gsize len, double *out)
{
  const char *p = text, *end = text + len;
  gsize digits = 0;
  while (p < end && g_ascii_isspace (*p))
    p++;
  const char *start = p;
  if (p < end && (*p == '+' || *p == '-'))
    p++;
  for (; p < end && g_ascii_isdigit (*p); p++)
    digits++;
  if (p < end && *p == '.')
    for (p++; p < end && g_ascii_isdigit (*p); p++)
      digits++;
  if (digits == 0)
    return FALSE;
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p == end || !g_ascii_isdigit (*p))
        return FALSE;
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  const char *stop = p;
  while (p < end && g_ascii_isspace (*p))
    p++;
  if (p != end || stop - start > 400)
    return FALSE;
  g_autofree char *copy = g_strndup (start, stop - start);
  *out = g_ascii_strtod (copy, NULL);
  return isfinite (*out);
}

/* Canonical base64: the alphabet, '=' padding only at the end, a length
 * that is a multiple of four once white space (Python writes a newline
 * every 76 characters) is left out. */
static guchar *
parse_base64 (const char *text, gsize len, gsize *out_len)
{
  g_autoptr (GString) packed = g_string_sized_new (len);
  gsize pad = 0;
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];
      if (g_ascii_isspace (c))
        continue;
      if (c == '=')
        pad++;
      else if (pad > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        return NULL;
      g_string_append_c (packed, c);
    }
  if (packed->len % 4 != 0 || pad > 2)
    return NULL;
  if (packed->len == 0)
    {
      *out_len = 0;
      return g_malloc0 (1);
    }
  return g_base64_decode (packed->str, out_len);
}

static gboolean
digits (const char *p, int n, guint *out)
{
  guint v = 0;
  for (int i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (p[i]))
        return FALSE;
      v = v * 10 + (p[i] - '0');
    }
  *out = v;
  return TRUE;
}

/* YYYYMMDDTHH:MM:SS (what Python and xmlrpc-c write) or YYYY-MM-DDTHH:MM:SS,
 * with an optional fraction of up to six digits. */
static gboolean
parse_datetime (const char *text, gsize len, xmlrpc_datetime *dt)
{
  char buf[40];
  gsize n = 0;
  memset (dt, 0, sizeof *dt);
  while (len > 0 && g_ascii_isspace (text[len - 1]))
    len--;
  while (len > 0 && g_ascii_isspace (*text))
    text++, len--;
  if (len >= sizeof buf)
    return FALSE;
  for (gsize i = 0; i < len; i++)   /* drop the date's dashes */
    if (!(text[i] == '-' && (i == 4 || i == 7) && len > 10 && text[10] == 'T'))
      buf[n++] = text[i];
  buf[n] = '\0';
  if (n < 17 || buf[8] != 'T' || buf[11] != ':' || buf[14] != ':'
      || !digits (buf, 4, &dt->Y) || !digits (buf + 4, 2, &dt->M)
      || !digits (buf + 6, 2, &dt->D) || !digits (buf + 9, 2, &dt->h)
      || !digits (buf + 12, 2, &dt->m) || !digits (buf + 15, 2, &dt->s))
    return FALSE;
  if (n > 17)
    {
      gsize frac = n - 18;
      if (buf[17] != '.' || frac < 1 || frac > 6
          || !digits (buf + 18, (int) frac, &dt->u))
        return FALSE;
      for (gsize i = frac; i < 6; i++)
        dt->u *= 10;
    }
  return dt->Y >= 1 && dt->M >= 1 && dt->M <= 12 && dt->D >= 1
    && dt->D <= 31 && dt->h <= 23 && dt->m <= 59 && dt->s <= 59;
}

/* Whether valid UTF-8 @text holds a character of four bytes: xmlrpc-c's
 * strings refuse them (its own error would say "not valid UTF-8"). */
static gboolean
beyond_bmp (const char *text, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if ((guchar) text[i] >= 0xf0)
      return TRUE;
  return FALSE;
}

/* Whether the text of a <name> or <methodName> is one xmlrpc-c can hold
 * (its struct_set_value crashes on a key it cannot make a string of). */
static gboolean
name_ok (const char *text, gsize len, const char *tag, GError **error)
{
  if (memchr (text, '\0', len) == NULL && !beyond_bmp (text, len))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "<%s> holds a NUL or a "
               "character beyond U+FFFF", tag);
  return FALSE;
}

/* A number scalar (int, i8, boolean, double) from its text, or NULL with
 * *@what saying what is wrong with it. */
static xmlrpc_value *
number_value (xmlrpc_env *env, Element el, const char *text, gsize len,
              const char **what)
{
  gint64 n = 0;
  gboolean too_big = FALSE;
  double d = 0;
  switch (el)
    {
    case EL_INT:
      if (parse_integer (text, len, G_MININT32, G_MAXINT32, &n, &too_big))
        return xmlrpc_int_new (env, (int) n);
      *what = too_big ? "an integer out of its 32-bit range" : "not an integer";
      return NULL;
    case EL_I8:
      if (parse_integer (text, len, G_MININT64, G_MAXINT64, &n, &too_big))
        return xmlrpc_i8_new (env, n);
      *what = too_big ? "an integer out of its 64-bit range" : "not an integer";
      return NULL;
    case EL_BOOLEAN:
      if (len == 1 && (text[0] == '0' || text[0] == '1'))
        return xmlrpc_bool_new (env, text[0] == '1');
      *what = "not 0 or 1";
      return NULL;
    default:    /* EL_DOUBLE */
      if (parse_double (text, len, &d))
        return xmlrpc_double_new (env, d);
      *what = "not a finite decimal number";
      return NULL;
    }
}

/* A text scalar (string, base64, dateTime.iso8601, nil) from its text,
 * or NULL with *@what saying what is wrong with it. */
static xmlrpc_value *
text_value (xmlrpc_env *env, Element el, const char *text, gsize len,
            const char **what)
{
  switch (el)
    {
    case EL_STRING:
      if (memchr (text, '\0', len) != NULL || !g_utf8_validate (text, len, NULL))
        *what = "a NUL character or bad UTF-8";
      else if (beyond_bmp (text, len))
        *what = "a character beyond U+FFFF, which xmlrpc-c 1.33 cannot hold";
      else
        return xmlrpc_string_new_lp (env, len, text);
      return NULL;
    case EL_BASE64:
      {
        gsize size = 0;
        g_autofree guchar *bytes = parse_base64 (text, len, &size);
        if (bytes != NULL)
          return xmlrpc_base64_new (env, size, bytes);
        *what = "not base64";
        return NULL;
      }
    case EL_DATETIME:
      {
        xmlrpc_datetime dt;
        if (parse_datetime (text, len, &dt))
          return xmlrpc_datetime_new (env, dt);
        *what = "not a date and time as YYYYMMDDTHH:MM:SS";
        return NULL;
      }
    default:    /* EL_NIL */
      if (all_space (text, len))
        return xmlrpc_nil_new (env);
      *what = "text, where nothing belongs";
      return NULL;
    }
}

/* The value of scalar element @el from its text, or NULL with @error. */
static xmlrpc_value *
scalar_value (Element el, const char *tag, const char *text, gsize len,
              GError **error)
{
  xmlrpc_env env;
  xmlrpc_value *v = NULL;
  const char *what = NULL;

  xmlrpc_env_init (&env);
  switch (el)
    {
    case EL_INT:
    case EL_I8:
    case EL_BOOLEAN:
    case EL_DOUBLE:
      v = number_value (&env, el, text, len, &what);
      break;
    case EL_STRING:
    case EL_BASE64:
    case EL_DATETIME:
    case EL_NIL:
      v = text_value (&env, el, text, len, &what);
      break;
    default:
      g_assert_not_reached ();
    }
  if (what != NULL)
    {
      g_autofree char *shown = quote (text, len);
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "<%s> holds %s: %s",
                   tag, shown, what);
    }
  else if (oom (&env, error))
    v = NULL;
  xmlrpc_env_clean (&env);
  return v;
}

/* XML 1.0 allows no C0 control but tab, newline and carriage return, and
 * neither U+FFFE nor U+FFFF: GMarkup lets them through, Python's expat
 * (the parser of every Bots server so far) refuses them, and so do we,
 * written raw or as character references. */
static gboolean
xml_chars_ok (const char *text, gsize len, GError **error)
{
  /* The whole message, before GMarkup sees it: GMarkup checks text and
   * names but not comments, processing instructions or CDATA before the
   * root element, where invalid UTF-8 made it set an error over the one a
   * callback had set ("GError set over the top of a previous GError", an
   * abort under G_DEBUG=fatal-warnings).  Python's expat refuses invalid
   * UTF-8 anywhere too. */
  const char *bad = NULL;
  if (!g_utf8_validate_len (text, len, &bad))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "the message is not "
                   "valid UTF-8 (byte 0x%02x at offset %" G_GSIZE_FORMAT ")",
                   (guchar) *bad, (gsize) (bad - text));
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    {
      guchar c = text[i];
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r')
          || (c == 0xef && i + 2 < len && (guchar) text[i + 1] == 0xbf
              && ((guchar) text[i + 2] & 0xfe) == 0xbe))
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "the message holds "
                       "a character XML does not allow (%s)",
                       c == 0xef ? "U+FFFE or U+FFFF" : "a control character");
          return FALSE;
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------ grammar */

/* Whether @child may start inside @parent (NULL: at the top). */
static gboolean
allowed (Parser *p, const Frame *parent, Element child)
{
  Element el = parent ? parent->element : (Element) -1;
  guint n = parent ? parent->children : 0;
  gboolean ok;

  if (parent == NULL)
    ok = child == p->root && !p->seen_root;
  else
    switch (el)
      {
      case EL_METHOD_CALL:
        ok = (child == EL_METHOD_NAME && n == 0)
          || (child == EL_PARAMS && n == 1);
        break;
      case EL_METHOD_RESPONSE:
        ok = (child == EL_PARAMS || child == EL_FAULT) && n == 0;
        break;
      case EL_PARAMS:
        ok = child == EL_PARAM && (p->root == EL_METHOD_CALL || n == 0);
        break;
      case EL_PARAM:
      case EL_FAULT:
        ok = child == EL_VALUE && n == 0;
        break;
      case EL_VALUE:
        ok = child >= EL_ARRAY && child != EL_DATA && child != EL_MEMBER
          && child != EL_NAME && n == 0;
        break;
      case EL_ARRAY:
        ok = child == EL_DATA && n == 0;
        break;
      case EL_DATA:
        ok = child == EL_VALUE;
        break;
      case EL_STRUCT:
        ok = child == EL_MEMBER;
        break;
      case EL_MEMBER:
        ok = (child == EL_NAME && n == 0) || (child == EL_VALUE && n == 1);
        break;
      default:    /* methodName, name and the scalars hold text only */
        ok = FALSE;
        break;
      }
  return ok;
}

static const char *
element_name (Element el)
{
  for (gsize i = 0; i < G_N_ELEMENTS (elements); i++)
    if (elements[i].element == el)
      return elements[i].name;
  return "?";
}

static void
on_start (GMarkupParseContext *context, const char *name,
          const char **attr_names, const char **attr_values,
          gpointer user_data, GError **error)
{
  Parser *p = user_data;
  Frame *parent = top (p);
  Element el = 0;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (elements); i++)
    if (strcmp (elements[i].name, name) == 0)
      break;
  if (i == G_N_ELEMENTS (elements))
    {
      g_autofree char *shown = quote (name, strlen (name));
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "element %s is not XML-RPC", shown);
      return;
    }
  el = elements[i].element;
  if (p->stack->len >= JQ_MESSAGE_MAX_DEPTH)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "the message is nested deeper than %d elements",
                   JQ_MESSAGE_MAX_DEPTH);
      return;
    }
  if (p->ended || !allowed (p, parent, el))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "<%s> does not belong %s%s%s",
                   name, parent ? "in <" : "here",
                   parent ? element_name (parent->element) : "",
                   parent ? ">" : "");
      return;
    }
  for (i = 0; attr_names[i] != NULL; i++)
    if (strcmp (attr_names[i], "xmlns") != 0
        && !g_str_has_prefix (attr_names[i], "xmlns:"))
      {
        g_autofree char *shown = quote (attr_names[i], strlen (attr_names[i]));
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "attribute %s of <%s> is not XML-RPC", shown, name);
        return;
      }
  /* Text before a value's typed element must be white space. */
  if (parent != NULL && parent->element == EL_VALUE
      && !all_space (p->text->str, p->text->len))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "<value> holds both text and <%s>", name);
      return;
    }
  g_string_truncate (p->text, 0);
  if (parent != NULL)
    parent->children++;
  p->seen_root = TRUE;

  Frame f = { el, 0, NULL, NULL, 0 };
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  if (el == EL_ARRAY)
    f.value = xmlrpc_array_new (&env);
  else if (el == EL_STRUCT)
    f.value = xmlrpc_struct_new (&env);
  else if (el == EL_PARAMS && p->root == EL_METHOD_CALL)
    p->params = xmlrpc_array_new (&env);
  if (!oom (&env, error))
    g_array_append_val (p->stack, f);
  else if (f.value != NULL)
    xmlrpc_DECREF (f.value);
  xmlrpc_env_clean (&env);
}

static void
on_text (GMarkupParseContext *context, const char *text, gsize len,
         gpointer user_data, GError **error)
{
  Parser *p = user_data;
  Frame *f = top (p);
  if (!xml_chars_ok (text, len, error))   /* &#1; and the like */
    return;
  if (f != NULL && (f->element == EL_VALUE || f->element >= EL_INT
                    || f->element == EL_NAME || f->element == EL_METHOD_NAME))
    g_string_append_len (p->text, text, len);
  else if (!all_space (text, len))
    {
      g_autofree char *shown = quote (text, len);
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "text %s where no text "
                   "belongs%s%s%s", shown, f ? " (in <" : "",
                   f ? element_name (f->element) : "", f ? ">)" : "");
    }
}

/* Hands @v (a reference the caller gives up) to the element around the
 * value that just ended. */
static gboolean
deliver (Parser *p, xmlrpc_value *v, GError **error)
{
  Frame *parent = top (p);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  switch (parent->element)
    {
    case EL_PARAM:
    case EL_FAULT:
    case EL_MEMBER:
    case EL_VALUE:
      parent->value = v;
      v = NULL;
      break;
    case EL_DATA:
      {
        Frame *array = &g_array_index (p->stack, Frame, p->stack->len - 2);
        xmlrpc_array_append_item (&env, array->value, v);
      }
      break;
    default:
      g_assert_not_reached ();
    }
  if (v != NULL)
    xmlrpc_DECREF (v);
  gboolean ok = !oom (&env, error);
  xmlrpc_env_clean (&env);
  return ok;
}

/* The end of an element of the message's frame (methodCall,
 * methodResponse, methodName, params, param, fault). */
static void
end_envelope (Parser *p, Frame *f, const char *name, xmlrpc_env *env,
              GError **error)
{
  switch (f->element)
    {
    case EL_METHOD_CALL:
      if (f->children == 0)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "<methodCall> has no <methodName>");
      else if (p->params == NULL)     /* no <params>: no arguments */
        p->params = xmlrpc_array_new (env);
      p->ended = TRUE;
      break;
    case EL_METHOD_RESPONSE:
      if (f->children == 0)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "<methodResponse> has neither <params> nor <fault>");
      p->ended = TRUE;
      break;
    case EL_METHOD_NAME:
      if (name_ok (p->text->str, p->text->len, name, error))
        {
          p->method_len = p->text->len;
          p->method = g_strndup (p->text->str, p->text->len);
        }
      break;
    case EL_PARAMS:
      if (p->root == EL_METHOD_RESPONSE && f->children != 1)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "a response's <params> holds %u <param>, not one",
                     f->children);
      break;
    default:    /* EL_PARAM, EL_FAULT */
      if (f->value == NULL)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "<%s> has no <value>",
                     name);
      else if (p->root == EL_METHOD_CALL)
        xmlrpc_array_append_item (env, p->params, f->value);
      else
        {
          p->params = g_steal_pointer (&f->value);
          p->fault = f->element == EL_FAULT;
        }
      break;
    }
}

static gboolean
is_envelope (int element)
{
  return element == EL_METHOD_CALL || element == EL_METHOD_RESPONSE
         || element == EL_METHOD_NAME || element == EL_PARAMS
         || element == EL_PARAM || element == EL_FAULT;
}

/* The end of an element inside a value.  Returns the value it completes
 * (value, array, struct, a scalar), or NULL. */
static xmlrpc_value *
end_value (Parser *p, Frame *f, const char *name, xmlrpc_env *env,
           GError **error)
{
  switch (f->element)
    {
    case EL_VALUE:
      if (f->value == NULL)    /* <value>text</value> is a string */
        return scalar_value (EL_STRING, "value", p->text->str, p->text->len,
                             error);
      if (all_space (p->text->str, p->text->len))
        return g_steal_pointer (&f->value);
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "<value> holds both text and an element");
      return NULL;
    case EL_ARRAY:
      if (f->children > 0)
        return g_steal_pointer (&f->value);
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "<array> has no <data>");
      return NULL;
    case EL_STRUCT:
      return g_steal_pointer (&f->value);
    case EL_DATA:
      return NULL;
    case EL_MEMBER:
      if (f->name == NULL || f->value == NULL)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "<member> needs a <name> and a <value>");
      else
        xmlrpc_struct_set_value_n (env, top (p)->value, f->name, f->name_len,
                                   f->value);
      return NULL;
    case EL_NAME:
      if (name_ok (p->text->str, p->text->len, name, error))
        {
          Frame *member = top (p);
          member->name = g_strndup (p->text->str, p->text->len);
          member->name_len = p->text->len;
        }
      return NULL;
    default:   /* the scalars */
      return scalar_value (f->element, name, p->text->str, p->text->len,
                           error);
    }
}

static void
on_end (GMarkupParseContext *context, const char *name, gpointer user_data,
        GError **error)
{
  Parser *p = user_data;
  Frame f = *top (p);       /* ours now: emptied before the pop clears it */
  xmlrpc_value *v = NULL;
  xmlrpc_env env;

  memset (top (p), 0, sizeof f);
  g_array_set_size (p->stack, p->stack->len - 1);
  xmlrpc_env_init (&env);
  if (is_envelope (f.element))
    end_envelope (p, &f, name, &env, error);
  else
    v = end_value (p, &f, name, &env, error);
  g_string_truncate (p->text, 0);
  if (v != NULL && (error == NULL || *error == NULL))
    deliver (p, v, error);
  else if (v != NULL)
    xmlrpc_DECREF (v);
  if (error != NULL && *error == NULL)
    oom (&env, error);
  xmlrpc_env_clean (&env);
  frame_clear (&f);
}

/* Comments, processing instructions and DOCTYPE come here.  Only the
 * first two are harmless; the declaration may name an encoding, and only
 * UTF-8 (or its subset ASCII) is read. */
static void
on_passthrough (GMarkupParseContext *context, const char *text, gsize len,
                gpointer user_data, GError **error)
{
  if (len >= 4 && memcmp (text, "<!--", 4) == 0)
    return;
  if (len >= 2 && memcmp (text, "<?", 2) == 0)
    {
      g_autofree char *pi = g_ascii_strdown (text, (gssize) len);
      const char *enc = strstr (pi, "encoding");
      if (g_str_has_prefix (pi, "<?xml") && enc != NULL
          && strstr (enc, "utf-8") == NULL && strstr (enc, "utf8") == NULL
          && strstr (enc, "ascii") == NULL)
        g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                     "only UTF-8 messages are accepted");
      return;
    }
  g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
               "DOCTYPE and ENTITY declarations are not accepted");
}

static const GMarkupParser grammar = {
  on_start, on_end, on_text, on_passthrough, NULL,
};

/* Peer text can end up in an error message (an entity's name, say): keep
 * messages short, whole characters, on one line. */
static void
clamp_message (GError *error)
{
  char *valid = g_utf8_make_valid (error->message, -1);
  g_free (error->message);
  error->message = valid;
  for (char *c = error->message; *c != '\0'; c++)
    if ((guchar) *c < 0x20 || *c == 0x7f)
      *c = '?';     /* a message must not start a new log line */
  if (strlen (error->message) <= 300)
    return;
  char *cut = g_utf8_find_prev_char (error->message, error->message + 297);
  g_autofree char *old = error->message;
  error->message = g_strdup_printf ("%.*s...", (int) (cut - old), old);
}

static gboolean
parse (Parser *p, const char *xml, gsize len, GError **error)
{
  GError *local = NULL;
  if (len > 0 && memchr (xml, '\0', len) != NULL)
    {
      /* never XML; and GMarkup would not always say so */
      g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE,
                   "the message holds a NUL byte");
      return FALSE;
    }
  if (len == 0)
    xml = "";
  if (!xml_chars_ok (xml, len, error))
    return FALSE;
  p->stack = g_array_new (FALSE, TRUE, sizeof (Frame));
  g_array_set_clear_func (p->stack, frame_clear);
  p->text = g_string_new (NULL);
  GMarkupParseContext *context = g_markup_parse_context_new (
      &grammar, G_MARKUP_TREAT_CDATA_AS_TEXT,
      p, NULL);
  gboolean ok = g_markup_parse_context_parse (context, xml, (gssize) len,
                                              &local)
    && g_markup_parse_context_end_parse (context, &local);
  if (!ok && local->domain == JQ_ERROR)    /* ours: say where */
    {
      int line = 0, column = 0;
      g_markup_parse_context_get_position (context, &line, &column);
      g_prefix_error (&local, "line %d char %d: ", line, column);
    }
  g_markup_parse_context_free (context);
  g_array_unref (p->stack);
  g_string_free (p->text, TRUE);
  if (ok && !p->ended)      /* GMarkup accepts an empty document */
    {
      ok = FALSE;
      g_set_error (&local, JQ_ERROR, JQ_ERROR_PARSE, "the message is empty");
    }
  if (!ok)
    {
      /* GMarkup's own errors are in its domain; say them in ours. */
      if (local->domain != JQ_ERROR)
        {
          local->domain = JQ_ERROR;
          local->code = JQ_ERROR_PARSE;
        }
      clamp_message (local);
      g_propagate_error (error, local);
      g_clear_pointer (&p->method, g_free);
      if (p->params != NULL)
        xmlrpc_DECREF (p->params);
      p->params = NULL;
    }
  return ok;
}

gboolean
jq_message_parse_call (const char *xml, gsize len, char **method,
                       xmlrpc_value **params, GError **error)
{
  Parser p = { .root = EL_METHOD_CALL };
  if (!parse (&p, xml, len, error))
    return FALSE;
  *method = p.method;
  *params = p.params;
  return TRUE;
}

xmlrpc_value *
jq_message_parse_response (const char *xml, gsize len, GError **error)
{
  Parser p = { .root = EL_METHOD_RESPONSE };
  if (!parse (&p, xml, len, error))
    return NULL;
  if (!p.fault)
    return p.params;

  /* A fault is a struct of faultCode (int) and faultString (string). */
  xmlrpc_env env;
  xmlrpc_value *code = NULL, *string = NULL;
  const char *text = NULL;
  xmlrpc_env_init (&env);
  if (xmlrpc_value_type (p.params) == XMLRPC_TYPE_STRUCT)
    {
      xmlrpc_struct_find_value (&env, p.params, "faultCode", &code);
      xmlrpc_struct_find_value (&env, p.params, "faultString", &string);
    }
  if (code != NULL && xmlrpc_value_type (code) == XMLRPC_TYPE_INT
      && string != NULL && xmlrpc_value_type (string) == XMLRPC_TYPE_STRING)
    xmlrpc_read_string (&env, string, &text);
  if (text != NULL && !env.fault_occurred)
    g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "%s", text);
  else
    g_set_error (error, JQ_ERROR, JQ_ERROR_PARSE, "the fault is not a struct "
                 "of faultCode (int) and faultString (string)");
  free ((void *) text);
  if (code != NULL)
    xmlrpc_DECREF (code);
  if (string != NULL)
    xmlrpc_DECREF (string);
  xmlrpc_DECREF (p.params);
  xmlrpc_env_clean (&env);
  return NULL;
}
