/* Bots job queue log: line format, levels, midnight rotation.
 *
 * Rotation copies the behaviour of a Python TimedRotatingFileHandler with
 * when='midnight' and backupCount=10 (Bots 3) or log_file_number (Bots 4),
 * because administrators' scripts look for those file names: at the first
 * write after midnight the live file is renamed to jobqueue.log.YYYY-MM-DD
 * (the day it covers) and the oldest backups beyond the count are deleted.
 *
 * Time zone: Bots runs with Django's TIME_ZONE as its TZ, so its log is
 * written in that zone; the log takes it as an identifier
 * (jq_log_configure) and uses it for the stamps and for midnight. */
#include "log.h"

#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "safefile.h"

struct _JqLog {
  GMutex      lock;            /* guards everything below */
  char       *path;            /* NULL: no file sink */
  FILE       *file;
  JqLogLevel  file_level;
  gboolean    console;
  JqLogLevel  console_level;
  JqLogClock  clock;
  gpointer    clock_data;
  GTimeZone  *zone;            /* re-read at rollover and reopen */
  char       *zone_name;       /* NULL: the system's zone */
  JqLogStyle  style;
  guint       backups;         /* rotated files kept */
  gint64      rollover_at;     /* unix seconds; 0 = not computed yet */
  gboolean    write_failed;    /* reported once until a write works again */
  guint64     lost;            /* lines not written since the last success */
  guint       held;            /* jq_log_hold() nesting: writes deferred */
  GString    *held_file;       /* lines for the file while held */
  GString    *held_console;    /* lines for the console while held */
};


/* Bots 3 has none of Bots 4's extra levels: they are INFO there. */
static JqLogLevel
styled (JqLogStyle style, JqLogLevel level)
{
  if (style == JQ_LOG_STYLE_BOTS3
      && (level == JQ_LOG_STDOUT || level == JQ_LOG_STDERR
          || level == JQ_LOG_DONE || level == JQ_LOG_START))
    return JQ_LOG_INFO;
  return level;
}

/* The number that ranks @level against a threshold in @style. */
static int
rank (JqLogStyle style, JqLogLevel level)
{
  level = styled (style, level);
  if (style == JQ_LOG_STYLE_BOTS4 && level == JQ_LOG_STARTINFO)
    return 28;
  return (int) level;
}

/* Appends @message so that it cannot pass for anything but its own
 * record: a newline of its own starts an indented line (a line of the
 * file starts with a date or with JQ_LOG_INDENT, nothing else); control
 * characters but tab, the Unicode line separators and bytes that are not
 * UTF-8 are written as Python escapes (\xNN, \uNNNN), so that neither a
 * log reader nor a terminal showing the file can be fooled. */
static void
append_message (GString *out, const char *message)
{
  const char *end = message + strlen (message);

  for (const char *p = message; p < end;)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      const char *next = g_utf8_next_char (p);
      if (c == '\n')
        {
          if (next < end)
            g_string_append (out, "\n" JQ_LOG_INDENT);
        }
      else if ((c < 0x20 && c != '\t') || (c >= 0x7f && c < 0xa0))
        g_string_append_printf (out, "\\x%02x", c);
      /* and format characters (Unicode category Cf): U+202E turns the
       * rest of a line around, U+200B and U+FEFF hide in it */
      else if (c == 0x2028 || c == 0x2029
               || g_unichar_type (c) == G_UNICODE_FORMAT)
        g_string_append_printf (out, c > 0xffff ? "\\U%08x" : "\\u%04x", c);
      else
        g_string_append_len (out, p, next - p);
      p = next;
    }
}

char *
jq_log_format_line (JqLogStyle style, GDateTime *when, JqLogLevel level,
                    const char *message)
{
  const char *name = jq_log_level_name (styled (style, level));
  gboolean bots4 = style == JQ_LOG_STYLE_BOTS4;
  g_autofree char *stamp = g_date_time_format (when, bots4
                                               ? "%Y.%m.%d %H:%M:%S"
                                               : "%Y%m%d %H:%M:%S");
  GString *line = g_string_sized_new (strlen (message) + 64);
  g_string_append_printf (line, bots4 ? "%s %-9s [bots.jobqueueserver] "
                                      : "%s %-9s: ", stamp, name);
  append_message (line, message);
  g_string_append_c (line, '\n');
  return g_string_free (line, FALSE);
}

