/* The durable record of the queue: every waiting and running job, the next
 * job number, settings that must survive a restart, and the history of
 * finished jobs, in an SQLite database (WAL mode).  Main loop thread only. */
#pragma once

#include <glib.h>

#include "durability.h"
#include "finished.h"
#include "queue.h"

/* The schema version this program writes (PRAGMA user_version).  Bump
 * it with any change to the schema in journal.c (see there). */
#define JQ_JOURNAL_VERSION 1

/* How long opening the journal waits for another process's lock, by
 * default. */
#define JQ_JOURNAL_BUSY_MS 2000

/* Sets that wait for every journal opened after (tests shorten it). */
void jq_journal_set_busy_timeout (guint ms);

typedef struct _JqJournal JqJournal;

/* Opens the journal at @path, creating it (and its folder) when missing.
 * Returns NULL and sets @error (JQ_ERROR_JOURNAL) when the file is not a
 * journal of ours, is corrupt, is locked, or was written by a newer
 * version; the file is then left exactly as it was. */
JqJournal *jq_journal_open (const char *path, JqDurability durability,
                            GError **error);

void jq_journal_close (JqJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqJournal, jq_journal_close)

const char *jq_journal_get_path (JqJournal *journal);

/* The queue's identity, random and kept in the file from its creation on;
 * 0 for a NULL journal. */
guint64 jq_journal_get_queue_id (JqJournal *journal);

/* A fresh random queue identity (never 0), for a queue without journal. */
guint64 jq_journal_new_queue_id (void);

/* Transactions nest: only the outermost begin/commit pair reaches SQLite,
 * so calls batched by the door share one commit.  commit returns FALSE and
 * sets @error when any write since the outermost begin, or the commit
 * itself, failed, or when queue.db or its WAL is no longer the file that
 * was opened (deleted or replaced); the failure handler has then been
 * called.  After a failure the journal is broken for good: every later
 * commit fails with the same message and nothing more is written.
 * Every function below accepts a NULL journal and does nothing: that is
 * durability "none". */
void jq_journal_begin (JqJournal *journal);

/* Called after each COMMIT that wrote something, with its duration (for
 * the metrics; read-only batches such as a status scrape are left out). */
typedef void (*JqJournalCommitted) (gint64 duration_us, gpointer user_data);
void jq_journal_set_commit_observer (JqJournal *journal,
                                     JqJournalCommitted observer,
                                     gpointer user_data);
gboolean jq_journal_commit (JqJournal *journal, GError **error);

/* Checked before every commit, with the journal's own identity check: a
 * FALSE (with the error set) fails the commit as a write error would
 * (the server's lock file, lockfile.h).  Nullable. */
typedef gboolean (*JqJournalGuard) (gpointer data, GError **error);
void jq_journal_set_guard (JqJournal *journal, JqJournalGuard guard,
                           gpointer data);

/* Called once, on the first failed commit: the journal and the queue in
 * memory no longer agree, and the owner should stop. */
typedef void (*JqJournalFailed) (const GError *error, gpointer user_data);
void jq_journal_set_failure_handler (JqJournal *journal,
                                     JqJournalFailed handler,
                                     gpointer user_data);

/* Writes; errors are kept for the next commit. */
void jq_journal_add (JqJournal *journal, JqJob *job);
void jq_journal_set_priority (JqJournal *journal, guint64 number,
                              int priority);
void jq_journal_start (JqJournal *journal, guint64 number, gint64 started_us,
                       int pid);
void jq_journal_remove (JqJournal *journal, guint64 number);
void jq_journal_clear_waiting (JqJournal *journal);
void jq_journal_set_next_number (JqJournal *journal, guint64 next);
void jq_journal_set_flag (JqJournal *journal, const char *name,
                          gboolean value);

/* Moves job @f->number from the queue's record to the history. */
void jq_journal_finish (JqJournal *journal, const JqFinished *f);

/* Recovery.  Calls @func for every recorded job in job-number order, with
 * @was_running TRUE for a job that was running when the server stopped
 * (and has not run since), with the @pid and @started_us it had then (0
 * when unknown); sets *@next_number.  Returns FALSE and sets @error when
 * the records cannot be read. */
typedef void (*JqJournalJobFunc) (JqJob *job, gboolean was_running, int pid,
                                  gint64 started_us, gpointer user_data);
gboolean jq_journal_load (JqJournal *journal, JqJournalJobFunc func,
                          gpointer user_data, guint64 *next_number,
                          GError **error);

/* Marks a recovered running job as waiting again, first of its priority;
 * its last pid and start time stay recorded until it starts again. */
void jq_journal_requeue_at_head (JqJournal *journal, guint64 number);

gboolean jq_journal_get_flag (JqJournal *journal, const char *name);

/* Deletes at most @max_rows history rows that ended before @before_us;
 * returns how many went.  Small steps keep calls from waiting on it. */
guint jq_journal_prune_history (JqJournal *journal, gint64 before_us,
                                guint max_rows);

/* The @limit most recent finished jobs, newest first, as JqFinished
 * records whose strings and argv belong to the array (free it with
 * g_array_unref).  Stops early, after one row at least, before the rows'
 * tasks and start errors would take more than @max_bytes as stored. */
GArray *jq_journal_history (JqJournal *journal, guint limit,
                            gsize max_bytes);

/* Finished job @number as the history holds it (a new record, free with
 * jq_finished_free), or NULL when the history has no such job. */
JqFinished *jq_journal_find_finished (JqJournal *journal, guint64 number);

/* How many history rows there are. */
guint jq_journal_count_history (JqJournal *journal);
