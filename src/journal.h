/* The durable record of the queue: every waiting and running job, the
 * next job number, settings that must survive a restart, and the history
 * of finished jobs, kept by one store (store.h: SQLite, PostgreSQL, or
 * none).  This front is what does not depend on the store: nesting of
 * transactions, the pending error, the guard, the commit observer and
 * the failure policy.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "durability.h"
#include "finished.h"
#include "job.h"
#include "store.h"

/* The schema version the SQLite store writes (PRAGMA user_version).
 * Bump it with any change to the schema in store-sqlite.c (see there). */
#define JQ_JOURNAL_VERSION 2

/* How long opening an SQLite journal waits for another process's lock,
 * by default. */
#define JQ_JOURNAL_BUSY_MS 2000

/* Sets that wait for every SQLite journal opened after (tests shorten
 * it). */
void jq_journal_set_busy_timeout (guint ms);

typedef struct _JqJournal JqJournal;

/* A journal whose calls go to @store, with @ops (store.h); @store is
 * closed with the journal.  @description says where it is, for the log
 * (no password); @queue_id is the queue's identity as the store keeps
 * it. */
JqJournal *jq_journal_new (const JqStoreOps *ops, gpointer store,
                           const char *description, guint64 queue_id);

/* Opens the SQLite journal at @path (store-sqlite.c), creating it (and
 * its folder) when missing.  Returns NULL and sets @error
 * (JQ_ERROR_JOURNAL) when the file is not a journal of ours, is corrupt,
 * is locked, or was written by a newer version; the file is then left
 * exactly as it was. */
JqJournal *jq_journal_open (const char *path, JqDurability durability,
                            GError **error);

/* The journal of durability "none" (store-none.c): nothing is kept,
 * every write succeeds, every read finds nothing. */
JqJournal *jq_journal_open_none (void);

void jq_journal_close (JqJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqJournal, jq_journal_close)

/* Where the journal is, for the log (no password). */
const char *jq_journal_get_path (JqJournal *journal);

/* The store's kind: "sqlite", "postgresql" or "none". */
const char *jq_journal_get_kind (JqJournal *journal);

/* What kind of store this is, in one place:
 * - durable: the queue outlives the process (not "none");
 * - shared: other servers write the same queue (a cluster): who launches
 *   is decided elsewhere, and each batch reads what changed first;
 * - can_recover: a failed commit fails its batch only, and the next one
 *   may succeed (a database server comes back); otherwise the first
 *   failure is for good. */
gboolean jq_journal_is_durable (JqJournal *journal);
gboolean jq_journal_is_shared (JqJournal *journal);
gboolean jq_journal_can_recover (JqJournal *journal);

/* The queue's identity, random and kept in the store from its creation
 * on (made afresh for durability "none"). */
guint64 jq_journal_get_queue_id (JqJournal *journal);

/* A fresh random queue identity (never 0). */
guint64 jq_journal_new_queue_id (void);

/* Transactions nest: only the outermost begin/commit pair reaches the
 * store, so calls batched by the door share one commit.  commit returns
 * FALSE and sets @error when any write since the outermost begin, the
 * guard or the commit itself failed; the failure handler has then been
 * called.  A store that cannot recover is then broken for good: every
 * later commit fails with the same message and nothing more is
 * written. */
void jq_journal_begin (JqJournal *journal);

/* Right after an outermost begin on a shared store: whether another
 * server changed the queue since this one last read it (*@full: read it
 * whole).  TRUE once per transaction; the caller then reads the changes
 * with jq_journal_sync before the batch judges anything.  FALSE for a
 * store of one server. */
gboolean jq_journal_changed_elsewhere (JqJournal *journal, gboolean *full);

/* Called after each commit that wrote something, with its duration (for
 * the metrics; read-only batches such as a status scrape are left out). */
typedef void (*JqJournalCommitted) (gint64 duration_us, gpointer user_data);
void jq_journal_set_commit_observer (JqJournal *journal,
                                     JqJournalCommitted observer,
                                     gpointer user_data);
gboolean jq_journal_commit (JqJournal *journal, GError **error);

