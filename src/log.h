/* The job queue log: Bots 3's or Bots 4's line format and levels, a file
 * sink rotated at midnight in the log's time zone, and a console sink with
 * its own level. */
#pragma once

#include <glib.h>

#include "loglevel.h"


typedef enum {
  JQ_LOG_STYLE_BOTS3,   /* "%Y%m%d %H:%M:%S LEVEL____: message" */
  JQ_LOG_STYLE_BOTS4,   /* "%Y.%m.%d %H:%M:%S LEVEL____ [bots.jobqueueserver] message" */
} JqLogStyle;


/* What starts every line of a record after its first (a message's own
 * newlines, a job's output). */
#define JQ_LOG_INDENT "    "

/* Formats one record in @style, newline included.  Bots 3:
 * "%Y%m%d %H:%M:%S LEVEL____: message\n"; Bots 4:
 * "%Y.%m.%d %H:%M:%S LEVEL____ [bots.jobqueueserver] message\n"; LEVEL
 * left-aligned in 9 columns.  @when is printed in its own zone.  Whatever
 * @message holds, each line of the result starts with the date or with
 * JQ_LOG_INDENT, and holds no control character but tab: further lines
 * are indented, control characters, U+2028/U+2029 and bytes that are not
 * UTF-8 are escaped as \xNN or \uNNNN. */
char *jq_log_format_line (JqLogStyle style, GDateTime *when,
                          JqLogLevel level, const char *message);

/* The file name a log that rolled over at @rollover gets:
 * "<path>.YYYY-MM-DD", dated the day before @rollover (the day the file
 * covers), as Python's TimedRotatingFileHandler names it. */
char *jq_log_backup_name (const char *path, GDateTime *rollover);

/* The first midnight strictly after @t, in @t's zone. */
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

/* Sets the line format, the time zone (an identifier such as
 * "Europe/Amsterdam"; NULL or unknown to the system: the system's zone)
 * and how many rotated files are kept.  Call before the first write.
 * Returns FALSE when @zone is not NULL and unknown (the system's zone is
 * used then). */
gboolean jq_log_configure (JqLog *log, JqLogStyle style, const char *zone,
                           guint backups);

/* The line format set by jq_log_configure(): whose server's lines the
 * log writes (Bots 3's or Bots 4's words and levels, doc/configuration.md
 * "The log"). */
JqLogStyle jq_log_get_style (JqLog *log);

/* Replaces the clock (default: now, in the log's zone).  The next
 * rollover is recomputed from the file's modification time. */
void jq_log_set_clock (JqLog *log, JqLogClock clock, gpointer user_data);

/* Writes one record.  Thread-safe.  Rotates first when the clock has
 * passed the next midnight.  Write errors go to stderr once and are not
 * fatal: a job queue must not stop because its log disk is full. */
void jq_log_write (JqLog *log, JqLogLevel level, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* The same, written at the main loop's next turn (at high priority), so
 * that it is outside any hold: for what a failing batch learns and must
 * not lose with the batch's own lines.  Main loop thread only. */
void jq_log_write_later (JqLog *log, JqLogLevel level, const char *format,
                         ...) G_GNUC_PRINTF (3, 4);

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

/* Repeated records of one kind (refused tasks, duplicates), which a
 * client can send as fast as it likes: in each window of @window_s
 * seconds (by the log's clock) the first @burst are written, the others
 * only counted; the count is written as one record, "N more @what in the
 * last S seconds were not logged one by one.", at the first record after
 * the window, at jq_log_limit_flush() or when the limit is freed.  Main
 * loop thread only. */
typedef struct _JqLogLimit JqLogLimit;
JqLogLimit *jq_log_limit_new (JqLog *log, const char *what, guint burst,
                              guint window_s);
/* Writes the record, or counts it.  Returns TRUE when it was written. */
gboolean jq_log_limit_write (JqLogLimit *limit, JqLogLevel level,
                             const char *format, ...) G_GNUC_PRINTF (3, 4);
/* Writes the count of records held back now, if any; returns it. */
guint64 jq_log_limit_flush (JqLogLimit *limit);
/* Records held back and not yet summarized. */
guint64 jq_log_limit_pending (JqLogLimit *limit);
void jq_log_limit_free (JqLogLimit *limit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqLogLimit, jq_log_limit_free)

void jq_log_free (JqLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqLog, jq_log_free)
