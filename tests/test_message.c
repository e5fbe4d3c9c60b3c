/* Tests of the strict XML-RPC parser: what Python writes is read, the
 * inputs that crashed xmlrpc-c 1.33 and their variants are refused with a
 * message, and nothing is read past the given length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "message.h"
#include "xmlwriter.h"

#define CALL(params) \
  "<?xml version='1.0'?>\n<methodCall>\n<methodName>m</methodName>\n" \
  "<params>\n" params "</params>\n</methodCall>\n"
#define P(value) "<param>\n<value>" value "</value>\n</param>\n"

/* Parses @xml (exactly strlen bytes, copied so that nothing follows it)
 * as a call; returns its params or NULL with *@message set (g_free). */
static xmlrpc_value *
parse (const char *xml, char **method, char **message)
{
  gsize len = strlen (xml);
  g_autofree char *exact = g_memdup2 (xml, len);
  g_autoptr (GError) error = NULL;
  xmlrpc_value *params = NULL;
  char *name = NULL;

  *message = NULL;
  if (!jq_message_parse_call (exact, len, &name, &params, &error))
    {
      assert_null (name);
      assert_null (params);
      assert_true (error->domain == JQ_ERROR);
      assert_int_equal (error->code, JQ_ERROR_PARSE);
      assert_true (g_utf8_validate (error->message, -1, NULL));
      assert_true (strlen (error->message) <= 300);
      for (const char *c = error->message; *c; c++)
        assert_true ((guchar) *c >= 0x20);
      *message = g_strdup (error->message);
      return NULL;
    }
  assert_non_null (name);
  if (method != NULL)
    *method = name;
  else
    g_free (name);
  assert_int_equal (xmlrpc_value_type (params), XMLRPC_TYPE_ARRAY);
  return params;
}

static void
expect_refused (const char *xml, const char *needle)
{
  g_autofree char *message = NULL;
  xmlrpc_value *v = parse (xml, NULL, &message);
  if (v != NULL)
    {
      xmlrpc_DECREF (v);
      fail_msg ("accepted: %s", xml);
    }
  if (strstr (message, needle) == NULL)
    fail_msg ("message \"%s\" lacks \"%s\" for %s", message, needle, xml);
}

/* The one parameter of @xml, which must parse (caller DECREFs). */
static xmlrpc_value *
only_param (const char *xml)
{
  g_autofree char *message = NULL;
  xmlrpc_value *params = parse (xml, NULL, &message);
  if (params == NULL)
    fail_msg ("refused (%s): %s", message, xml);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  assert_int_equal (xmlrpc_array_size (&env, params), 1);
  xmlrpc_value *v = NULL;
  xmlrpc_array_read_item (&env, params, 0, &v);
  assert_false (env.fault_occurred);
  xmlrpc_DECREF (params);
  xmlrpc_env_clean (&env);
  return v;
}

static gint64
int_of (const char *value_xml, xmlrpc_type type)
{
  g_autofree char *xml = g_strdup_printf (CALL (P ("%s")), value_xml);
  xmlrpc_value *v = only_param (xml);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  gint64 out = 0;
  assert_int_equal (xmlrpc_value_type (v), type);
  if (type == XMLRPC_TYPE_INT)
    {
      int i = 0;
      xmlrpc_read_int (&env, v, &i);
      out = i;
    }
  else
    {
      xmlrpc_int64 i = 0;
      xmlrpc_read_i8 (&env, v, &i);
      out = i;
    }
  assert_false (env.fault_occurred);
  xmlrpc_DECREF (v);
  xmlrpc_env_clean (&env);
  return out;
}

