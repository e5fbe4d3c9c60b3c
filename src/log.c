/* Bots job queue log: line format, levels, midnight rotation.
 *
 * Rotation copies the behaviour of a Python TimedRotatingFileHandler with
 * when='midnight' and backupCount=10, because administrators' scripts look
 * for those file names: at the first write after local midnight the live
 * file is renamed to jobqueue.log.YYYY-MM-DD (the day it covers) and the
 * oldest backups beyond ten are deleted. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

struct _JqLog {
  GMutex      lock;            /* guards everything below */
  char       *path;            /* NULL: no file sink */
  FILE       *file;
  JqLogLevel  file_level;
  gboolean    console;
  JqLogLevel  console_level;
  JqLogClock  clock;
  gpointer    clock_data;
  GTimeZone  *zone;            /* local zone, re-read at rollover and reopen */
  gint64      rollover_at;     /* unix seconds; 0 = not computed yet */
  gboolean    write_failed;    /* reported once until a write works again */
  guint       held;            /* jq_log_hold() nesting: writes deferred */
  GString    *held_file;       /* lines for the file while held */
  GString    *held_console;    /* lines for the console while held */
};

static const struct {
  JqLogLevel  level;
  const char *name;
} level_names[] = {
  { JQ_LOG_DEBUG, "DEBUG" },     { JQ_LOG_INFO, "INFO" },
  { JQ_LOG_STARTINFO, "STARTINFO" }, { JQ_LOG_WARNING, "WARNING" },
  { JQ_LOG_ERROR, "ERROR" },     { JQ_LOG_CRITICAL, "CRITICAL" },
};

gboolean
jq_log_level_parse (const char *name, JqLogLevel *out)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (name));
  for (gsize i = 0; i < G_N_ELEMENTS (level_names); i++)
    if (g_ascii_strcasecmp (trimmed, level_names[i].name) == 0)
      {
        *out = level_names[i].level;
        return TRUE;
      }
  return FALSE;
}

const char *
jq_log_level_name (JqLogLevel level)
{
  for (gsize i = 0; i < G_N_ELEMENTS (level_names); i++)
    if (level_names[i].level == level)
      return level_names[i].name;
  return "LEVEL";
}

char *
jq_log_format_line (GDateTime *when, JqLogLevel level, const char *message)
{
  g_autofree char *stamp = g_date_time_format (when, "%Y%m%d %H:%M:%S");
  return g_strdup_printf ("%s %-9s: %s\n", stamp, jq_log_level_name (level),
                          message);
}

GDateTime *
jq_log_next_midnight (GDateTime *t)
{
  g_autoptr (GDateTime) local = g_date_time_to_local (t);
  g_autoptr (GDateTime) today = g_date_time_new_local (
      g_date_time_get_year (local), g_date_time_get_month (local),
      g_date_time_get_day_of_month (local), 0, 0, 0);
  return g_date_time_add_days (today, 1);
}

char *
jq_log_backup_name (const char *path, GDateTime *rollover)
{
  g_autoptr (GDateTime) day = g_date_time_add_days (rollover, -1);
  g_autofree char *date = g_date_time_format (day, "%Y-%m-%d");
  return g_strdup_printf ("%s.%s", path, date);
}

/* g_date_time_new_now_local() looks at /etc/localtime on every call; a
 * log line does not need that, a new day or a SIGHUP does. */
static GDateTime *
default_clock (gpointer user_data)
{
  JqLog *log = user_data;
  return g_date_time_new_now (log->zone);
}

static void
refresh_zone (JqLog *log)
{
  if (log->zone != NULL)
    g_time_zone_unref (log->zone);
  log->zone = g_time_zone_new_local ();
}

/* Python bases the first rollover on the file's modification time, so a
 * log last written yesterday rolls over at the first write today. */
static void
compute_rollover (JqLog *log)
{
  struct stat st;
  g_autoptr (GDateTime) base = NULL;

  if (log->path != NULL && g_stat (log->path, &st) == 0 && st.st_size > 0)
    base = g_date_time_new_from_unix_local (st.st_mtime);
  else
    base = log->clock (log->clock_data);
  g_autoptr (GDateTime) midnight = jq_log_next_midnight (base);
  log->rollover_at = g_date_time_to_unix (midnight);
}

static gboolean
open_file (JqLog *log, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (log->path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot create log folder %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  FILE *f = fopen (log->path, "ae");
  if (f == NULL)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot open log %s: %s",
                   log->path, g_strerror (saved));
      return FALSE;
    }
  if (log->file != NULL)
    fclose (log->file);
  log->file = f;
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Deletes the oldest "<name>.YYYY-MM-DD" files beyond the backup count. */
static void
prune_backups (JqLog *log)
{
  g_autofree char *dir = g_path_get_dirname (log->path);
  g_autofree char *base = g_path_get_basename (log->path);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  gsize prefix = strlen (base) + 1;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      int y, m, dd;
      char tail;
      if (strncmp (name, base, prefix - 1) == 0 && name[prefix - 1] == '.'
          && strlen (name + prefix) == 10
          && sscanf (name + prefix, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) == 3)
        g_ptr_array_add (found, g_strdup (name));
    }
  g_ptr_array_sort (found, compare_names);
  for (guint i = 0; i + JQ_LOG_BACKUP_COUNT < found->len; i++)
    {
      g_autofree char *victim = g_build_filename (dir, found->pdata[i], NULL);
      g_unlink (victim);
    }
}

