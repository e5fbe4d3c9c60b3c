/* The job queue log: Bots' line format and levels, a file sink rotated at
 * local midnight, and a console sink with its own level. */
#pragma once

#include <glib.h>

typedef enum {
  JQ_LOG_DEBUG = 10,
  JQ_LOG_INFO = 20,
  JQ_LOG_STARTINFO = 25,
  JQ_LOG_WARNING = 30,
  JQ_LOG_ERROR = 40,
  JQ_LOG_CRITICAL = 50,
} JqLogLevel;

/* How many rotated files are kept next to the live one. */
#define JQ_LOG_BACKUP_COUNT 10

/* Parses a level name (DEBUG, INFO, STARTINFO, WARNING, ERROR, CRITICAL; any
 * case).  Returns FALSE for anything else. */
gboolean jq_log_level_parse (const char *name, JqLogLevel *out);

/* The name Bots prints for @level, e.g. "STARTINFO". */
const char *jq_log_level_name (JqLogLevel level);

/* Formats one line, newline included:
 * "%Y%m%d %H:%M:%S LEVEL____: message\n" with LEVEL left-aligned in 9
 * columns.  @when is local time. */
char *jq_log_format_line (GDateTime *when, JqLogLevel level,
                          const char *message);

/* The file name a log that rolled over at @rollover gets:
 * "<path>.YYYY-MM-DD", dated the day before @rollover (the day the file
 * covers), as Python's TimedRotatingFileHandler names it. */
char *jq_log_backup_name (const char *path, GDateTime *rollover);

/* The first local midnight strictly after @t. */
GDateTime *jq_log_next_midnight (GDateTime *t);

/* Returns the current local time; replaceable so tests need not wait for
 * midnight. */
typedef GDateTime *(*JqLogClock) (gpointer user_data);

typedef struct _JqLog JqLog;

/* Opens a log.  @path (nullable: no file sink) is appended to, its folder
 * created when missing; records below @file_level are not written to it.
 * When @console, records at @console_level or above also go to stderr.
 * Returns NULL and sets @error when the file cannot be opened. */
JqLog *jq_log_new (const char *path, JqLogLevel file_level, gboolean console,
                   JqLogLevel console_level, GError **error);

/* Replaces the clock (default: g_date_time_new_now_local).  The next
 * rollover is recomputed from the file's modification time. */
void jq_log_set_clock (JqLog *log, JqLogClock clock, gpointer user_data);

/* Writes one record.  Thread-safe.  Rotates first when the clock has
 * passed the next midnight.  Write errors go to stderr once and are not
 * fatal: a job queue must not stop because its log disk is full. */
void jq_log_write (JqLog *log, JqLogLevel level, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* Closes and reopens the file (after an external logrotate).  Returns FALSE
 * and sets @error when it cannot be reopened; the old stream stays. */
gboolean jq_log_reopen (JqLog *log, GError **error);

/* Lines written to the file between jq_log_hold() and the matching
 * jq_log_release() reach it together, at the release, in one write (calls
 * nest).  The server holds the log around each batch of calls, which is
 * answered only after the release: a crash loses no line of an answered
 * call.  Console lines are held the same way. */
void jq_log_hold (JqLog *log);
void jq_log_release (JqLog *log);
/* Ends a hold like jq_log_release(), but drops the held lines: what they
 * tell (a job added, a priority changed) was not saved after all.  Lines
 * other threads wrote during the hold go too; the caller logs why. */
void jq_log_discard (JqLog *log);

/* The file's path, or NULL without a file sink. */
const char *jq_log_get_path (JqLog *log);

void jq_log_free (JqLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqLog, jq_log_free)
