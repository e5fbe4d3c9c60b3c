/* bots.ini: the job queue's keys, their defaults, and path resolution. */
#include "config.h"

#include <string.h>

#include "error.h"
#include "task.h"

static gboolean
get_uint (const JqIni *ini, const char *section, const char *key,
          gint64 fallback, gint64 min, gint64 max, guint *out, GError **error)
{
  gint64 v;
  if (!jq_ini_get_int (ini, section, key, fallback, &v, error))
    return FALSE;
  if (v < min || v > max)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[%s] %s = %" G_GINT64_FORMAT " is out of range (%"
                   G_GINT64_FORMAT " to %" G_GINT64_FORMAT ")",
                   section, key, v, min, max);
      return FALSE;
    }
  *out = (guint) v;
  return TRUE;
}

/* [jobqueue] max_waiting_bytes: what the waiting jobs cost in memory at
 * most (jq_queue_job_cost, measured); max_waiting_jobs: how many may
 * wait.  0 is no cap.  doc/reliability.md derives the worst cases. */
#define MAX_WAITING_DEFAULT (64 * 1024 * 1024)
#define MAX_WAITING_JOBS_DEFAULT 100000

static gboolean
get_cap (const JqIni *ini, const char *key, gint64 fallback, gint64 max,
         const char *unit, guint64 *out, GError **error)
{
  gint64 v;
  if (!jq_ini_get_int (ini, "jobqueue", key, fallback, &v, error))
    return FALSE;
  if (v < 0 || v > max)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] %s = %" G_GINT64_FORMAT
                   " is out of range (0 for no cap, or %s)", key, v, unit);
      return FALSE;
    }
  *out = (guint64) v;
  return TRUE;
}

static gboolean
get_max_waiting (const JqIni *ini, JqConfig *c, GError **error)
{
  guint64 jobs = 0;
  if (!get_cap (ini, "max_waiting_bytes", MAX_WAITING_DEFAULT, G_MAXINT64,
                "bytes", &c->max_waiting_bytes, error)
      || !get_cap (ini, "max_waiting_jobs", MAX_WAITING_JOBS_DEFAULT,
                   G_MAXUINT, "jobs", &jobs, error))
    return FALSE;
  c->max_waiting_jobs = (guint) jobs;
  return TRUE;
}

/* [jobqueue] status_listen = ADDRESS:PORT (an IPv6 address in brackets):
 * where the status page and metrics are also served.  Empty or absent:
 * only on the XML-RPC port. */
static gboolean
get_status_listen (const JqIni *ini, JqConfig *c, GError **error)
{
  const char *value = jq_ini_get (ini, "jobqueue", "status_listen");
  if (value == NULL || value[0] == '\0')
    return TRUE;
  const char *colon = strrchr (value, ':');
  guint64 port = 0;
  if (colon == NULL || colon == value
      || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] status_listen = \"%s\" is not ADDRESS:PORT "
                   "(say 127.0.0.1:28083 or [::1]:28083)", value);
      return FALSE;
    }
  const char *host = value, *host_end = colon;
  if (host[0] == '[' && host_end[-1] == ']')
    host++, host_end--;
  c->status_bind = g_strndup (host, host_end - host);
  c->status_port = (guint) port;
  return TRUE;
}

static gboolean
get_level (const JqIni *ini, const char *key, JqLogLevel fallback,
           JqLogLevel *out, GError **error)
{
  const char *v = jq_ini_get (ini, "jobqueue", key);
  if (v == NULL)
    return *out = fallback, TRUE;
  if (jq_log_level_parse (v, out))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
               "[jobqueue] %s = \"%s\" is not a log level (DEBUG, INFO, "
               "STARTINFO, WARNING, ERROR or CRITICAL; Bots 4 also STDOUT, "
               "STDERR, DONE, START)", key, v);
  return FALSE;
}

/* Relative [directories] paths are relative to the Bots folder, the
 * parent of the config folder in a standard installation. */
static char *
resolve_directory (const JqIni *ini, const char *key, const char *fallback,
                   const char *bots_dir)
{
  const char *v = jq_ini_get (ini, "directories", key);
  if (v == NULL || v[0] == '\0')
    v = fallback;
  return g_canonicalize_filename (v, bots_dir);
}

/* [jobqueue] bots_version overrides what the installation says; 0 when
 * neither tells. */