static void
rotate (JqLog *log, gint64 now)
{
  g_autoptr (GDateTime) rollover = g_date_time_new_from_unix_local (
      log->rollover_at);
  g_autofree char *backup = jq_log_backup_name (log->path, rollover);

  if (log->file != NULL)
    fclose (log->file);
  log->file = NULL;
  g_unlink (backup);
  if (g_rename (log->path, backup) != 0 && errno != ENOENT)
    fprintf (stderr, "bots-jobqueueserver: cannot rename log %s to %s: %s\n",
             log->path, backup, g_strerror (errno));
  prune_backups (log);

  g_autoptr (GError) error = NULL;
  if (!open_file (log, &error))
    fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);

  refresh_zone (log);
  g_autoptr (GDateTime) now_dt = g_date_time_new_from_unix_local (now);
  g_autoptr (GDateTime) next = jq_log_next_midnight (now_dt);
  log->rollover_at = g_date_time_to_unix (next);
}

JqLog *
jq_log_new (const char *path, JqLogLevel file_level, gboolean console,
            JqLogLevel console_level, GError **error)
{
  JqLog *log = g_new0 (JqLog, 1);

  g_mutex_init (&log->lock);
  log->path = g_strdup (path);
  log->file_level = file_level;
  log->console = console;
  log->console_level = console_level;
  log->clock = default_clock;
  log->clock_data = log;
  refresh_zone (log);
  if (path != NULL && !open_file (log, error))
    {
      jq_log_free (log);
      return NULL;
    }
  compute_rollover (log);
  return log;
}

void
jq_log_set_clock (JqLog *log, JqLogClock clock, gpointer user_data)
{
  g_mutex_lock (&log->lock);
  log->clock = clock ? clock : default_clock;
  log->clock_data = clock ? user_data : log;
  compute_rollover (log);
  g_mutex_unlock (&log->lock);
}

/* Reports a failed write once, until a write works again.  Lock held. */
static void
check_written (JqLog *log, gboolean ok)
{
  if (ok)
    {
      log->write_failed = FALSE;
      return;
    }
  if (!log->write_failed)
    fprintf (stderr, "bots-jobqueueserver: cannot write log %s: %s\n",
             log->path, g_strerror (errno));
  log->write_failed = TRUE;
  clearerr (log->file);
}

void
jq_log_hold (JqLog *log)
{
  g_mutex_lock (&log->lock);
  log->held++;
  g_mutex_unlock (&log->lock);
}

/* Writes what was held.  Lock held. */
static void
write_held (JqLog *log)
{
  if (log->held_file != NULL && log->held_file->len > 0 && log->file != NULL)
    check_written (log, fwrite (log->held_file->str, 1, log->held_file->len,
                                log->file) == log->held_file->len
                        && fflush (log->file) == 0);
  if (log->held_console != NULL && log->held_console->len > 0)
    {
      fwrite (log->held_console->str, 1, log->held_console->len, stderr);
      fflush (stderr);
    }
}

static void
end_hold (JqLog *log, gboolean write)
{
  g_mutex_lock (&log->lock);
  g_warn_if_fail (log->held > 0);
  if (log->held > 0 && --log->held == 0)
    {
      if (write)
        write_held (log);
      if (log->held_file != NULL)
        g_string_truncate (log->held_file, 0);
      if (log->held_console != NULL)
        g_string_truncate (log->held_console, 0);
    }
  g_mutex_unlock (&log->lock);
}

void
jq_log_release (JqLog *log)
{
  end_hold (log, TRUE);
}

void
jq_log_discard (JqLog *log)
{
  end_hold (log, FALSE);
}

void
jq_log_write (JqLog *log, JqLogLevel level, const char *format, ...)
{
  gboolean to_file = log->path != NULL && level >= log->file_level;
  gboolean to_console = log->console && level >= log->console_level;
  if (!to_file && !to_console)
    return;

  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);

  g_mutex_lock (&log->lock);
  g_autoptr (GDateTime) now = log->clock (log->clock_data);
  g_autofree char *line = jq_log_format_line (now, level, message);

  if (to_file)
    {
      if (g_date_time_to_unix (now) >= log->rollover_at)
        rotate (log, g_date_time_to_unix (now));
      if (log->held > 0)
        {
          if (log->held_file == NULL)
            log->held_file = g_string_new (NULL);
          g_string_append (log->held_file, line);
        }
      else if (log->file != NULL)
        check_written (log, fputs (line, log->file) >= 0
                            && fflush (log->file) == 0);
    }
  if (to_console && log->held > 0)
    {
      if (log->held_console == NULL)
        log->held_console = g_string_new (NULL);
      g_string_append (log->held_console, line);
    }
  else if (to_console)
    {
      fputs (line, stderr);
      fflush (stderr);
    }
  g_mutex_unlock (&log->lock);
}

gboolean
jq_log_reopen (JqLog *log, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&log->lock);
  refresh_zone (log);
  if (log->path != NULL)
    {
      ok = open_file (log, error);
      compute_rollover (log);
    }
  g_mutex_unlock (&log->lock);
  return ok;
}

const char *
jq_log_get_path (JqLog *log)
{
  return log->path;
}

void
jq_log_free (JqLog *log)
{
  if (log == NULL)
    return;
  if (log->file != NULL)
    fclose (log->file);
  if (log->held_file != NULL)
    g_string_free (log->held_file, TRUE);
  if (log->held_console != NULL)
    g_string_free (log->held_console, TRUE);
  g_free (log->path);
  g_time_zone_unref (log->zone);
  g_mutex_clear (&log->lock);
  g_free (log);
}
