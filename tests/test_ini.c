/* Tests of the ConfigParser-compatible INI reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "ini.h"

static JqIni *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  JqIni *ini = jq_ini_parse (text, strlen (text), "test.ini", &error);
  if (ini == NULL)
    fail_msg ("unexpected error: %s", error->message);
  return ini;
}

/* Parses @text expecting a syntax error whose message holds @needle. */
static void
parse_fails (const char *text, const char *needle)
{
  g_autoptr (GError) error = NULL;
  JqIni *ini = jq_ini_parse (text, strlen (text), "test.ini", &error);
  assert_null (ini);
  assert_non_null (error);
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_PARSE));
  if (strstr (error->message, needle) == NULL)
    fail_msg ("error \"%s\" lacks \"%s\"", error->message, needle);
}

/* Python's universal newlines: a lone CR ends a line (old Mac files). */
static void
test_lone_cr_ends_a_line (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[jobqueue]\renabled = True\rport = 1"
                                    "\r\nx = 2\r\r[s]\ry = 3\r");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "enabled"), "True");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "port"), "1");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "x"), "2");
  assert_string_equal (jq_ini_get (ini, "s", "y"), "3");
}

static void
test_both_delimiters (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[s]\na = 1\nb: 2\nc=3\nd:4\n"
                                    "e = x=y:z\nf: u:v=w\n");
  assert_string_equal (jq_ini_get (ini, "s", "a"), "1");
  assert_string_equal (jq_ini_get (ini, "s", "b"), "2");
  assert_string_equal (jq_ini_get (ini, "s", "c"), "3");
  assert_string_equal (jq_ini_get (ini, "s", "d"), "4");
  /* The first delimiter splits; the rest belongs to the value. */
  assert_string_equal (jq_ini_get (ini, "s", "e"), "x=y:z");
  assert_string_equal (jq_ini_get (ini, "s", "f"), "u:v=w");
}

static void
test_comments_and_blank_lines (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("# top\n; also\n\n[s]\n  # indented\n"
                                    "a = 1 # not a comment\n;b = 2\n#c=3\n");
  /* ConfigParser has no inline comments by default. */
  assert_string_equal (jq_ini_get (ini, "s", "a"), "1 # not a comment");
  assert_null (jq_ini_get (ini, "s", "b"));
  assert_null (jq_ini_get (ini, "s", "c"));
}

static void
test_key_case (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[Sect]\nMixedCase = 1\n");
  assert_string_equal (jq_ini_get (ini, "Sect", "mixedcase"), "1");
  assert_string_equal (jq_ini_get (ini, "Sect", "MIXEDCASE"), "1");
  /* Section names are case-sensitive. */
  assert_null (jq_ini_get (ini, "sect", "mixedcase"));
  assert_true (jq_ini_has_section (ini, "Sect"));
  assert_false (jq_ini_has_section (ini, "sect"));
}

static void
test_continuation (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[s]\nlist = one\n  two\n\tthree\n"
                                    "\n    four\n# dropped\n  five\n"
                                    "next = 1\n");
  assert_string_equal (jq_ini_get (ini, "s", "list"),
                       "one\ntwo\nthree\n\nfour\nfive");
  assert_string_equal (jq_ini_get (ini, "s", "next"), "1");
}

static void
test_empty_value_and_spaces (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[s]\nempty =\nspaced   =   a b   \n"
                                    "  indented = 7\n[t]\n  x = 1\n");
  assert_string_equal (jq_ini_get (ini, "s", "empty"), "");
  /* As in Python, a line indented deeper than its option continues it,
   * even when it looks like a setting of its own... */
  assert_string_equal (jq_ini_get (ini, "s", "spaced"), "a b\nindented = 7");
  assert_null (jq_ini_get (ini, "s", "indented"));
  /* ...but an indented first option of a section is an option. */
  assert_string_equal (jq_ini_get (ini, "t", "x"), "1");
}

static void
test_crlf_and_bom (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("\xEF\xBB\xBF[s]\r\na = 1\r\nb = two\r\n");
  assert_string_equal (jq_ini_get (ini, "s", "a"), "1");
  assert_string_equal (jq_ini_get (ini, "s", "b"), "two");
}