static gboolean
get_bots_version (const JqIni *ini, const JqBotsEnv *env, int *out,
                  GError **error)
{
  const char *v = jq_ini_get (ini, "jobqueue", "bots_version");
  if (v == NULL || v[0] == '\0')
    {
      *out = env != NULL ? env->major : 0;
      return TRUE;
    }
  g_autofree char *trimmed = g_strstrip (g_strdup (v));
  *out = jq_botsenv_parse_major (trimmed);
  if (*out == 0)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] bots_version = \"%s\" is not 3 or 4", v);
      return FALSE;
    }
  return TRUE;
}

/* Bots 4: [jobqueue] log_file_number, else [settings] log_file_number,
 * else 30.  Bots 3 keeps 10. */
static gboolean
get_log_backups (const JqIni *ini, int version, guint *out, GError **error)
{
  if (version != 4)
    return *out = JQ_LOG_BACKUP_COUNT, TRUE;
  const char *section = jq_ini_get (ini, "jobqueue", "log_file_number")
                        ? "jobqueue" : "settings";
  return get_uint (ini, section, "log_file_number", 30, 0, 100000, out,
                   error);
}

JqConfig *
jq_config_from_ini (const JqIni *ini, const char *config_dir, GError **error)
{
  return jq_config_from_ini_in (ini, config_dir, NULL, error);
}

/* Whether @zone can only name a file of the system's zone folder, as
 * IANA's names do ("Europe/Amsterdam", "Etc/GMT+1"): names of letters,
 * digits, '_', '-', '+' and '.', joined by '/', none of them "." or "..".
 * GLib opens the zone folder's file of that name: "../../home/x/fifo"
 * made the server wait for a writer at its start. */
static gboolean
is_zone_name (const char *zone)
{
  if (zone[0] == '\0' || strlen (zone) > 255)
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (zone, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    {
      if ((*p)[0] == '\0' || strcmp (*p, ".") == 0 || strcmp (*p, "..") == 0)
        return FALSE;
      for (const char *c = *p; *c != '\0'; c++)
        if (!g_ascii_isalnum (*c) && strchr ("_-+.", *c) == NULL)
          return FALSE;
    }
  return TRUE;
}

/* Where files live: bots folder, botssys, log, journal, lock, jobs. */
static gboolean
read_paths (const JqIni *ini, const JqBotsEnv *env, JqConfig *c,
            GError **error)
{
  c->bots_dir = env != NULL && env->botspath != NULL
                ? g_strdup (env->botspath)
                : g_path_get_dirname (c->config_dir);
  c->ini_path = g_build_filename (c->config_dir, "bots.ini", NULL);
  c->botssys = resolve_directory (ini, "botssys", "botssys", c->bots_dir);
  c->bots_release = env != NULL ? g_strdup (env->version) : NULL;
  if (!get_bots_version (ini, env, &c->bots_version, error)
      || !get_log_backups (ini, c->bots_version, &c->log_backups, error))
    return FALSE;
  c->log_path = c->bots_version == 4
    ? g_build_filename (c->botssys, "logging", "jobqueue", "jobqueue.log",
                        NULL)
    : g_build_filename (c->botssys, "logging", "jobqueue.log", NULL);
  g_autofree char *settings = g_build_filename (c->config_dir, "settings.py",
                                                NULL);
  c->time_zone = jq_botsenv_read_assignment (settings, "TIME_ZONE");
  if (c->time_zone != NULL && !is_zone_name (c->time_zone))
    c->time_zone_refused = g_steal_pointer (&c->time_zone);
  c->state_dir = g_build_filename (c->botssys, "jobqueue", NULL);
  c->journal_path = g_build_filename (c->state_dir, "queue.db", NULL);
  c->lock_path = g_build_filename (c->state_dir, "server.lock", NULL);
  /* Jobs run in the folder Bots resolves its own relative paths against,
   * never in whatever folder the server was started from. */
  c->job_dir = g_strdup (c->bots_dir);
  return TRUE;
}

/* The settings given as text: programs, report command and address,
 * durability, bind address, authorized tasks. */
/* Where the queue lives: the SQLite file (default) or a PostgreSQL
 * database shared by several servers. */
static gboolean
read_journal (const JqIni *ini, JqConfig *c, GError **error)
{
  const char *store = jq_ini_get (ini, "jobqueue", "journal");
  if (store != NULL && store[0] != '\0'
      && g_ascii_strcasecmp (store, "sqlite") != 0)
    {
      if (g_ascii_strcasecmp (store, "postgresql") != 0)
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                       "[jobqueue] journal = \"%s\" is not one of sqlite or "
                       "postgresql", store);
          return FALSE;
        }
      c->journal_postgresql = TRUE;
      const char *dsn = jq_ini_get (ini, "jobqueue", "journal_dsn");
      if (dsn == NULL || dsn[0] == '\0')
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                       "[jobqueue] journal = postgresql needs journal_dsn, "
                       "a libpq connection string such as "
                       "\"host=db1 dbname=botsdb user=bots\"");
          return FALSE;
        }
      c->journal_dsn = g_strdup (dsn);
    }
  const char *member = jq_ini_get (ini, "jobqueue", "journal_member");
  c->journal_member = member && member[0] ? g_strdup (member) : NULL;
  return TRUE;
}

