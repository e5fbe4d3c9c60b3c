/* What every store records the same way: argv as stored, the columns of
 * a job and of a history row and how they read back, and the rule for
 * the next job number.  Written once here, so that two stores cannot
 * drift apart (and a third copies nothing).  Pure: no database. */
#pragma once

#include <glib.h>

#include "finished.h"
#include "job.h"
#include "store.h"

/* A job row, as every store selects it for recovery, in this order.
 * owner (the uid that queued the job) is NULL when unknown: it reads as
 * -1, since a NULL column reads as 0, which is root. */
#define JQ_RECORD_OWNER "COALESCE(owner, -1)"
#define JQ_RECORD_JOB_COLUMNS \
  "number, priority, argv, queued_us, state, at_head, pid, started_us, " \
  JQ_RECORD_OWNER
enum {
  JQ_JOB_COL_NUMBER, JQ_JOB_COL_PRIORITY, JQ_JOB_COL_ARGV,
  JQ_JOB_COL_QUEUED, JQ_JOB_COL_STATE, JQ_JOB_COL_AT_HEAD, JQ_JOB_COL_PID,
  JQ_JOB_COL_STARTED, JQ_JOB_COL_OWNER,
};

/* The job's owner as read from JQ_RECORD_OWNER: JQ_JOB_NO_OWNER for
 * -1 and anything that is no uid. */
guint32 jq_record_owner (gint64 stored);
/* ... and as written: FALSE when the job has none (the column is then
 * NULL), else TRUE and *@stored. */
gboolean jq_record_owner_value (const JqJob *job, gint64 *stored);

/* A history row as every store selects it, in this order. */
#define JQ_RECORD_HISTORY_COLUMNS \
  "number, priority, argv, queued_us, started_us, ended_us, exit_code, " \
  "signal, maxruntime_hit, start_error"
/* ... and as every store writes it: the same with the task text. */
#define JQ_RECORD_HISTORY_INSERT \
  "number, priority, argv, task, queued_us, started_us, ended_us, " \
  "exit_code, signal, maxruntime_hit, start_error"
enum {
  JQ_HISTORY_COL_NUMBER, JQ_HISTORY_COL_PRIORITY, JQ_HISTORY_COL_ARGV,
  JQ_HISTORY_COL_QUEUED, JQ_HISTORY_COL_STARTED, JQ_HISTORY_COL_ENDED,
  JQ_HISTORY_COL_EXIT, JQ_HISTORY_COL_SIGNAL, JQ_HISTORY_COL_MAXRUNTIME,
  JQ_HISTORY_COL_START_ERROR,
};

/* How a store's result row reads: a store gives these for its own
 * library's rows.  @row is the store's; NULL columns read as 0 or NULL;
 * booleans as 0 or 1. */
typedef struct {
  gint64      (*integer) (gpointer row, int column);
  const char *(*text) (gpointer row, int column);
  /* The column's bytes as stored, valid until the next call. */
  const void *(*bytes) (gpointer row, int column, gsize *len);
} JqRecordReader;

/* argv as stored: NUL-terminated strings back to back (exact, any
 * bytes). */
GBytes *jq_record_pack_argv (const char *const *argv);
char **jq_record_unpack_argv (const void *data, gsize len);

/* The job of a JQ_RECORD_JOB_COLUMNS row handed to @func as recovery
 * wants it (a requeued job counts as running: it stays at the head); a
 * row with an empty argv (only a hand-made one) is skipped.  Raises
 * *@highest to the row's number. */
void jq_record_load_row (const JqRecordReader *reader, gpointer row,
                         JqJournalJobFunc func, gpointer user_data,
                         guint64 *highest);

/* The job of a row whose first columns are number, priority, argv,
 * queued_us; NULL when argv is empty. */
JqJob *jq_record_job (const JqRecordReader *reader, gpointer row);

/* The record of a JQ_RECORD_HISTORY_COLUMNS row, owning its strings;
 * *@stored (nullable) gets the bytes of its argv and start error as
 * stored. */
JqFinished jq_record_finished (const JqRecordReader *reader, gpointer row,
                               gsize *stored);

/* The next job number: never back, not even past jobs gone from every
 * table (@stored: as kept; @highest: the highest number of a row). */
guint64 jq_record_next_number (guint64 stored, guint64 highest);
