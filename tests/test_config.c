/* Tests of bots.ini keys, defaults and path resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <stdlib.h>
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
  assert_int_equal (g_strv_length (c->admin_users), 0);
  assert_null (c->admin_group);
  assert_int_equal (c->user_connection_share, 50);
  assert_int_equal (c->user_queue_share, 50);
  assert_string_equal (c->config_dir, "/opt/bots/config");
  assert_string_equal (c->bots_dir, "/opt/bots");
  assert_string_equal (c->ini_path, "/opt/bots/config/bots.ini");
  assert_string_equal (c->botssys, "/opt/bots/botssys");
  assert_string_equal (c->log_path, "/opt/bots/botssys/logging/jobqueue.log");
  assert_string_equal (c->state_dir, "/opt/bots/botssys/jobqueue");
}

/* Who may steer the queue, and each user's share of the connections. */
static void
test_caller_keys (void **state)
{
  g_autoptr (JqConfig) c = config_from (
    "[jobqueue]\nadmin_users = alice, bob;carol\nadmin_group =  botsadm \n"
    "user_connection_share = 25\n", "/x/config", NULL);
  assert_non_null (c);
  assert_true (g_strv_equal ((const char *const *) c->admin_users,
                             (const char *const[]) { "alice", "bob", "carol",
                                                     NULL }));
  assert_string_equal (c->admin_group, "botsadm");
  assert_int_equal (c->user_connection_share, 25);
}

/* journal = postgresql: the store, its connection string and lease. */
static void
test_journal_keys (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JqConfig) plain = config_from ("[jobqueue]\n", "/b/config",
                                            NULL);
  assert_false (plain->journal_postgresql);
  assert_null (plain->journal_dsn);
  assert_int_equal (plain->journal_lease_seconds, 5);
  assert_null (plain->journal_member);

  g_autoptr (JqConfig) pg = config_from (
      "[jobqueue]\njournal = PostgreSQL\n"
      "journal_dsn = host=db1 dbname=botsdb password=x\n"
      "journal_lease = 2\njournal_member = a:1\n", "/b/config", &error);
  assert_non_null (pg);
  assert_true (pg->journal_postgresql);
  assert_string_equal (pg->journal_dsn, "host=db1 dbname=botsdb password=x");
  assert_int_equal (pg->journal_lease_seconds, 2);
  assert_string_equal (pg->journal_member, "a:1");

  g_autoptr (JqConfig) sqlite = config_from ("[jobqueue]\njournal = sqlite\n",
                                             "/b/config", NULL);
  assert_false (sqlite->journal_postgresql);

  static const char *const bad[] = {
    "[jobqueue]\njournal = postgresql\n",               /* no dsn */
    "[jobqueue]\njournal = postgresql\njournal_dsn =\n",
    "[jobqueue]\njournal = mysql\n",
    "[jobqueue]\njournal_lease = 0\n",
    "[jobqueue]\njournal_lease = soon\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autoptr (JqConfig) c = config_from (bad[i], "/b/config", &e);
      assert_null (c);
      assert_true (g_error_matches (e, JQ_ERROR, JQ_ERROR_CONFIG));
    }
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
    { "[jobqueue]\nbots_version = 2\n", "bots_version" },
    { "[jobqueue]\nuser_connection_share = 0\n", "user_connection_share" },
    { "[jobqueue]\nuser_connection_share = 101\n", "user_connection_share" },
    { "[jobqueue]\nuser_queue_share = 0\n", "user_queue_share" },
    { "[jobqueue]\nuser_queue_share = 101\n", "user_queue_share" },
    { "[jobqueue]\nbots_version = 4\nlog_file_number = many\n",
      "log_file_number" },
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

/* A fake installation under a temporary folder: @files are paths below
 * it, created empty unless they end in "=text". */