static void
test_default_section (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[DEFAULT]\nshared = d\nx = 0\n"
                                    "[s]\nx = 1\n");
  assert_string_equal (jq_ini_get (ini, "s", "shared"), "d");
  assert_string_equal (jq_ini_get (ini, "s", "x"), "1");
  assert_string_equal (jq_ini_get (ini, "absent", "x"), "0");
}

static void
test_repeats_last_wins (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[s]\na = 1\n[t]\n[s]\na = 2\nb = 3\n");
  assert_string_equal (jq_ini_get (ini, "s", "a"), "2");
  assert_string_equal (jq_ini_get (ini, "s", "b"), "3");
}

static void
test_header_trailing_text (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[a]b] trailing\nk = v\n");
  assert_string_equal (jq_ini_get (ini, "a]b", "k"), "v");
}

static void
test_malformed (void **state)
{
  parse_fails ("[s]\njust a line\n", "line 2");
  parse_fails ("[s]\njust a line\n", "key = value");
  parse_fails ("a = 1\n", "before any [section]");
  parse_fails ("# c\n\nx = 1\n", "line 3");
  parse_fails ("[unterminated\na = 1\n", "unterminated section header");
  parse_fails ("[]\n", "empty section header");
  parse_fails ("[s]\n = novalue\n", "without a key");
}

static void
test_malformed_nul_length (void **state)
{
  g_autoptr (GError) error = NULL;
  const char text[] = "[s]\na = 1\0\n";
  assert_null (jq_ini_parse (text, sizeof text - 1, "x.ini", &error));
  assert_non_null (strstr (error->message, "x.ini"));
}

static void
test_bool (void **state)
{
  static const char *const trues[] = { "1", "yes", "true", "on", "True",
                                       "YES", "On", "tRuE" };
  static const char *const falses[] = { "0", "no", "false", "off", "False",
                                        "NO", "Off" };
  gboolean v;
  for (gsize i = 0; i < G_N_ELEMENTS (trues); i++)
    {
      v = FALSE;
      assert_true (jq_parse_bool (trues[i], &v));
      assert_true (v);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (falses); i++)
    {
      v = TRUE;
      assert_true (jq_parse_bool (falses[i], &v));
      assert_false (v);
    }
  assert_false (jq_parse_bool ("2", &v));
  assert_false (jq_parse_bool ("y", &v));
  assert_false (jq_parse_bool ("", &v));
  assert_false (jq_parse_bool ("truex", &v));
}

static void
test_int (void **state)
{
  gint64 v;
  assert_true (jq_ini_parse_int ("42", &v));
  assert_int_equal (v, 42);
  assert_true (jq_ini_parse_int ("  28082  ", &v));
  assert_int_equal (v, 28082);
  assert_true (jq_ini_parse_int ("-3", &v));
  assert_int_equal (v, -3);
  assert_true (jq_ini_parse_int ("+7", &v));
  assert_int_equal (v, 7);
  assert_true (jq_ini_parse_int ("1_000", &v));
  assert_int_equal (v, 1000);
  assert_false (jq_ini_parse_int ("", &v));
  assert_false (jq_ini_parse_int ("12a", &v));
  assert_false (jq_ini_parse_int ("1.5", &v));
  assert_false (jq_ini_parse_int ("_1", &v));
  assert_false (jq_ini_parse_int ("1__0", &v));
  assert_false (jq_ini_parse_int ("1_", &v));
  assert_false (jq_ini_parse_int ("99999999999999999999", &v));
}

