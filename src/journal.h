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

/* ------------------------------------------------ shared stores
 * What changed in a queue that other servers write too. */
typedef enum {
  JQ_SYNC_WAITING,   /* @job waits: new, or moved (priority, head) */
  JQ_SYNC_GONE,      /* job @number no longer waits (started, removed) */
} JqSyncKind;

/* @job is NULL for JQ_SYNC_GONE; @at_head: first of its priority. */
typedef void (*JqJournalSyncFunc) (JqSyncKind kind, guint64 number,
                                   JqJob *job, gboolean at_head,
                                   gpointer user_data);

typedef struct {
  guint64  next_number;
  gboolean paused;
  guint    waiting;     /* jobs waiting in the store: check the result */
} JqSyncState;

/* What the store knows of one job that is not finished
 * (jq_journal_find_job). */
typedef enum {
  JQ_RECORD_NONE,       /* no row: finished, removed, taken, or never */
  JQ_RECORD_WAITING,
  JQ_RECORD_RUNNING,
} JqRecordState;

/* ------------------------------------------------ other stores
 * A journal kept elsewhere than in SQLite (src/pgjournal.c) is a
 * JqJournal too: every function above hands the call to these operations
 * of @impl, with the same contract.  @commit returns whether anything was
 * written (for the commit observer) in *@wrote; a store that can fail and
 * come back (a database server) calls the failure handler at every failed
 * commit, not only the first. */
typedef struct {
  void     (*close) (gpointer impl);
  const char *(*describe) (gpointer impl);
  void     (*begin) (gpointer impl);
  /* The outermost commit must fail with @why (the guard said no). */
  void     (*abort) (gpointer impl, const GError *why);
  gboolean (*commit) (gpointer impl, gboolean *wrote, GError **error);
  void     (*add) (gpointer impl, JqJob *job);
  void     (*set_priority) (gpointer impl, guint64 number, int priority);
  void     (*start) (gpointer impl, guint64 number, gint64 started_us,
                     int pid);
  void     (*remove) (gpointer impl, guint64 number);
  void     (*clear_waiting) (gpointer impl);
  void     (*set_meta) (gpointer impl, const char *key, gint64 value);
  gint64   (*get_meta) (gpointer impl, const char *key, gint64 fallback);
  void     (*finish) (gpointer impl, const JqFinished *f);
  gboolean (*load) (gpointer impl, JqJournalJobFunc func,
                    gpointer user_data, guint64 *next_number,
                    GError **error);
  gboolean (*sync) (gpointer impl, gboolean full, JqJournalSyncFunc func,
                    gpointer user_data, JqSyncState *state, GError **error);
  void     (*requeue_at_head) (gpointer impl, guint64 number);
  guint    (*prune_history) (gpointer impl, gint64 before_us,
                             guint max_rows);
  GArray  *(*history) (gpointer impl, guint limit, gsize max_bytes);
  guint    (*count_history) (gpointer impl);
  gboolean (*list_running) (gpointer impl, GPtrArray *jobs, GArray *pids,
                            GArray *started_us);
  JqRecordState (*find_job) (gpointer impl, guint64 number);
  JqFinished *(*find_finished) (gpointer impl, guint64 number);
} JqJournalBackend;

/* A journal whose calls go to @backend (@impl is closed with it);
 * @queue_id as jq_journal_get_queue_id() gives it. */
JqJournal *jq_journal_new_with_backend (const JqJournalBackend *backend,
                                        gpointer impl, guint64 queue_id);

/* The @impl given to jq_journal_new_with_backend; NULL for SQLite. */
gpointer jq_journal_get_backend_data (JqJournal *journal);

/* Shared stores only (a NULL or SQLite journal never calls it): the
 * queue in the store was changed by another server since this one last
 * read it.  Called inside the outermost jq_journal_begin(), before any
 * call of the batch runs, so that @reload can read the changes
 * (jq_journal_sync) and the batch judges the shared state; @full when
 * this server's queue must be read whole (first time, after a failure). */
typedef void (*JqJournalReload) (gpointer user_data, gboolean full);
void jq_journal_set_reload_hook (JqJournal *journal, JqJournalReload reload,
                                 gpointer user_data);
/* Called by a store from its begin: runs the reload hook. */
void jq_journal_reload (JqJournal *journal, gboolean full);

/* Inside a reload: calls @func for every waiting job (@full), or only for
 * the jobs that changed since the queue was last read, in number order,
 * and fills @state.  Writes nothing.  A journal that is not shared has
 * nothing to read and returns TRUE at once. */
gboolean jq_journal_sync (JqJournal *journal, gboolean full,
                          JqJournalSyncFunc func, gpointer user_data,
                          JqSyncState *state, GError **error);

/* Shared stores: appends the jobs recorded as running, by whichever
 * server runs them, to @jobs (references) with their pid (on that
 * server's host) and start to @pids and @started_us (nullable).  FALSE
 * when the store cannot be read; a journal that is not shared appends
 * nothing. */
gboolean jq_journal_list_running (JqJournal *journal, GPtrArray *jobs,
                                  GArray *pids, GArray *started_us);

/* Shared stores: whether job @number waits or runs, maybe on another
 * server (its end is jq_journal_find_finished's).  A journal that is not
 * shared answers JQ_RECORD_NONE. */
JqRecordState jq_journal_find_job (JqJournal *journal, guint64 number);