static char *
make_tree (const char *const *files)
{
  char *root = g_dir_make_tmp ("jqbots-XXXXXX", NULL);
  for (const char *const *f = files; *f != NULL; f++)
    {
      g_auto (GStrv) kv = g_strsplit (*f, "=", 2);
      g_autofree char *path = g_build_filename (root, kv[0], NULL);
      g_autofree char *dir = g_path_get_dirname (path);
      g_mkdir_with_parents (dir, 0755);
      if (!g_str_has_suffix (kv[0], "/"))
        assert_true (g_file_set_contents (path, kv[1] ? kv[1] : "", -1, NULL));
      else
        g_mkdir_with_parents (path, 0755);
    }
  return root;
}

static void
remove_tree (const char *root)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  assert_int_equal (system (cmd), 0);
}

static void
test_find_config_as_bots (void **state)
{
  static const char *const files[] = {
    "lib/bots/botsglobal.py=version = '3.3.0'       #bots version\n",
    "lib/bots/config/settings.py=TIME_ZONE = 'Europe/Amsterdam'\n",
    "lib/bots/config/bots.ini=[jobqueue]\n",
    "lib/bots/config2/bots.ini=[jobqueue]\n",
    "lib/bots/config3/bots.ini=[jobqueue]\n",
    "lib/bots/config3/settings.py=TIME_ZONE = '../../../home/fifo'\n",
    "site/myconf/settings.py=",
    "home/config/",
    "home/other/",
    NULL,
  };
  g_autofree char *root = make_tree (files);
  g_autofree char *lib = g_build_filename (root, "lib", NULL);
  g_autofree char *bots = g_build_filename (root, "lib", "bots", NULL);
  g_autofree char *site = g_build_filename (root, "site", NULL);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *path = g_strjoin (":", "", site, lib, NULL);
  g_autoptr (JqBotsEnv) env = jq_botsenv_new (bots, path, "test");
  g_autoptr (GError) error = NULL;

  assert_string_equal (env->version, "3.3.0");
  assert_int_equal (env->major, 3);
  assert_int_equal (g_strv_length (env->import_path), 2);

  /* The package's config wins over the working directory's. */
  g_autofree char *a = jq_botsenv_find_config (env, NULL, 3, home, &error);
  g_autofree char *want_a = g_build_filename (bots, "config", NULL);
  assert_string_equal (a, want_a);
  g_autofree char *b = jq_botsenv_find_config (env, "config2/", 3, "/", NULL);
  g_autofree char *want_b = g_build_filename (bots, "config2", NULL);
  assert_string_equal (b, want_b);
  /* The import path comes first. */
  g_autofree char *c = jq_botsenv_find_config (env, "myconf", 3, home, NULL);
  g_autofree char *want_c = g_build_filename (site, "myconf", NULL);
  assert_string_equal (c, want_c);
  /* Then a folder, relative to the working directory. */
  g_autofree char *d = jq_botsenv_find_config (env, "other", 3, home, NULL);
  g_autofree char *want_d = g_build_filename (home, "other", NULL);
  assert_string_equal (d, want_d);
  g_autofree char *e = jq_botsenv_find_config (env, "../home/other", 3,
                                               home, NULL);
  assert_string_equal (e, want_d);

  /* Not found: one message with every place. */
  assert_null (jq_botsenv_find_config (env, "nothere", 3, home, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_NOT_FOUND));
  assert_non_null (strstr (error->message, site));
  assert_non_null (strstr (error->message, "/lib/bots/nothere"));
  assert_non_null (strstr (error->message, "/home/nothere"));
  g_clear_error (&error);

  /* Relative botssys is relative to the package; TIME_ZONE is read. */
  g_autoptr (JqConfig) cfg = jq_config_load_in (env, want_b, &error);
  assert_non_null (cfg);
  g_autofree char *sys = g_build_filename (bots, "botssys", NULL);
  assert_string_equal (cfg->botssys, sys);
  assert_int_equal (cfg->bots_version, 3);
  assert_null (cfg->time_zone);
  g_autoptr (JqConfig) cfg2 = jq_config_load_in (env, want_a, &error);
  assert_string_equal (cfg2->time_zone, "Europe/Amsterdam");
  assert_true (g_str_has_suffix (cfg2->log_path,
                                 "/bots/botssys/logging/jobqueue.log"));
  assert_null (cfg2->time_zone_refused);
  /* A TIME_ZONE that leads out of the zone folder is no zone: GLib would
   * open that file (a FIFO there made the server wait at its start). */
  g_autofree char *want_3 = g_build_filename (bots, "config3", NULL);
  g_autoptr (JqConfig) cfg3 = jq_config_load_in (env, want_3, &error);
  assert_non_null (cfg3);
  assert_null (cfg3->time_zone);
  assert_string_equal (cfg3->time_zone_refused, "../../../home/fifo");
  remove_tree (root);
}

