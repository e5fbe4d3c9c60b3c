/* bots.ini: the job queue's keys, their defaults, and path resolution. */
#include "config.h"

#include "error.h"
#include "task.h"

char *
jq_config_resolve_dir (const char *option, const char *bots_dir_env,
                       const char *cwd)
{
  if (option != NULL)
    return g_canonicalize_filename (option, cwd);
  if (bots_dir_env != NULL && bots_dir_env[0] != '\0')
    {
      g_autofree char *bots = g_canonicalize_filename (bots_dir_env, cwd);
      return g_build_filename (bots, "config", NULL);
    }
  return g_canonicalize_filename ("config", cwd);
}

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
               "STARTINFO, WARNING, ERROR or CRITICAL)", key, v);
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

JqConfig *
jq_config_from_ini (const JqIni *ini, const char *config_dir, GError **error)
{
  g_autoptr (JqConfig) c = g_new0 (JqConfig, 1);

  c->config_dir = g_canonicalize_filename (config_dir, NULL);
  c->bots_dir = g_path_get_dirname (c->config_dir);
  c->ini_path = g_build_filename (c->config_dir, "bots.ini", NULL);
  c->botssys = resolve_directory (ini, "botssys", "botssys", c->bots_dir);
  c->log_path = g_build_filename (c->botssys, "logging", "jobqueue.log",
                                  NULL);
  c->state_dir = g_build_filename (c->botssys, "jobqueue", NULL);
  c->journal_path = g_build_filename (c->state_dir, "queue.db", NULL);
  c->lock_path = g_build_filename (c->state_dir, "server.lock", NULL);
  /* Jobs run in the folder Bots resolves its own relative paths against,
   * never in whatever folder the server was started from. */
  c->job_dir = g_strdup (c->bots_dir);
  /* What Bots' monitor sends (PROTOCOL section 6); task.c trusts them. */
  const char *python = jq_ini_get (ini, "settings", "python_executable_path");
  c->python_executable_path = python && python[0] ? g_strdup (python) : NULL;
  const char *engine = jq_ini_get (ini, "settings", "botsengine_path");
  c->botsengine_path = engine && engine[0] ? g_strdup (engine) : NULL;

  const char *command = jq_ini_get (ini, "jobqueue", "report_command");
  if (command != NULL && command[0] != '\0')
    {
      g_autoptr (GError) local = NULL;
      if (!g_shell_parse_argv (command, NULL, &c->report_command, &local))
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                       "[jobqueue] report_command: %s", local->message);
          return NULL;
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
      return NULL;
    }

  const char *bind = jq_ini_get (ini, "jobqueue", "bind");
  c->bind = g_strdup (bind && bind[0] ? bind : "127.0.0.1");
  c->authorized_tasks = jq_task_split_list (
      jq_ini_get (ini, "jobqueue", "authorized_tasks"));

  if (!jq_ini_get_bool (ini, "jobqueue", "enabled", FALSE, &c->enabled,
                        error)
      || !get_uint (ini, "jobqueue", "port", JQ_DEFAULT_PORT, 1, 65535,
                    &c->port, error)
      || !get_uint (ini, "jobqueue", "nr_threads", 1, 1, 1000,
                    &c->nr_threads, error)
      || !jq_ini_get_bool (ini, "jobqueue", "killjobsintimeout", FALSE,
                           &c->kill_jobs_in_timeout, error)
      || !jq_ini_get_bool (ini, "jobqueue", "log_console", TRUE,
                           &c->log_console, error)
      || !get_level (ini, "log_console_level", JQ_LOG_STARTINFO,
                     &c->log_console_level, error)
      || !get_level (ini, "log_file_level", JQ_LOG_INFO, &c->log_file_level,
                     error)
      || !get_uint (ini, "settings", "maxruntime", 60, 0, G_MAXINT / 60,
                    &c->maxruntime_minutes, error)
      || !get_uint (ini, "jobqueue", "stop_grace", 60, 0, 86400,
                    &c->stop_grace_seconds, error)
      || !get_uint (ini, "jobqueue", "kill_grace", 10, 0, 3600,
                    &c->kill_grace_seconds, error)
      || !get_uint (ini, "jobqueue", "history_days", 30, 0, 36500,
                    &c->history_days, error)
      || !jq_ini_get_bool (ini, "settings", "sendreportiferror", FALSE,
                           &c->send_reports, error)
      || !jq_ini_get_bool (ini, "jobqueue", "report_failed_jobs", FALSE,
                           &c->report_failed_jobs, error)
      || !get_uint (ini, "jobqueue", "report_failures_in_a_row", 3, 0, 1000,
                    &c->report_failures_in_a_row, error))
    return NULL;

  /* [jobqueue] lauchfrequency (Bots 3's poll interval) is deliberately
   * not read: launching is event driven, and a bad value in a key we
   * ignore is no reason to refuse to start. */
  return g_steal_pointer (&c);
}

JqConfig *
jq_config_load (const char *config_dir, GError **error)
{
  g_autofree char *path = g_build_filename (config_dir, "bots.ini", NULL);
  g_autoptr (GError) local = NULL;
  g_autoptr (JqIni) ini = jq_ini_load (path, &local);

  if (ini == NULL)
    {
      if (g_error_matches (local, JQ_ERROR, JQ_ERROR_NOT_FOUND))
        g_set_error (error, JQ_ERROR, JQ_ERROR_NOT_FOUND,
                     "no bots.ini found: looked for %s (set the config "
                     "folder with -c<folder> or the BOTS_DIR environment "
                     "variable)", path);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  JqConfig *c = jq_config_from_ini (ini, config_dir, &local);
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
  g_autofree char *dir = jq_config_resolve_dir (option, g_getenv ("BOTS_DIR"),
                                                cwd);
  return jq_config_load (dir, error);
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
  g_free (c->log_path);
  g_free (c->state_dir);
  g_free (c->journal_path);
  g_free (c->lock_path);
  g_free (c->job_dir);
  g_free (c->python_executable_path);
  g_free (c->botsengine_path);
  g_strfreev (c->report_command);
  g_free (c->report_to);
  g_free (c->bind);
  g_strfreev (c->authorized_tasks);
  g_free (c);
}