static char *
string_of (const char *value_xml, gsize *len)
{
  g_autofree char *xml = g_strdup_printf (CALL (P ("%s")), value_xml);
  xmlrpc_value *v = only_param (xml);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  assert_int_equal (xmlrpc_value_type (v), XMLRPC_TYPE_STRING);
  const char *s = NULL;
  size_t n = 0;
  xmlrpc_read_string_lp (&env, v, &n, &s);
  assert_false (env.fault_occurred);
  char *out = g_strndup (s, n);
  *len = n;
  free ((void *) s);
  xmlrpc_DECREF (v);
  xmlrpc_env_clean (&env);
  return out;
}

static void
expect_value_refused (const char *value_xml, const char *needle)
{
  g_autofree char *xml = g_strdup_printf (CALL (P ("%s")), value_xml);
  expect_refused (xml, needle);
}

/* ------------------------------------------------------------ tests */

static void
test_python3_addjob (void **state)
{
  /* exactly what xmlrpc.client.dumps((['bots-engine', '-cconfig'], 5),
   * 'addjob') writes */
  static const char xml[] =
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>addjob</methodName>\n"
    "<params>\n<param>\n<value><array><data>\n"
    "<value><string>bots-engine</string></value>\n"
    "<value><string>-cconfig</string></value>\n</data></array></value>\n"
    "</param>\n<param>\n<value><int>5</int></value>\n</param>\n</params>\n"
    "</methodCall>\n";
  char *method = NULL;
  g_autofree char *message = NULL;
  xmlrpc_value *params = parse (xml, &method, &message);
  assert_non_null (params);
  assert_string_equal (method, "addjob");
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  const char *a = NULL, *b = NULL;
  int prio = 0;
  xmlrpc_decompose_value (&env, params, "((ss)i)", &a, &b, &prio);
  assert_false (env.fault_occurred);
  assert_string_equal (a, "bots-engine");
  assert_string_equal (b, "-cconfig");
  assert_int_equal (prio, 5);
  free ((void *) a);
  free ((void *) b);
  xmlrpc_DECREF (params);
  xmlrpc_env_clean (&env);
  g_free (method);
}

static void
test_call_shapes (void **state)
{
  g_autofree char *message = NULL;
  char *method = NULL;
  /* no <params> at all, <params/>, and a comment before the root */
  static const char *const empty[] = {
    "<methodCall><methodName>listjobs</methodName></methodCall>",
    "<methodCall><methodName>listjobs</methodName><params/></methodCall>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- x --><methodCall>"
    "<methodName>listjobs</methodName><params></params></methodCall>",
    "<methodCall xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/"
    "extensions\"><methodName>listjobs</methodName></methodCall>",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (empty); i++)
    {
      xmlrpc_value *params = parse (empty[i], &method, &message);
      if (params == NULL)
        fail_msg ("refused (%s): %s", message, empty[i]);
      assert_string_equal (method, "listjobs");
      xmlrpc_env env;
      xmlrpc_env_init (&env);
      assert_int_equal (xmlrpc_array_size (&env, params), 0);
      xmlrpc_env_clean (&env);
      xmlrpc_DECREF (params);
      g_clear_pointer (&method, g_free);
    }
  expect_refused ("", "empty");
  expect_refused ("   ", "empty");
  expect_refused ("garbage", "");
  expect_refused ("<methodCall></methodCall>", "no <methodName>");
  expect_refused ("<methodCall><params/><methodName>m</methodName>"
                  "</methodCall>", "<params> does not belong");
  expect_refused ("<methodCall><methodName>m</methodName><params/><params/>"
                  "</methodCall>", "does not belong");
  expect_refused ("<methodCall><methodName>m</methodName></methodCall>"
                  "<methodCall><methodName>m</methodName></methodCall>", "");
  expect_refused ("<methodResponse><params/></methodResponse>",
                  "does not belong here");
  expect_refused ("<methodCall><methodName>m</methodName>", "");
  expect_refused ("<methodCall><methodName>m</methodName>x</methodCall>",
                  "no text belongs");
  expect_refused ("<methodCall><methodName>m<value/></methodName>"
                  "</methodCall>",
                  "does not belong in <methodName>");
  expect_refused (CALL ("<param></param>"), "<param> has no <value>");
  expect_refused (CALL (P ("<array></array>")), "no <data>");
  expect_refused (CALL (P ("<array><value>1</value></array>")),
                  "does not belong in <array>");
  expect_refused (CALL (P ("<struct><member><value>1</value></member>"
                           "</struct>")), "does not belong in <member>");
  expect_refused (CALL (P ("<struct><member><name>a</name></member>"
                           "</struct>")), "needs a <name> and a <value>");
  expect_refused (CALL (P ("<int>1</int><int>2</int>")), "does not belong");
  /* xmlrpc-c crashed on a struct key it cannot hold (found by fuzzing) */
  expect_refused (CALL (P ("<struct><member><name>\xf0\x9f\x98\x80</name>"
                           "<value>1</value></member></struct>")), "U+FFFF");
  expect_refused ("<methodCall><methodName>\xf0\x9f\x98\x80</methodName>"
                  "</methodCall>", "U+FFFF");
  expect_refused (CALL (P ("x<int>1</int>")), "both text and");
  expect_refused (CALL (P ("<int>1</int>x")), "both text and");
}