GDateTime *
jq_log_next_midnight (GDateTime *t)
{
  GTimeZone *zone = g_date_time_get_timezone (t);
  g_autoptr (GDateTime) today = g_date_time_new (
      zone, g_date_time_get_year (t), g_date_time_get_month (t),
      g_date_time_get_day_of_month (t), 0, 0, 0);
  return g_date_time_add_days (today, 1);
}

/* @unix in the log's zone. */
static GDateTime *
in_zone (JqLog *log, gint64 unix_seconds)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (unix_seconds);
  return g_date_time_to_timezone (utc, log->zone);
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
  log->zone = NULL;
  if (log->zone_name != NULL)
    log->zone = g_time_zone_new_identifier (log->zone_name);
  if (log->zone == NULL)
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
    base = in_zone (log, st.st_mtime);
  else
    {
      g_autoptr (GDateTime) now = log->clock (log->clock_data);
      base = g_date_time_to_timezone (now, log->zone);
    }
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
  /* Never through a link, and only a file of ours (safefile.h). */
  int fd = jq_safefile_open (log->path, O_WRONLY | O_APPEND | O_CREAT, 0644,
                             "log", error);
  FILE *f = fd >= 0 ? fdopen (fd, "a") : NULL;
  if (f == NULL)
    {
      int saved = errno;
      if (fd >= 0)
        {
          close (fd);
          g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot open log %s: %s",
                       log->path, g_strerror (saved));
        }
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
  for (guint i = 0; i + log->backups < found->len; i++)
    {
      g_autofree char *victim = g_build_filename (dir, found->pdata[i], NULL);
      g_unlink (victim);
    }
}

static void
rotate (JqLog *log, gint64 now)
{
  g_autoptr (GDateTime) rollover = in_zone (log, log->rollover_at);
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
  g_autoptr (GDateTime) now_dt = in_zone (log, now);
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
  log->style = JQ_LOG_STYLE_BOTS3;
  log->backups = JQ_LOG_BACKUP_COUNT;
  refresh_zone (log);
  if (path != NULL && !open_file (log, error))
    {
      jq_log_free (log);
      return NULL;
    }
  compute_rollover (log);
  return log;
}

gboolean
jq_log_configure (JqLog *log, JqLogStyle style, const char *zone,
                  guint backups)
{
  g_mutex_lock (&log->lock);
  log->style = style;
  log->backups = backups;
  g_free (log->zone_name);
  log->zone_name = g_strdup (zone);
  refresh_zone (log);
  gboolean known = TRUE;
  if (zone != NULL)
    {
      GTimeZone *probe = g_time_zone_new_identifier (zone);
      known = probe != NULL;
      if (probe != NULL)
        g_time_zone_unref (probe);
    }
  compute_rollover (log);
  g_mutex_unlock (&log->lock);
  return known;
}