/* Commits, like jq_journal_commit, a transaction that records only job
 * moves (starts, ends, requeues) and no call's change.  Such a commit
 * need not reach the disk before the server goes on: a store that can
 * (SQLite with durability full) writes it into its file at once, so that
 * a crash or kill of the server loses nothing, and makes it safe from a
 * power loss within JQ_JOURNAL_SYNC_MS, or sooner with the next commit
 * of a call (doc/durability.md, "The launch window").  A move whose
 * record a power loss took runs its job again: never a job lost.  Nested
 * in an outer transaction, the outer commit decides. */
gboolean jq_journal_commit_moves (JqJournal *journal, GError **error);

/* How long a job move may wait for its sync (above). */
#define JQ_JOURNAL_SYNC_MS 1000

/* Checked before every commit: a FALSE (with the error set) fails the
 * commit as a write error would (the server's lock file, lockfile.h).
 * Nullable. */
typedef gboolean (*JqJournalGuard) (gpointer data, GError **error);
void jq_journal_set_guard (JqJournal *journal, JqJournalGuard guard,
                           gpointer data);

/* Called on a failed commit: once, the first time, for a store that
 * cannot recover (the journal and the queue in memory no longer agree,
 * and the owner should stop); at every failure for one that can. */
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
/* Job @number loses its owner (store.h, disown). */
void jq_journal_disown (JqJournal *journal, guint64 number);
void jq_journal_remove (JqJournal *journal, guint64 number);
void jq_journal_clear_waiting (JqJournal *journal);
void jq_journal_set_next_number (JqJournal *journal, guint64 next);
void jq_journal_set_flag (JqJournal *journal, const char *name,
                          gboolean value);

/* Moves job @f->number from the queue's record to the history. */
void jq_journal_finish (JqJournal *journal, const JqFinished *f);

/* Marks a recovered running job as waiting again, first of its priority;
 * its last pid and start time stay recorded until it starts again. */
void jq_journal_requeue_at_head (JqJournal *journal, guint64 number);

/* Recovery.  Calls @func for every recorded job in job-number order
 * (store.h) and sets *@next_number.  Returns FALSE and sets @error when
 * the records cannot be read. */
gboolean jq_journal_load (JqJournal *journal, JqJournalJobFunc func,
                          gpointer user_data, guint64 *next_number,
                          GError **error);

gboolean jq_journal_get_flag (JqJournal *journal, const char *name);

/* Deletes at most @max_rows history rows that ended before @before_us;
 * returns how many went.  Small steps keep calls from waiting on it.
 * Outside transactions only (0 inside). */
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

/* ------------------------------------------------ shared stores
 * A failed read inside a transaction fails its batch. */

/* Calls @func for every waiting job (@full), or only for the jobs that
 * changed since the queue was last read, in number order, and fills
 * @state.  Writes nothing.  A store of one server has nothing to read
 * and returns TRUE at once. */
gboolean jq_journal_sync (JqJournal *journal, gboolean full,
                          JqJournalSyncFunc func, gpointer user_data,
                          JqSyncState *state, GError **error);

/* Appends the jobs recorded as running, by whichever server runs them,
 * to @jobs (references) with their pid (on that server's host) and start
 * to @pids and @started_us (nullable).  FALSE when the store cannot be
 * read; a store of one server appends nothing. */
gboolean jq_journal_list_running (JqJournal *journal, GPtrArray *jobs,
                                  GArray *pids, GArray *started_us);

/* Whether job @number waits or runs, maybe on another server (its end is
 * jq_journal_find_finished's).  A store of one server answers
 * JQ_RECORD_NONE. */
JqRecordState jq_journal_find_job (JqJournal *journal, guint64 number);

/* FALSE while the current transaction has failed, the store is broken,
 * or it cannot be reached: nothing may be launched on the strength of
 * it. */
gboolean jq_journal_is_healthy (JqJournal *journal);

/* Whether the last failed transaction started, ended or requeued a job
 * (what only the one server that launches writes): the store then does
 * not know what runs.  Adds, priorities and removals that failed need
 * nothing more than their fault. */
gboolean jq_journal_lost_a_move (JqJournal *journal);