/* The inputs that crashed xmlrpc-c 1.33 behind the old screening, and
 * their spellings. */
static void
test_crash_inputs (void **state)
{
  expect_value_refused ("<i8>99999999999999999999</i8>", "64-bit range");
  expect_value_refused ("<i8>-99999999999999999999</i8>", "64-bit range");
  expect_value_refused ("<i8>9223372036854775808</i8>", "64-bit range");
  expect_value_refused ("<i8>-9223372036854775809</i8>", "64-bit range");
  expect_value_refused ("<i8 >abc</i8>", "not an integer");
  expect_value_refused ("<i8\n>abc</i8\n>", "not an integer");
  expect_value_refused ("<ex:i8>abc</ex:i8>", "not an integer");
  expect_value_refused ("<i8>U5</i8>", "not an integer");
  expect_value_refused ("<i8></i8>", "not an integer");
  expect_value_refused ("<i8/>", "not an integer");
  expect_value_refused ("<I8>5</I8>", "\"I8\" is not XML-RPC");
  expect_value_refused ("<i8 a=\"1\">5</i8>", "attribute \"a\"");
  expect_value_refused ("<int>2147483648</int>", "32-bit range");
  expect_value_refused ("<i4>-2147483649</i4>", "32-bit range");
  expect_value_refused ("<int>" "000000000000000000000000000000000000000"
                        "00000000000000000000000000000000000000000000000001"
                        "0000000000</int>", "32-bit range");

  /* 7,000 levels of <a b="/>">, with and without a root around them:
   * refused at the first element that does not belong, whatever the
   * depth. */
  GString *deep = g_string_new ("<?xml version='1.0'?>");
  for (int i = 0; i < 7000; i++)
    g_string_append (deep, "<a b=\"/>\">");
  expect_refused (deep->str, "\"a\" is not XML-RPC");
  g_string_assign (deep, "<methodCall><methodName>m</methodName><params>"
                         "<param>");
  for (int i = 0; i < 100000; i++)
    g_string_append (deep, "<value><array><data>");
  expect_refused (deep->str, "nested deeper than 32");
  g_string_free (deep, TRUE);
}