static void
test_typed_getters (void **state)
{
  g_autoptr (JqIni) ini = parse_ok ("[s]\nflag = yes\nnum =  12 \n"
                                    "badflag = maybe\nbadnum = twelve\n");
  g_autoptr (GError) error = NULL;
  gboolean b = FALSE;
  gint64 n = 0;

  assert_true (jq_ini_get_bool (ini, "s", "flag", FALSE, &b, NULL));
  assert_true (b);
  assert_true (jq_ini_get_bool (ini, "s", "missing", TRUE, &b, NULL));
  assert_true (b);
  assert_true (jq_ini_get_int (ini, "s", "num", 0, &n, NULL));
  assert_int_equal (n, 12);
  assert_true (jq_ini_get_int (ini, "s", "missing", 99, &n, NULL));
  assert_int_equal (n, 99);

  assert_false (jq_ini_get_bool (ini, "s", "badflag", FALSE, &b, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_CONFIG));
  assert_non_null (strstr (error->message, "test.ini line 4"));
  assert_non_null (strstr (error->message, "maybe"));
  g_clear_error (&error);
  assert_false (jq_ini_get_int (ini, "s", "badnum", 0, &n, &error));
  assert_non_null (strstr (error->message, "line 5"));
}

static void
test_bots_ini_file (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (SRCDIR, "tests", "data",
                                            "bots.ini", NULL);
  g_autoptr (JqIni) ini = jq_ini_load (path, &error);
  assert_non_null (ini);
  assert_string_equal (jq_ini_get (ini, "jobqueue", "enabled"), "True");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "port"), "28099");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "killjobsintimeout"),
                       "On");
  assert_string_equal (jq_ini_get (ini, "settings", "maxdays"), "30");
  assert_string_equal (jq_ini_get (ini, "settings", "maxruntime"), "90");
  assert_string_equal (jq_ini_get (ini, "webserver", "ssl_certificate"), "");
  assert_string_equal (jq_ini_get (ini, "jobqueue", "authorized_tasks"),
                       "/usr/local/bin/my_program,\nother_program;third\n"
                       "fourth");
}

static void
test_load_missing (void **state)
{
  g_autoptr (GError) error = NULL;
  assert_null (jq_ini_load ("/nonexistent/bots.ini", &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_NOT_FOUND));
}

static void
test_load_not_a_file (void **state)
{
  /* A link to /dev/zero would be read for ever; a FIFO would block. */
  g_autofree char *dir = g_dir_make_tmp ("jqini-XXXXXX", NULL);
  g_autofree char *link = g_build_filename (dir, "bots.ini", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo.ini", NULL);
  assert_int_equal (symlink ("/dev/zero", link), 0);
  assert_int_equal (mkfifo (fifo, 0600), 0);
  const char *paths[] = { link, fifo, "/dev/zero", dir };
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      assert_null (jq_ini_load (paths[i], &error));
      assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_IO));
      assert_non_null (strstr (error->message, "not a regular file"));
    }
  unlink (link);
  unlink (fifo);
  rmdir (dir);
}

static void
test_load_too_large (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("jqini-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "bots.ini", NULL);
  gsize size = JQ_INI_MAX_SIZE + 1;
  g_autofree char *text = g_malloc (size);
  memset (text, '#', size);
  assert_true (g_file_set_contents (path, text, size, NULL));
  g_autoptr (GError) error = NULL;
  assert_null (jq_ini_load (path, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_IO));
  assert_non_null (strstr (error->message, "too large"));
  /* At the limit it is read. */
  assert_true (g_file_set_contents (path, text, JQ_INI_MAX_SIZE, NULL));
  g_autoptr (JqIni) ini = jq_ini_load (path, NULL);
  assert_non_null (ini);
  unlink (path);
  rmdir (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_both_delimiters),
    cmocka_unit_test (test_lone_cr_ends_a_line),
    cmocka_unit_test (test_comments_and_blank_lines),
    cmocka_unit_test (test_key_case),
    cmocka_unit_test (test_continuation),
    cmocka_unit_test (test_empty_value_and_spaces),
    cmocka_unit_test (test_crlf_and_bom),
    cmocka_unit_test (test_default_section),
    cmocka_unit_test (test_repeats_last_wins),
    cmocka_unit_test (test_header_trailing_text),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_malformed_nul_length),
    cmocka_unit_test (test_bool),
    cmocka_unit_test (test_int),
    cmocka_unit_test (test_typed_getters),
    cmocka_unit_test (test_bots_ini_file),
    cmocka_unit_test (test_load_missing),
    cmocka_unit_test (test_load_not_a_file),
    cmocka_unit_test (test_load_too_large),
  };
  return cmocka_run_group_tests_name ("ini", tests, NULL, NULL);
}
