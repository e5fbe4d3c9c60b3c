/* Tests of bots.ini keys, defaults and path resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "error.h"

static JqConfig *
config_from (const char *text, const char *config_dir, GError **error)
{
  g_autoptr (JqIni) ini = jq_ini_parse (text, strlen (text), "bots.ini",
                                        NULL);
  assert_non_null (ini);
  return jq_config_from_ini (ini, config_dir, error);
}

static void
test_defaults (void **state)
{
  g_autoptr (JqConfig) c = config_from ("[settings]\n", "/opt/bots/config",
                                        NULL);
  assert_non_null (c);
  assert_false (c->enabled);
  assert_int_equal (c->port, 28082);
  assert_string_equal (c->bind, "127.0.0.1");
  assert_int_equal (c->nr_threads, 1);
  assert_false (c->kill_jobs_in_timeout);
  assert_true (c->log_console);
  assert_int_equal (c->log_console_level, JQ_LOG_STARTINFO);
  assert_int_equal (c->log_file_level, JQ_LOG_INFO);
  assert_int_equal (c->maxruntime_minutes, 60);
  assert_int_equal (g_strv_length (c->authorized_tasks), 0);
  assert_string_equal (c->config_dir, "/opt/bots/config");
  assert_string_equal (c->bots_dir, "/opt/bots");
  assert_string_equal (c->ini_path, "/opt/bots/config/bots.ini");
  assert_string_equal (c->botssys, "/opt/bots/botssys");
  assert_string_equal (c->log_path, "/opt/bots/botssys/logging/jobqueue.log");
  assert_string_equal (c->state_dir, "/opt/bots/botssys/jobqueue");
}

static void
test_bots_ini_file (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (SRCDIR, "tests", "data", NULL);
  g_autoptr (JqConfig) c = jq_config_load (dir, &error);
  assert_non_null (c);
  assert_true (c->enabled);
  assert_int_equal (c->port, 28099);
  assert_true (c->kill_jobs_in_timeout);
  assert_false (c->log_console);
  assert_int_equal (c->log_console_level, JQ_LOG_WARNING);
  assert_int_equal (c->log_file_level, JQ_LOG_DEBUG);
  assert_int_equal (c->maxruntime_minutes, 90);
  g_autofree char *botssys = g_canonicalize_filename (
      SRCDIR "/tests/botssys_test", NULL);
  assert_string_equal (c->botssys, botssys);
  const char *const expected[] = { "/usr/local/bin/my_program",
                                   "other_program", "third", "fourth", NULL };
  assert_true (g_strv_equal ((const char *const *) c->authorized_tasks,
                             expected));
}

static void
test_absolute_botssys (void **state)
{
  g_autoptr (JqConfig) c = config_from (
      "[directories]\nbotssys = /var/lib/bots/botssys\n", "/etc/bots/config",
      NULL);
  assert_string_equal (c->botssys, "/var/lib/bots/botssys");
  assert_string_equal (c->log_path,
                       "/var/lib/bots/botssys/logging/jobqueue.log");
}

static void
test_relative_botssys_dots (void **state)
{
  g_autoptr (JqConfig) c = config_from (
      "[directories]\nbotssys = ../shared/./botssys\n", "/srv/bots/config2",
      NULL);
  assert_string_equal (c->botssys, "/srv/shared/botssys");
}

/* Each bad value gives an error naming the key; nothing crashes. */
static void
test_bad_values (void **state)
{
  static const struct {
    const char *text, *needle;
  } cases[] = {
    { "[jobqueue]\nenabled = sure\n", "enabled" },
    { "[jobqueue]\nport = http\n", "port" },
    { "[jobqueue]\nport = 0\n", "out of range" },
    { "[jobqueue]\nport = 70000\n", "out of range" },
    { "[jobqueue]\nnr_threads = 0\n", "nr_threads" },
    { "[jobqueue]\nlog_file_level = LOUD\n", "log level" },
    { "[jobqueue]\nlog_console_level = 25\n", "log_console_level" },
    { "[settings]\nmaxruntime = -1\n", "maxruntime" },
    { "[jobqueue]\nkilljobsintimeout = 2\n", "killjobsintimeout" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      JqConfig *c = config_from (cases[i].text, "/x/config", &error);
      assert_null (c);
      assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_CONFIG));
      if (strstr (error->message, cases[i].needle) == NULL)
        fail_msg ("case %zu: \"%s\" lacks \"%s\"", i, error->message,
                  cases[i].needle);
    }
}

static void
test_ignored_lauchfrequency (void **state)
{
  g_autoptr (JqConfig) c = config_from (
      "[jobqueue]\nlauchfrequency = soon\nenabled = 1\n", "/x/config", NULL);
  assert_non_null (c);
  assert_true (c->enabled);
}

static void
test_resolve_dir (void **state)
{
  g_autofree char *a = jq_config_resolve_dir ("config2", NULL, "/home/b");
  g_autofree char *b = jq_config_resolve_dir ("/etc/bots", "/ignored", "/x");
  g_autofree char *c = jq_config_resolve_dir (NULL, "/opt/bots", "/x");
  g_autofree char *d = jq_config_resolve_dir (NULL, NULL, "/home/b");
  g_autofree char *e = jq_config_resolve_dir (NULL, "", "/home/b");
  g_autofree char *f = jq_config_resolve_dir ("../cfg/", NULL, "/a/b");
  g_autofree char *g = jq_config_resolve_dir (NULL, "rel", "/a");
  assert_string_equal (a, "/home/b/config2");
  assert_string_equal (b, "/etc/bots");
  assert_string_equal (c, "/opt/bots/config");
  assert_string_equal (d, "/home/b/config");
  assert_string_equal (e, "/home/b/config");
  assert_string_equal (f, "/a/cfg");
  assert_string_equal (g, "/a/rel/config");
}

static void
test_load_missing_says_where (void **state)
{
  g_autoptr (GError) error = NULL;
  assert_null (jq_config_load ("/nonexistent/config", &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_NOT_FOUND));
  assert_non_null (strstr (error->message, "/nonexistent/config/bots.ini"));
}

static void
test_load_error_names_file (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("jqcfg-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "bots.ini", NULL);
  g_autoptr (GError) error = NULL;

  assert_true (g_file_set_contents (path, "[jobqueue]\nport = 99999\n", -1,
                                    NULL));
  assert_null (jq_config_load (dir, &error));
  assert_non_null (strstr (error->message, path));
  assert_non_null (strstr (error->message, "port"));
  g_clear_error (&error);

  assert_true (g_file_set_contents (path, "[jobqueue\n", -1, NULL));
  assert_null (jq_config_load (dir, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_PARSE));
  assert_non_null (strstr (error->message, "line 1"));
  g_unlink (path);
  g_rmdir (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_bots_ini_file),
    cmocka_unit_test (test_absolute_botssys),
    cmocka_unit_test (test_relative_botssys_dots),
    cmocka_unit_test (test_bad_values),
    cmocka_unit_test (test_ignored_lauchfrequency),
    cmocka_unit_test (test_resolve_dir),
    cmocka_unit_test (test_load_missing_says_where),
    cmocka_unit_test (test_load_error_names_file),
  };
  return cmocka_run_group_tests_name ("config", tests, NULL, NULL);
}