static void
test_find_config_bots4 (void **state)
{
  static const char *const files[] = {
    "lib/bots/__about__.py=__version__ = \"4.0.0\"\n",
    "h/.bots/env/default/config/bots.ini=[settings]\nlog_file_number = 7\n",
    "h/.bots/env/prod/config/bots.ini=[jobqueue]\nlog_file_number = 3\n",
    "elsewhere/bots.ini=[jobqueue]\nbots_version = 3\n",
    NULL,
  };
  g_autofree char *root = make_tree (files);
  g_autofree char *bots = g_build_filename (root, "lib", "bots", NULL);
  g_autofree char *home = g_build_filename (root, "h", NULL);
  g_autoptr (JqBotsEnv) env = jq_botsenv_new (bots, NULL, "test");
  g_autoptr (GError) error = NULL;
  const char *old_home = g_getenv ("HOME");
  g_autofree char *saved_home = g_strdup (old_home);

  assert_int_equal (env->major, 4);
  g_setenv ("HOME", home, TRUE);
  g_unsetenv ("BOTS_CONFIG_DIR");
  g_unsetenv ("BOTSENV");
  g_autofree char *a = jq_botsenv_find_config (env, NULL, 4, "/", &error);
  assert_non_null (a);
  assert_true (g_str_has_suffix (a, "/h/.bots/env/default/config"));
  g_autoptr (JqConfig) ca = jq_config_load_in (env, a, &error);
  assert_int_equal (ca->bots_version, 4);
  assert_int_equal (ca->log_backups, 7);
  assert_true (g_str_has_suffix (ca->log_path,
                                 "/bots/botssys/logging/jobqueue/jobqueue.log"));

  g_setenv ("BOTSENV", "prod", TRUE);
  g_autofree char *b = jq_botsenv_find_config (env, NULL, 4, "/", &error);
  assert_true (g_str_has_suffix (b, "/h/.bots/env/prod/config"));
  g_autoptr (JqConfig) cb = jq_config_load_in (env, b, &error);
  assert_int_equal (cb->log_backups, 3);

  g_setenv ("BOTS_CONFIG_DIR", "elsewhere", TRUE);
  g_autofree char *c = jq_botsenv_find_config (env, NULL, 4, root, &error);
  g_autofree char *want_c = g_build_filename (root, "elsewhere", NULL);
  assert_string_equal (c, want_c);
  g_autoptr (JqConfig) cc = jq_config_load_in (env, c, &error);
  assert_int_equal (cc->bots_version, 3);   /* bots.ini overrides */

  g_setenv ("BOTS_CONFIG_DIR", "nothere", TRUE);
  assert_null (jq_botsenv_find_config (env, NULL, 4, root, &error));
  assert_non_null (strstr (error->message, "$BOTS_CONFIG_DIR"));
  g_unsetenv ("BOTS_CONFIG_DIR");
  g_unsetenv ("BOTSENV");
  if (saved_home)
    g_setenv ("HOME", saved_home, TRUE);
  remove_tree (root);
}