/* What Bots' monitor sends (PROTOCOL section 6) and the extra programs;
 * task.c trusts them. */
static void
auth_keys_from_ini (const JqIni *ini, JqAuthKeys *keys)
{
  const char *python = jq_ini_get (ini, "settings", "python_executable_path");
  keys->python_executable_path = python && python[0] ? g_strdup (python)
                                                     : NULL;
  const char *engine = jq_ini_get (ini, "settings", "botsengine_path");
  keys->botsengine_path = engine && engine[0] ? g_strdup (engine) : NULL;
  keys->authorized_tasks = jq_task_split_list (
      jq_ini_get (ini, "jobqueue", "authorized_tasks"));
}

gboolean
jq_config_read_auth_keys (const char *ini_path, JqAuthKeys *keys,
                          GError **error)
{
  g_autoptr (JqIni) ini = jq_ini_load (ini_path, error);
  if (ini == NULL)
    return FALSE;
  auth_keys_from_ini (ini, keys);
  return TRUE;
}

void
jq_auth_keys_clear (JqAuthKeys *keys)
{
  g_clear_pointer (&keys->authorized_tasks, g_strfreev);
  g_clear_pointer (&keys->python_executable_path, g_free);
  g_clear_pointer (&keys->botsengine_path, g_free);
}

static gboolean
read_texts (const JqIni *ini, JqConfig *c, GError **error)
{
  JqAuthKeys keys;
  auth_keys_from_ini (ini, &keys);
  c->authorized_tasks = keys.authorized_tasks;
  c->python_executable_path = keys.python_executable_path;
  c->botsengine_path = keys.botsengine_path;
  const char *user = jq_ini_get (ini, "jobqueue", "user");
  c->user = user && user[0] ? g_strstrip (g_strdup (user)) : NULL;

  const char *command = jq_ini_get (ini, "jobqueue", "report_command");
  if (command != NULL && command[0] != '\0')
    {
      g_autoptr (GError) local = NULL;
      if (!g_shell_parse_argv (command, NULL, &c->report_command, &local))
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                       "[jobqueue] report_command: %s", local->message);
          return FALSE;
        }
    }
  const char *to = jq_ini_get (ini, "jobqueue", "report_to");
  c->report_to = to && to[0] ? g_strdup (to) : NULL;

  const char *durability = jq_ini_get (ini, "jobqueue", "durability");
  if (durability == NULL)
    c->durability = JQ_DURABILITY_FULL;
  else if (!jq_durability_parse (durability, &c->durability))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] durability = \"%s\" is not one of full, fast "
                   "or none", durability);
      return FALSE;
    }

  const char *bind = jq_ini_get (ini, "jobqueue", "bind");
  c->bind = g_strdup (bind && bind[0] ? bind : "127.0.0.1");
  c->admin_users = jq_task_split_list (jq_ini_get (ini, "jobqueue",
                                                   "admin_users"));
  const char *group = jq_ini_get (ini, "jobqueue", "admin_group");
  c->admin_group = group && group[0] ? g_strstrip (g_strdup (group)) : NULL;
  return TRUE;
}