static void
test_integers (void **state)
{
  assert_int_equal (int_of ("<int>5</int>", XMLRPC_TYPE_INT), 5);
  assert_int_equal (int_of ("<i4>-5</i4>", XMLRPC_TYPE_INT), -5);
  assert_int_equal (int_of ("<int>-0</int>", XMLRPC_TYPE_INT), 0);
  assert_int_equal (int_of ("<int>+7</int>", XMLRPC_TYPE_INT), 7);
  assert_int_equal (int_of ("<int>007</int>", XMLRPC_TYPE_INT), 7);
  assert_int_equal (int_of ("<int> 12\n</int>", XMLRPC_TYPE_INT), 12);
  /* as Python's expat reads it: the comment is not there */
  assert_int_equal (int_of ("<int>1<!-- -->2</int>", XMLRPC_TYPE_INT), 12);
  assert_int_equal (int_of ("<int>2147483647</int>", XMLRPC_TYPE_INT),
                    G_MAXINT32);
  assert_int_equal (int_of ("<int>-2147483648</int>", XMLRPC_TYPE_INT),
                    G_MININT32);
  assert_true (int_of ("<i8>9223372036854775807</i8>", XMLRPC_TYPE_I8)
               == G_MAXINT64);
  assert_true (int_of ("<i8>-9223372036854775808</i8>", XMLRPC_TYPE_I8)
               == G_MININT64);
  assert_true (int_of ("<ex:i8>-3</ex:i8>", XMLRPC_TYPE_I8) == -3);
  static const char *const bad[] = {
    "<int>--1</int>", "<int>+-1</int>", "<int>1 2</int>", "<int>1_000</int>",
    "<int>0x10</int>", "<int>1.0</int>", "<int>1e3</int>", "<int>-</int>",
    "<int>+</int>", "<int> </int>", "<int>&#x661;</int>", "<int>５</int>",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    expect_value_refused (bad[i], "not an integer");
}

static void
test_strings (void **state)
{
  gsize len = 0;
  g_autofree char *a = string_of ("<string>a &lt;b&gt; &amp; &quot;&apos;"
                                  "&#x41;&#66;</string>", &len);
  assert_string_equal (a, "a <b> & \"'AB");
  g_autofree char *b = string_of ("untyped text", &len);
  assert_string_equal (b, "untyped text");
  g_autofree char *c = string_of ("", &len);
  assert_string_equal (c, "");
  g_autofree char *d = string_of ("<string/>", &len);
  assert_string_equal (d, "");
  g_autofree char *e = string_of ("<string><![CDATA[<x>&amp;]]>y</string>",
                                  &len);
  assert_string_equal (e, "<x>&amp;y");
  g_autofree char *f = string_of ("<string>h\xc3\xa9 \xe2\x82\xac"
                                  "</string>", &len);
  assert_string_equal (f, "h\xc3\xa9 \xe2\x82\xac");
  g_autofree char *g = string_of ("  spaced  ", &len);
  assert_string_equal (g, "  spaced  ");
  g_autofree char *h = string_of ("<string>a<!-- c -->b</string>", &len);
  assert_string_equal (h, "ab");

  /* what XML 1.0 forbids, written raw or as a reference, as Python's
   * expat refuses it */
  expect_value_refused ("<string>a\x01b</string>", "control character");
  expect_value_refused ("<string>\x1b[2J</string>", "control character");
  expect_value_refused ("<string>a&#1;b</string>", "");
  expect_value_refused ("<string>a&#x1b;b</string>", "");
  expect_value_refused ("<string>\xef\xbf\xbe</string>", "U+FFFE");
  expect_value_refused ("<string>&#xFFFF;</string>", "");
  expect_value_refused ("<string>a&#0;b</string>", "");
  expect_value_refused ("<string>a&#x0;b</string>", "");
  expect_value_refused ("<string>&lol;</string>", "");
  expect_value_refused ("<string>&#xD800;</string>", "");
  expect_value_refused ("<string>\xff\xfe</string>", "");
  /* a limit of xmlrpc-c 1.33's strings, said as such */
  expect_value_refused ("<string>\xf0\x9f\x98\x80</string>", "U+FFFF");
  expect_value_refused ("<string>\xc3</string>", "");
  expect_value_refused ("<string><value>x</value></string>", "does not belong");
}

/* A NUL byte in the body: refused, never cut short at it. */
static void
test_nul_byte (void **state)
{
  static const char body[] = CALL (P ("<string>a\0b</string>"));
  g_autoptr (GError) error = NULL;
  char *method = NULL;
  xmlrpc_value *params = NULL;
  assert_false (jq_message_parse_call (body, sizeof body - 1, &method,
                                       &params, &error));
  assert_null (params);
  g_clear_error (&error);
  static const char name[] = "<methodCall><methodName>a\0b</methodName>"
                             "</methodCall>";
  assert_false (jq_message_parse_call (name, sizeof name - 1, &method,
                                       &params, &error));
}

static void
test_other_scalars (void **state)
{
  static const char xml[] = CALL (
    P ("<boolean>1</boolean>") P ("<boolean>0</boolean>")
    P ("<double>-1.5e3</double>") P ("<double>2</double>")
    P ("<base64>aGVsbG8=\n</base64>") P ("<base64></base64>")
    P ("<dateTime.iso8601>20261128T08:30:01</dateTime.iso8601>")
    P ("<dateTime.iso8601>2026-11-28T08:30:01.25</dateTime.iso8601>")
    P ("<nil/>") P ("<ex:nil/>")
    P ("<struct><member><name>a</name><value><int>1</int></value></member>"
       "<member><name></name><value>x</value></member></struct>")
    P ("<array><data/></array>"));
  g_autofree char *message = NULL;
  xmlrpc_value *params = parse (xml, NULL, &message);
  if (params == NULL)
    fail_msg ("refused: %s", message);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  xmlrpc_bool t = 0, f = 1;
  double d1 = 0, d2 = 0;
  const unsigned char *b1 = NULL, *b2 = NULL;
  size_t n1 = 0, n2 = 0;
  const char *dt1 = NULL, *dt2 = NULL;
  xmlrpc_value *st = NULL, *arr = NULL;
  xmlrpc_decompose_value (&env, params, "(bbdd6688nnSA)", &t, &f, &d1,
                          &d2, &b1, &n1, &b2, &n2, &dt1, &dt2, &st, &arr);
  if (env.fault_occurred)
    fail_msg ("%s", env.fault_string);
  assert_true (t);
  assert_false (f);
  assert_true (d1 == -1500.0 && d2 == 2.0);
  assert_int_equal (n1, 5);
  assert_memory_equal (b1, "hello", 5);
  assert_int_equal (n2, 0);
  assert_string_equal (dt1, "20261128T08:30:01");
  assert_true (g_str_has_prefix (dt2, "20261128T08:30:01"));
  assert_int_equal (xmlrpc_struct_size (&env, st), 2);
  assert_int_equal (xmlrpc_array_size (&env, arr), 0);
  free ((void *) b1);
  free ((void *) b2);
  free ((void *) dt1);
  free ((void *) dt2);
  xmlrpc_DECREF (st);
  xmlrpc_DECREF (arr);
  xmlrpc_DECREF (params);
  xmlrpc_env_clean (&env);

  static const char *const bad[][2] = {
    { "<boolean>2</boolean>", "not 0 or 1" },
    { "<boolean>true</boolean>", "not 0 or 1" },
    { "<boolean> 1</boolean>", "not 0 or 1" },
    { "<double>nan</double>", "finite" },
    { "<double>inf</double>", "finite" },
    { "<double>1e999</double>", "finite" },
    { "<double>0x1p3</double>", "finite" },
    { "<double>.</double>", "finite" },
    { "<double>1e</double>", "finite" },
    { "<base64>aGVsbG8</base64>", "not base64" },
    { "<base64>a=GVsbG8</base64>", "not base64" },
    { "<base64>aGV*bG8=</base64>", "not base64" },
    { "<dateTime.iso8601>yesterday</dateTime.iso8601>", "date" },
    { "<dateTime.iso8601>20261328T08:30:01</dateTime.iso8601>", "date" },
    { "<dateTime.iso8601>20261128T08:30:01.1234567</dateTime.iso8601>",
      "date" },
    { "<nil>x</nil>", "nothing belongs" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    expect_value_refused (bad[i][0], bad[i][1]);
}

static void
test_doctype_and_entities (void **state)
{
  expect_refused ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"
                  "<methodCall><methodName>m</methodName></methodCall>",
                  "DOCTYPE");
  expect_refused ("<!DOCTYPE methodCall SYSTEM \"file:///etc/passwd\">"
                  "<methodCall><methodName>m</methodName></methodCall>",
                  "DOCTYPE");
  expect_refused ("<methodCall><methodName>&xxe;</methodName></methodCall>",
                  "");
  expect_refused ("<?xml version='1.0' encoding='ISO-8859-1'?>"
                  "<methodCall><methodName>m</methodName></methodCall>",
                  "UTF-8");
  /* an unknown entity with a long name: the message stays short */
  GString *s = g_string_new ("<methodCall><methodName>&");
  for (int i = 0; i < 5000; i++)
    g_string_append_c (s, 'e');
  g_string_append (s, ";</methodName></methodCall>");
  expect_refused (s->str, "");
  g_string_free (s, TRUE);
}

/* Every prefix of a valid call is refused without reading past its end
 * (the copy in parse() has nothing after it, for valgrind and ASan). */
static void
test_every_prefix (void **state)
{
  static const char xml[] = CALL (P ("<array><data><value><string>a&amp;"
                                     "</string></value></data></array>")
                                  P ("<struct><member><name>n</name><value>"
                                     "<i8>1</i8></value></member></struct>"));
  for (gsize n = 0; n < sizeof xml - 1; n++)
    {
      g_autofree char *cut = g_strndup (xml, n);
      /* a cut inside trailing white space still holds the whole call */
      if (n >= sizeof xml - 2)
        continue;
      expect_refused (cut, "");
    }
}

static void
test_response (void **state)
{
  g_autoptr (GError) error = NULL;
  static const char ok[] = "<?xml version='1.0'?>\n<methodResponse>\n"
    "<params>\n<param>\n<value><int>4</int></value>\n</param>\n</params>\n"
    "</methodResponse>\n";
  xmlrpc_value *v = jq_message_parse_response (ok, sizeof ok - 1, &error);
  assert_non_null (v);
  assert_int_equal (xmlrpc_value_type (v), XMLRPC_TYPE_INT);
  xmlrpc_DECREF (v);

  static const char fault[] = "<?xml version='1.0'?>\n<methodResponse>\n"
    "<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n"
    "<value><int>1</int></value>\n</member>\n<member>\n"
    "<name>faultString</name>\n<value><string>&lt;class 'X'&gt;:boom"
    "</string></value>\n</member>\n</struct></value>\n</fault>\n"
    "</methodResponse>\n";
  assert_null (jq_message_parse_response (fault, sizeof fault - 1, &error));
  assert_int_equal (error->code, JQ_ERROR_INVALID);
  assert_string_equal (error->message, "<class 'X'>:boom");
  g_clear_error (&error);

  static const char *const bad[] = {
    "<methodResponse><params><param><value><i8>99999999999999999999</i8>"
    "</value></param></params></methodResponse>",
    "<methodResponse><params></params></methodResponse>",
    "<methodResponse><params><param><value>1</value></param><param><value>2"
    "</value></param></params></methodResponse>",
    "<methodResponse><fault><value><int>1</int></value></fault>"
    "</methodResponse>",
    "<methodResponse><fault><value><struct><member><name>faultCode</name>"
    "<value>x</value></member></struct></value></fault></methodResponse>",
    "<methodResponse/>",
    "<methodCall><methodName>m</methodName></methodCall>",
    "HTTP/1.0 200 OK",
    "",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      assert_null (jq_message_parse_response (bad[i], strlen (bad[i]),
                                              &error));
      assert_int_equal (error->code, JQ_ERROR_PARSE);
      g_clear_error (&error);
    }
}

static void
write_sample (JqMessageWriter *w, gpointer data)
{
  static const char *const argv[] = {
    "a<b>&c", "cr\rlf\r\n", "tab\t", "\x01" "bell", "bad\xff", "\xef\xbf\xbe",
    "]]>", "", "h\xc3\xa9", NULL,
  };
  jq_message_put (w, "<value><struct>");
  jq_message_put_member (w, "n");
  jq_message_put_int (w, -5);
  jq_message_put (w, "</member>");
  jq_message_put_member (w, "big");
  jq_message_put_int (w, G_MAXINT64);
  jq_message_put (w, "</member>");
  jq_message_put_member (w, "b");
  jq_message_put_bool (w, TRUE);
  jq_message_put (w, "</member>");
  jq_message_put_member (w, "task");
  jq_message_put_strings (w, argv);
  jq_message_put (w, "</member></struct></value>");
}

/* What the writer writes, the parser reads back: XML's specials escaped,
 * what XML cannot carry replaced by U+FFFD. */
static void
test_writer (void **state)
{
  g_autoptr (GBytes) bytes = jq_message_write_response (write_sample, NULL);
  gsize len = 0;
  const char *xml = g_bytes_get_data (bytes, &len);
  g_autoptr (GError) error = NULL;
  xmlrpc_value *v = jq_message_parse_response (xml, len, &error);
  if (v == NULL)
    fail_msg ("%s: %.*s", error->message, (int) len, xml);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  int n = 0;
  xmlrpc_int64 big = 0;
  xmlrpc_bool b = FALSE;
  xmlrpc_value *task = NULL;
  xmlrpc_decompose_value (&env, v, "{s:i,s:I,s:b,s:A,*}", "n", &n, "big",
                          &big, "b", &b, "task", &task);
  assert_false (env.fault_occurred);
  assert_int_equal (n, -5);
  assert_true (big == G_MAXINT64);
  assert_true (b);
  static const char *const expect[] = {
    /* GMarkup turns even a character reference to CR into LF (expat, and
     * so Python, keeps it): the one thing that does not come back */
    "a<b>&c", "cr\nlf\n", "tab\t", "\xef\xbf\xbd" "bell",
    "bad\xef\xbf\xbd", "\xef\xbf\xbd", "]]>", "", "h\xc3\xa9",
  };
  assert_int_equal (xmlrpc_array_size (&env, task), G_N_ELEMENTS (expect));
  for (int i = 0; i < (int) G_N_ELEMENTS (expect); i++)
    {
      xmlrpc_value *item = NULL;
      const char *s = NULL;
      xmlrpc_array_read_item (&env, task, i, &item);
      xmlrpc_read_string (&env, item, &s);
      assert_false (env.fault_occurred);
      assert_string_equal (s, expect[i]);
      free ((void *) s);
      xmlrpc_DECREF (item);
    }
  xmlrpc_DECREF (task);
  xmlrpc_DECREF (v);
  xmlrpc_env_clean (&env);
}

#define TASK(bytes) bytes, sizeof (bytes) - 1

/* Tasks for listed jobs, each as jq_queue_copy_page gives it: plain ones
 * (the written-straight path) and ones with bytes to escape or replace
 * (the general puts). */
static const struct {
  int         priority;
  gint64      number;
  const char *task;
  gsize       task_bytes;
  guint       argc;
} listed[] = {
  { 5, 1, TASK ("python3\0bots-engine.py\0-cconfig\0"), 3 },
  { -99999999, G_MAXINT32, TASK ("a\0\0tab\tnl\n\0"), 3 },
  { 0, (gint64) G_MAXINT32 + 1, TASK ("x&y\0"), 1 },
  { 9, G_MAXINT64, TASK ("h\xc3\xa9\0"), 1 },
  { 1, 7, TASK (""), 0 },
  { 2, 8, TASK ("cr\r\0bell\x01\0"), 2 },
};

#define LISTED_ROUNDS 700

/* The listing with the general puts, as listjobs wrote it before its
 * jobs had a path of their own. */
static void
write_listed_general (JqMessageWriter *w, gpointer data)
{
  jq_message_put (w, "<value><array><data>");
  for (int r = 0; r < LISTED_ROUNDS; r++)
    for (gsize i = 0; i < G_N_ELEMENTS (listed); i++)
      {
        g_autoptr (GPtrArray) argv = g_ptr_array_new ();
        const char *s = listed[i].task;
        for (guint a = 0; a < listed[i].argc; a++, s += strlen (s) + 1)
          g_ptr_array_add (argv, (gpointer) s);
        g_ptr_array_add (argv, NULL);
        jq_message_put (w, "<value><array><data>");
        jq_message_put_int (w, listed[i].priority);
        jq_message_put_int (w, listed[i].number);
        jq_message_put_strings (w, (const char *const *) argv->pdata);
        jq_message_put (w, "</data></array></value>");
      }
  jq_message_put (w, "</data></array></value>");
}

static void
write_listed (JqMessageWriter *w, gpointer data)
{
  jq_message_put (w, "<value><array><data>");
  for (int r = 0; r < LISTED_ROUNDS; r++)
    for (gsize i = 0; i < G_N_ELEMENTS (listed); i++)
      jq_message_put_listed_job (w, listed[i].priority, listed[i].number,
                                 listed[i].task, listed[i].task_bytes,
                                 listed[i].argc);
  jq_message_put (w, "</data></array></value>");
}

static gboolean
collect_piece (const char *data, gsize len, gpointer user_data)
{
  GPtrArray *pieces = user_data;
  g_ptr_array_add (pieces, g_bytes_new (data, len));
  return TRUE;
}

/* A listed job is written straight into the buffer when its task is
 * plain: the same bytes as the general puts, streamed or whole, and
 * streamed in pieces of exactly JQ_MESSAGE_FLUSH_BYTES but the last. */
static void
test_listed_jobs (void **state)
{
  g_autoptr (GBytes) expect = jq_message_write_response (write_listed_general,
                                                         NULL);
  g_autoptr (GBytes) whole = jq_message_stream_response (write_listed, NULL,
                                                         NULL, NULL);
  assert_true (g_bytes_equal (whole, expect));

  g_autoptr (GPtrArray) pieces = g_ptr_array_new_with_free_func (
      (GDestroyNotify) g_bytes_unref);
  assert_null (jq_message_stream_response (write_listed, NULL,
                                           collect_piece, pieces));
  g_autoptr (GByteArray) joined = g_byte_array_new ();
  assert_true (pieces->len > 2);
  for (guint i = 0; i < pieces->len; i++)
    {
      gsize len = 0;
      const guint8 *d = g_bytes_get_data (pieces->pdata[i], &len);
      if (i + 1 < pieces->len)
        assert_int_equal (len, JQ_MESSAGE_FLUSH_BYTES);
      g_byte_array_append (joined, d, (guint) len);
    }
  g_autoptr (GBytes) streamed = g_byte_array_free_to_bytes (
      g_steal_pointer (&joined));
  assert_true (g_bytes_equal (streamed, expect));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_python3_addjob),
    cmocka_unit_test (test_call_shapes),
    cmocka_unit_test (test_crash_inputs),
    cmocka_unit_test (test_integers),
    cmocka_unit_test (test_strings),
    cmocka_unit_test (test_nul_byte),
    cmocka_unit_test (test_other_scalars),
    cmocka_unit_test (test_doctype_and_entities),
    cmocka_unit_test (test_every_prefix),
    cmocka_unit_test (test_response),
    cmocka_unit_test (test_writer),
    cmocka_unit_test (test_listed_jobs),
  };
  return cmocka_run_group_tests_name ("message", tests, NULL, NULL);
}