JqLogStyle
jq_log_get_style (JqLog *log)
{
  g_mutex_lock (&log->lock);
  JqLogStyle style = log->style;
  g_mutex_unlock (&log->lock);
  return style;
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

/* Reports a failed write once, until a write works again; counts the
 * @lines lost, and once a write works again says how many were lost (a
 * full log disk would otherwise leave a silent gap).  Lock held. */
static void
check_written (JqLog *log, gboolean ok, const char *text)
{
  guint64 lines = 0;
  for (const char *p = text; p != NULL && (p = strchr (p, '\n')) != NULL; p++)
    lines++;
  if (ok)
    {
      log->write_failed = FALSE;
      if (log->lost > 0 && log->file != NULL)
        {
          g_autoptr (GDateTime) clock_now = log->clock (log->clock_data);
          g_autoptr (GDateTime) now = g_date_time_to_timezone (clock_now,
                                                               log->zone);
          g_autofree char *message = g_strdup_printf (
              "%" G_GUINT64_FORMAT " log lines could not be written (the "
              "log's disk was full or failing); they are lost", log->lost);
          g_autofree char *line = jq_log_format_line (log->style, now,
                                                      JQ_LOG_ERROR, message);
          if (fputs (line, log->file) >= 0 && fflush (log->file) == 0)
            log->lost = 0;
          else
            clearerr (log->file);
        }
      return;
    }
  log->lost += MAX (lines, 1);
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

/* @len bytes to @fd with one write(), continued only when the kernel
 * took part of them (a full disk, a signal). */
static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Writes what was held, past stdio (whose buffer would cut it into
 * 4 KiB writes, a line split across two): one write() per stream.  Lock
 * held. */
static void
write_held (JqLog *log)
{
  if (log->held_file != NULL && log->held_file->len > 0 && log->file != NULL)
    check_written (log, fflush (log->file) == 0
                        && write_all (fileno (log->file),
                                      log->held_file->str,
                                      log->held_file->len),
                   log->held_file->str);
  if (log->held_console != NULL && log->held_console->len > 0)
    {
      fflush (stderr);
      write_all (STDERR_FILENO, log->held_console->str,
                 log->held_console->len);
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
  int r = rank (log->style, level);
  gboolean to_file = log->path != NULL
                     && r >= rank (log->style, log->file_level);
  gboolean to_console = log->console
                        && r >= rank (log->style, log->console_level);
  if (!to_file && !to_console)
    return;

  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);

  g_mutex_lock (&log->lock);
  g_autoptr (GDateTime) clock_now = log->clock (log->clock_data);
  g_autoptr (GDateTime) now = g_date_time_to_timezone (clock_now, log->zone);
  g_autofree char *line = jq_log_format_line (log->style, now, level,
                                              message);

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
                            && fflush (log->file) == 0, line);
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

typedef struct {
  JqLog     *log;
  JqLogLevel level;
  char      *message;
} Later;

static gboolean
write_later (gpointer data)
{
  Later *l = data;
  jq_log_write (l->log, l->level, "%s", l->message);
  return G_SOURCE_REMOVE;
}

static void
later_free (gpointer data)
{
  Later *l = data;
  g_free (l->message);
  g_free (l);
}

void
jq_log_write_later (JqLog *log, JqLogLevel level, const char *format, ...)
{
  Later *l = g_new0 (Later, 1);
  va_list args;
  va_start (args, format);
  l->message = g_strdup_vprintf (format, args);
  va_end (args);
  l->log = log;
  l->level = level;
  g_idle_add_full (G_PRIORITY_HIGH, write_later, l, later_free);
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

/* ------------------------------------------------------------ limits */

struct _JqLogLimit {
  JqLog   *log;
  char    *what;
  guint    burst;
  guint    window_s;
  gint64   window_start;       /* unix seconds, by the log's clock */
  gboolean in_window;          /* window_start is set */
  guint    written;            /* in this window */
  guint64  suppressed;         /* in this window, not yet summarized */
  JqLogLevel level;            /* of the last suppressed record */
};

JqLogLimit *
jq_log_limit_new (JqLog *log, const char *what, guint burst, guint window_s)
{
  JqLogLimit *l = g_new0 (JqLogLimit, 1);
  l->log = log;
  l->what = g_strdup (what);
  l->burst = burst;
  l->window_s = MAX (window_s, 1);
  return l;
}

static gint64
log_now (JqLog *log)
{
  g_mutex_lock (&log->lock);
  g_autoptr (GDateTime) now = log->clock (log->clock_data);
  g_mutex_unlock (&log->lock);
  return g_date_time_to_unix (now);
}

static void
limit_summarize (JqLogLimit *l)
{
  if (l->suppressed == 0)
    return;
  jq_log_write (l->log, l->level, "%" G_GUINT64_FORMAT " more %s in the "
                "last %u seconds were not logged one by one.",
                l->suppressed, l->what, l->window_s);
  l->suppressed = 0;
}

gboolean
jq_log_limit_write (JqLogLimit *l, JqLogLevel level, const char *format, ...)
{
  gint64 now = log_now (l->log);
  if (!l->in_window || now < l->window_start
      || now - l->window_start >= l->window_s)
    {
      l->in_window = TRUE;
      limit_summarize (l);
      l->window_start = now;
      l->written = 0;
    }
  if (l->written >= l->burst)
    {
      l->suppressed++;
      l->level = level;
      return FALSE;
    }
  l->written++;

  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  jq_log_write (l->log, level, "%s", message);
  return TRUE;
}

guint64
jq_log_limit_flush (JqLogLimit *l)
{
  guint64 n = l->suppressed;
  limit_summarize (l);
  return n;
}

guint64
jq_log_limit_pending (JqLogLimit *l)
{
  return l->suppressed;
}

void
jq_log_limit_free (JqLogLimit *l)
{
  if (l == NULL)
    return;
  limit_summarize (l);
  g_free (l->what);
  g_free (l);
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
  g_free (log->zone_name);
  g_time_zone_unref (log->zone);
  g_mutex_clear (&log->lock);
  g_free (log);
}
