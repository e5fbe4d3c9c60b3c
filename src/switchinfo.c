/* An installation as bots-jobqueue-switch describes it.
 *
 * The reading is done by a child that is the owner of the bots package
 * (src/runas.c) and hands its findings to the parent as a key file on a
 * pipe: bots.ini, settings and the journal are that user's files. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "switchinfo.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "botsenv.h"
#include "config.h"
#include "ini.h"
#include "runas.h"

#define TASKS_SHOWN 5
#define G "installation"

static char *
absolute_in (const char *base, const char *path)
{
  if (g_path_is_absolute (path))
    return g_canonicalize_filename (path, NULL);
  return g_canonicalize_filename (path, base);
}

/* One number from the journal; FALSE on an error (in *@why). */
static gboolean
count (sqlite3 *db, const char *sql, gint64 *out, char **why)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &st, NULL);
  *out = 0;
  if (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW)
    *out = sqlite3_column_int64 (st, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE && *why == NULL)
    *why = g_strdup (sqlite3_errmsg (db));
  sqlite3_finalize (st);
  return *why == NULL;
}

static void
first_tasks (sqlite3 *db, GKeyFile *kf)
{
  sqlite3_stmt *st = NULL;
  GPtrArray *tasks = g_ptr_array_new_with_free_func (g_free);
  if (sqlite3_prepare_v2 (db, "SELECT task FROM jobs WHERE state = 'waiting' "
                          "ORDER BY at_head DESC, priority, number LIMIT "
                          G_STRINGIFY (TASKS_SHOWN), -1, &st, NULL) == SQLITE_OK)
    while (sqlite3_step (st) == SQLITE_ROW)
      {
        const unsigned char *t = sqlite3_column_text (st, 0);
        g_ptr_array_add (tasks, g_strdup (t ? (const char *) t : "?"));
      }
  sqlite3_finalize (st);
  g_key_file_set_string_list (kf, G, "tasks", (const char *const *) tasks->pdata, tasks->len);
  g_ptr_array_free (tasks, TRUE);
}

/* The journal, opened read-only: nothing in the folder changes. */
static void
read_journal (const char *path, GKeyFile *kf)
{
  sqlite3 *db = NULL;
  char *why = NULL;
  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    why = g_strdup (db ? sqlite3_errmsg (db) : "out of memory");
  gint64 waiting = 0, running = 0, paused = 0;
  if (why == NULL)
    sqlite3_busy_timeout (db, 2000);
  if (why == NULL
      && count (db, "SELECT count(*) FROM jobs WHERE state = 'waiting'", &waiting, &why)
      && count (db, "SELECT count(*) FROM jobs WHERE state = 'running'", &running, &why)
      && count (db, "SELECT coalesce(max(value), 0) FROM meta WHERE key = 'paused'",
                &paused, &why))
    {
      g_key_file_set_uint64 (kf, G, "waiting", waiting);
      g_key_file_set_uint64 (kf, G, "running", running);
      g_key_file_set_boolean (kf, G, "paused", paused != 0);
      first_tasks (db, kf);
    }
  if (why != NULL)
    g_key_file_set_string (kf, G, "journal_error", why);
  g_free (why);
  sqlite3_close (db);
}

static void
describe (const JqConfig *c, const JqIni *ini, GKeyFile *kf)
{
  const char *usersys = jq_ini_get (ini, "directories", "usersys");
  g_autofree char *user_abs = absolute_in (c->bots_dir, usersys ? usersys : "usersys");
  g_key_file_set_string (kf, G, "config_dir", c->config_dir);
  g_autofree char *real = realpath (c->botssys, NULL);
  g_key_file_set_string (kf, G, "botssys", real ? real : c->botssys);
  g_key_file_set_string (kf, G, "usersys", user_abs);
  g_key_file_set_string (kf, G, "state_dir", c->state_dir);
  g_key_file_set_string (kf, G, "journal_path", c->journal_path);
  g_key_file_set_uint64 (kf, G, "port", c->port);
  g_key_file_set_boolean (kf, G, "postgresql", c->journal_postgresql);
  g_key_file_set_boolean (kf, G, "state_exists",
                          g_file_test (c->state_dir, G_FILE_TEST_IS_DIR));
  if (!c->journal_postgresql && g_file_test (c->journal_path, G_FILE_TEST_EXISTS))
    read_journal (c->journal_path, kf);
}

/* The child's side: prints the key file. */
static int
learn (gpointer data)
{
  const char *botspath = data;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (JqBotsEnv) env = jq_botsenv_new (botspath, NULL, "bots-jobqueue-switch");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = jq_botsenv_find_config (env, NULL, env->major, "/", &error);
  g_autofree char *ini_path = dir ? g_build_filename (dir, "bots.ini", NULL) : NULL;
  g_autoptr (JqIni) ini = dir ? jq_ini_load (ini_path, &error) : NULL;
  g_autoptr (JqConfig) c = ini ? jq_config_load_in (env, dir, &error) : NULL;
  if (c != NULL)
    describe (c, ini, kf);
  if (c != NULL)
    g_key_file_set_integer (kf, G, "major", env->major ? env->major : c->bots_version);
  else
    g_key_file_set_string (kf, G, "error", error ? error->message : "unknown");
  g_autofree char *text = g_key_file_to_data (kf, NULL, NULL);
  fputs (text, stdout);
  return 0;
}

static char *
get (GKeyFile *kf, const char *key)
{
  return g_key_file_get_string (kf, G, key, NULL);
}

static void
from_key_file (GKeyFile *kf, JqSwitchInfo *info)
{
  info->error = get (kf, "error");
  info->config_dir = get (kf, "config_dir");
  info->botssys = get (kf, "botssys");
  info->usersys = get (kf, "usersys");
  info->state_dir = get (kf, "state_dir");
  info->journal_path = get (kf, "journal_path");
  info->journal_error = get (kf, "journal_error");
  info->port = (guint) g_key_file_get_uint64 (kf, G, "port", NULL);
  info->postgresql = g_key_file_get_boolean (kf, G, "postgresql", NULL);
  info->major = g_key_file_get_integer (kf, G, "major", NULL);
  info->state_exists = g_key_file_get_boolean (kf, G, "state_exists", NULL);
  info->waiting = (guint) g_key_file_get_uint64 (kf, G, "waiting", NULL);
  info->running = (guint) g_key_file_get_uint64 (kf, G, "running", NULL);
  info->paused = g_key_file_get_boolean (kf, G, "paused", NULL);
  info->tasks = g_key_file_get_string_list (kf, G, "tasks", NULL, NULL);
  if (info->error == NULL && (info->botssys == NULL || info->port == 0))
    info->error = g_strdup ("no answer");
}

JqSwitchInfo *
jq_switchinfo_read (const char *botspath)
{
  JqSwitchInfo *info = g_new0 (JqSwitchInfo, 1);
  const char *paths[] = { botspath, NULL };
  JqUser who;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!jq_runas_path_user (paths, &who, &error)
      || jq_runas_call (&who, learn, (gpointer) botspath, out, 60000, &error) != 0
      || !g_key_file_load_from_data (kf, out->str, out->len, G_KEY_FILE_NONE, &error))
    {
      info->error = g_strdup (error ? error->message : "the reader failed");
      return info;
    }
  from_key_file (kf, info);
  return info;
}

void
jq_switchinfo_free (JqSwitchInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->error);
  g_free (info->config_dir);
  g_free (info->botssys);
  g_free (info->usersys);
  g_free (info->state_dir);
  g_free (info->journal_path);
  g_free (info->journal_error);
  g_strfreev (info->tasks);
  g_free (info);
}