/* Bots 4 reads its version with importlib.metadata: its package holds no
 * literal, and a Bots 4 that ships its config template in the package
 * must not be taken for a Bots 3 whose config that is (issue 20). */
static void
test_version_from_metadata (void **state)
{
  static const char *const files[] = {
    "w/bots/__about__.py=from importlib.metadata import version\n"
      "__version__ = version('bots')\n",
    "w/bots/config/bots.ini=[jobqueue]\nenabled = False\n",
    "w/bots/config/settings.py=",
    "w/aaa-1.0.dist-info/METADATA=Name: aaa\nVersion: 1.0\n\n",
    "w/aaa-1.0.dist-info/top_level.txt=aaa\n",
    "w/bots-4.0.0.dist-info/METADATA=Metadata-Version: 2.1\nName: bots\n"
      "Version: 4.0.0\n\nVersion: 9 (body)\n",
    "w/bots-4.0.0.dist-info/RECORD=bots/__init__.py,,\n",
    "e/bots/__init__.py=",
    "e/bots.egg-info/PKG-INFO=Name: bots\nVersion: 4.0.1\n",
    "e/bots.egg-info/SOURCES.txt=setup.py\nbots/__init__.py\n",
    "f/bots/__init__.py=",
    "f/bots-3.2.0-py2.7.egg-info=Metadata-Version: 1.0\nName: bots\n"
      "Version: 3.2.0\n",
    "n/bots/__init__.py=",
    "n/other-2.0.dist-info/METADATA=Name: other\nVersion: 2.0\n\n",
    "n/other-2.0.dist-info/top_level.txt=other\n",
    "h/.bots/env/default/config/bots.ini=[jobqueue]\nenabled = True\n",
    NULL,
  };
  g_autofree char *root = make_tree (files);
  g_autofree char *w = g_build_filename (root, "w", "bots", NULL);
  g_autofree char *e = g_build_filename (root, "e", "bots", NULL);
  g_autofree char *f = g_build_filename (root, "f", "bots", NULL);
  g_autofree char *n = g_build_filename (root, "n", "bots", NULL);
  g_autoptr (JqBotsEnv) wheel = jq_botsenv_new (w, NULL, "test");
  g_autoptr (JqBotsEnv) egg = jq_botsenv_new (e, NULL, "test");
  g_autoptr (JqBotsEnv) file = jq_botsenv_new (f, NULL, "test");
  g_autoptr (JqBotsEnv) none = jq_botsenv_new (n, NULL, "test");
  g_autoptr (JqBotsEnv) said = jq_botsenv_new_said (n, NULL, "4.1", "test");

  assert_string_equal (wheel->version, "4.0.0");
  assert_int_equal (wheel->major, 4);
  assert_string_equal (egg->version, "4.0.1");
  assert_string_equal (file->version, "3.2.0");
  assert_int_equal (file->major, 3);
  assert_null (none->version);        /* another distribution's is not it */
  assert_int_equal (none->major, 0);
  assert_string_equal (said->version, "4.1");

  /* Bots 4 without -c: ~/.bots/env/default/config, not the template. */
  g_autofree char *home = g_build_filename (root, "h", NULL);
  g_autofree char *saved_home = g_strdup (g_getenv ("HOME"));
  g_setenv ("HOME", home, TRUE);
  g_unsetenv ("BOTS_CONFIG_DIR");
  g_unsetenv ("BOTSENV");
  g_autoptr (GError) error = NULL;
  g_autofree char *c = jq_botsenv_find_config (wheel, NULL, wheel->major, "/",
                                               &error);
  assert_non_null (c);
  assert_true (g_str_has_suffix (c, "/h/.bots/env/default/config"));
  if (saved_home)
    g_setenv ("HOME", saved_home, TRUE);
  remove_tree (root);
}