/* The switches and numbers, each checked against its range. */
static gboolean
read_numbers (const JqIni *ini, JqConfig *c, GError **error)
{
  return jq_ini_get_bool (ini, "jobqueue", "enabled", FALSE, &c->enabled,
                          error)
      && get_uint (ini, "jobqueue", "port", JQ_DEFAULT_PORT, 1, 65535,
                   &c->port, error)
      && get_uint (ini, "jobqueue", "nr_threads", 1, 1, 1000,
                   &c->nr_threads, error)
      && get_max_waiting (ini, c, error)
      && jq_ini_get_bool (ini, "jobqueue", "killjobsintimeout", FALSE,
                          &c->kill_jobs_in_timeout, error)
      && jq_ini_get_bool (ini, "jobqueue", "log_job_output",
                          c->bots_version == 4, &c->log_job_output, error)
      && jq_ini_get_bool (ini, "jobqueue", "log_console", TRUE,
                          &c->log_console, error)
      && get_level (ini, "log_console_level", JQ_LOG_STARTINFO,
                    &c->log_console_level, error)
      && get_level (ini, "log_file_level", JQ_LOG_INFO, &c->log_file_level,
                    error)
      && get_uint (ini, "settings", "maxruntime", 60, 0, G_MAXINT / 60,
                   &c->maxruntime_minutes, error)
      && get_uint (ini, "jobqueue", "stop_grace", 60, 0, 86400,
                   &c->stop_grace_seconds, error)
      && get_uint (ini, "jobqueue", "kill_grace", 10, 0, 3600,
                   &c->kill_grace_seconds, error)
      && get_uint (ini, "jobqueue", "journal_lease", 5, 1, 600,
                   &c->journal_lease_seconds, error)
      && get_uint (ini, "jobqueue", "history_days", 30, 0, 36500,
                   &c->history_days, error)
      && get_uint (ini, "jobqueue", "user_connection_share", 50, 1, 100,
                   &c->user_connection_share, error)
      && get_uint (ini, "jobqueue", "user_queue_share", 50, 1, 100,
                   &c->user_queue_share, error)
      && jq_ini_get_bool (ini, "settings", "sendreportiferror", FALSE,
                          &c->send_reports, error)
      && jq_ini_get_bool (ini, "jobqueue", "report_failed_jobs", FALSE,
                          &c->report_failed_jobs, error)
      && get_uint (ini, "jobqueue", "report_failures_in_a_row", 3, 0, 1000,
                   &c->report_failures_in_a_row, error)
      && get_status_listen (ini, c, error);
}

JqConfig *
jq_config_from_ini_in (const JqIni *ini, const char *config_dir,
                       const JqBotsEnv *env, GError **error)
{
  g_autoptr (JqConfig) c = g_new0 (JqConfig, 1);
  c->config_dir = g_canonicalize_filename (config_dir, NULL);
  if (!read_paths (ini, env, c, error) || !read_texts (ini, c, error)
      || !read_journal (ini, c, error) || !read_numbers (ini, c, error))
    return NULL;
  /* [jobqueue] lauchfrequency (Bots 3's poll interval) is deliberately
   * not read: launching is event driven, and a bad value in a key we
   * ignore is no reason to refuse to start. */
  return g_steal_pointer (&c);
}

JqConfig *
jq_config_load (const char *config_dir, GError **error)
{
  return jq_config_load_in (NULL, config_dir, error);
}

JqConfig *
jq_config_load_in (const JqBotsEnv *env, const char *config_dir,
                   GError **error)
{
  g_autofree char *path = g_build_filename (config_dir, "bots.ini", NULL);
  g_autoptr (GError) local = NULL;
  g_autoptr (JqIni) ini = jq_ini_load (path, &local);

  if (ini == NULL)
    {
      if (g_error_matches (local, JQ_ERROR, JQ_ERROR_NOT_FOUND))
        g_set_error (error, JQ_ERROR, JQ_ERROR_NOT_FOUND,
                     "no bots.ini found at %s (set the config folder with "
                     "-c<folder> or the BOTS_DIR environment variable)",
                     path);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  JqConfig *c = jq_config_from_ini_in (ini, config_dir, env, &local);
  if (c != NULL && env != NULL)
    c->bots_python = g_strdup (env->python);
  if (c == NULL)
    {
      /* Range errors do not know the file name; say it once here. */
      if (g_str_has_prefix (local->message, path))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG, "%s: %s", path,
                     local->message);
    }
  return c;
}

JqConfig *
jq_config_load_from_option (const char *option, GError **error)
{
  g_autofree char *cwd = g_get_current_dir ();
  g_autoptr (JqBotsEnv) env = jq_botsenv_discover ();
  g_autofree char *dir = jq_botsenv_find_config (env, option, env->major,
                                                 cwd, error);
  if (dir == NULL)
    return NULL;
  return jq_config_load_in (env, dir, error);
}

void
jq_config_free (JqConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->config_dir);
  g_free (c->bots_dir);
  g_free (c->ini_path);
  g_free (c->botssys);
  g_free (c->time_zone);
  g_free (c->time_zone_refused);
  g_free (c->bots_release);
  g_free (c->log_path);
  g_free (c->state_dir);
  g_free (c->journal_path);
  g_free (c->lock_path);
  g_free (c->journal_dsn);
  g_free (c->journal_member);
  g_free (c->job_dir);
  g_free (c->python_executable_path);
  g_free (c->botsengine_path);
  g_free (c->user);
  g_free (c->bots_python);
  g_strfreev (c->report_command);
  g_free (c->report_to);
  g_free (c->bind);
  g_free (c->status_bind);
  g_strfreev (c->authorized_tasks);
  g_strfreev (c->admin_users);
  g_free (c->admin_group);
  g_free (c);
}