static void
test_read_assignment (void **state)
{
  static const char *const files[] = {
    "a.py=# TIME_ZONE = 'X'\n  TIME_ZONE = 'Indented'\nTIME_ZONE = 'Europe/Amsterdam'  # ok\n",
    "b.py=TIME_ZONE = 'Europe/Amsterdam'\nTIME_ZONE = None\n",
    "c.py=TIME_ZONE=u\"UTC\"\r\nTIME_ZONES = 'no'\n",
    "d.py=TIME_ZONE = 'a' + 'b'\n",
    "e.py=TIME_ZONE == 'x'\nTIME_ZONE = 'It\\'s'\n",
    NULL,
  };
  g_autofree char *root = make_tree (files);
  const char *names[] = { "a.py", "b.py", "c.py", "d.py", "e.py", "none.py" };
  const char *want[] = { "Europe/Amsterdam", NULL, "UTC", NULL, NULL, NULL };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *p = g_build_filename (root, names[i], NULL);
      g_autofree char *v = jq_botsenv_read_assignment (p, "TIME_ZONE");
      if (want[i] == NULL)
        assert_null (v);
      else
        assert_string_equal (v, want[i]);
    }
  assert_int_equal (jq_botsenv_parse_major ("3.3.0"), 3);
  assert_int_equal (jq_botsenv_parse_major ("4.0.0"), 4);
  assert_int_equal (jq_botsenv_parse_major ("5"), 4);
  assert_int_equal (jq_botsenv_parse_major ("2.1"), 0);
  assert_int_equal (jq_botsenv_parse_major ("x"), 0);
  remove_tree (root);
}

static void
test_script_python (void **state)
{
  static const char *const files[] = {
    "a=#!/usr/bin/python3\nimport sys\n",
    "b=#! /usr/bin/env  python2 \nimport sys\n",
    "c=#!/bin/sh\n'''exec' \"/opt/my venv/bin/python\" \"$0\" \"$@\"\n' '''\nimport sys\n",
    "d=#!/bin/sh\nexec python3 -m bots\n",
    "e=#!/bin/sh\n'''exec' \"/x\" \"$0\" \"$@\"\nimport sys\n",
    "f=import sys\n",
    "g=#!python3\n",
    "h=#!/bin/sh\n'''exec' \"\" \"$0\" \"$@\"\n' '''\n",
    NULL,
  };
  g_autofree char *root = make_tree (files);
  const char *names[] = { "a", "b", "c", "d", "e", "f", "g", "h", "none" };
  const char *want[] = { "/usr/bin/python3", "/usr/bin/env python2",
                         "/opt/my venv/bin/python", NULL, NULL, NULL, NULL,
                         NULL, NULL };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *p = g_build_filename (root, names[i], NULL);
      g_auto (GStrv) argv = NULL;
      gboolean ok = jq_botsenv_script_python (p, &argv);
      if (want[i] == NULL)
        {
          assert_false (ok);
          assert_null (argv);
          continue;
        }
      assert_true (ok);
      g_autofree char *joined = g_strjoinv (" ", argv);
      assert_string_equal (joined, want[i]);
    }
  remove_tree (root);
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
    cmocka_unit_test (test_caller_keys),
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_journal_keys),
    cmocka_unit_test (test_bots_ini_file),
    cmocka_unit_test (test_absolute_botssys),
    cmocka_unit_test (test_relative_botssys_dots),
    cmocka_unit_test (test_bad_values),
    cmocka_unit_test (test_ignored_lauchfrequency),
    cmocka_unit_test (test_find_config_as_bots),
    cmocka_unit_test (test_find_config_bots4),
    cmocka_unit_test (test_version_from_metadata),
    cmocka_unit_test (test_read_assignment),
    cmocka_unit_test (test_script_python),
    cmocka_unit_test (test_load_missing_says_where),
    cmocka_unit_test (test_load_error_names_file),
  };
  return cmocka_run_group_tests_name ("config", tests, NULL, NULL);
}
