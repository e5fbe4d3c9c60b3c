/* A store of the journal: where the queue and the history of finished
 * jobs are kept.  One table of operations per store, and the stores are
 * peers: store-sqlite.c (a file, the default), store-pg.c (PostgreSQL,
 * shared by a cluster), store-none.c (durability "none": nothing kept).
 * journal.c is their one caller; it keeps what does not depend on the
 * store (nesting, the pending error, the guard, the observers, the
 * failure policy).  Adding a store is one file and one table like these
 * (doc/design.md).  A store knows neither the journal that calls it nor
 * the scheduler.  Main loop thread only. */
#pragma once

#include <glib.h>

#include "finished.h"
#include "job.h"

/* Recovery: called for every recorded job, in job-number order, with
 * @was_running TRUE for a job that was running when the server stopped
 * (and has not run since), with the @pid and @started_us it had then (0
 * when unknown). */
typedef void (*JqJournalJobFunc) (JqJob *job, gboolean was_running, int pid,
                                  gint64 started_us, gpointer user_data);

/* What changed in a queue that other servers write too. */
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

/* What a shared store knows of one job that is not finished. */
typedef enum {
  JQ_RECORD_NONE,       /* no row: finished, removed, taken, or never */
  JQ_RECORD_WAITING,
  JQ_RECORD_RUNNING,
} JqRecordState;

/* What only a store shared by several servers does.  Every read may be
 * called inside a transaction or outside; a failed read sets @error. */
typedef struct {
  /* Right after begin: whether another server wrote since this one last
   * read the queue (then *@full when it must be read whole).  TRUE once
   * per transaction: the caller then calls sync. */
  gboolean (*changes) (gpointer store, gboolean *full);
  gboolean (*sync) (gpointer store, gboolean full, JqJournalSyncFunc func,
                    gpointer user_data, JqSyncState *state, GError **error);
  gboolean (*list_running) (gpointer store, GPtrArray *jobs, GArray *pids,
                            GArray *started_us, GError **error);
  JqRecordState (*find_job) (gpointer store, guint64 number,
                             GError **error);
  /* FALSE while the store cannot be reached. */
  gboolean (*healthy) (gpointer store);
} JqSharedOps;

/* The operations of one store.  The journal calls begin once per
 * outermost transaction, every write between begin and commit (a lone
 * write gets a transaction of its own), and commit or rollback once;
 * after a failed write or begin it calls rollback, never commit.  Reads
 * may come at any time.  Writes and begin return FALSE with @error. */
typedef struct {
  const char *kind;          /* "sqlite", "postgresql", "none" */
  gboolean    durable;       /* FALSE: nothing outlives the process */
  /* A failed commit leaves the store usable (a database server comes
   * back): the journal then fails that batch only, and calls its failure
   * handler at every failure.  FALSE: the first failure is for good. */
  gboolean    can_recover;
  const JqSharedOps *shared; /* NULL: the queue is this server's alone */

  void        (*close) (gpointer store);

  gboolean (*begin) (gpointer store, GError **error);
  /* *@wrote: whether anything was written (for the commit observer).  A
   * failed commit is followed by rollback. */
  gboolean (*commit) (gpointer store, gboolean *wrote, GError **error);
  void     (*rollback) (gpointer store);  /* also after a failed commit */
  /* Optional, together (NULL: every commit is as durable as commit
   * makes it).  commit_unsynced commits into the store's file without
   * waiting for the disk: it survives a crash of the server, not yet a
   * power loss, until the next commit or sync; sync makes what such
   * commits wrote durable (nothing to do when a commit since did). */
  gboolean (*commit_unsynced) (gpointer store, gboolean *wrote,
                               GError **error);
  gboolean (*sync) (gpointer store, GError **error);

  gboolean (*add) (gpointer store, JqJob *job, GError **error);
  gboolean (*set_priority) (gpointer store, guint64 number, int priority,
                            GError **error);
  gboolean (*start) (gpointer store, guint64 number, gint64 started_us,
                     int pid, GError **error);
  gboolean (*remove) (gpointer store, guint64 number, GError **error);
  /* Job @number has no owner any more (a second caller asked for it):
   * only admins steer it. */
  gboolean (*disown) (gpointer store, guint64 number, GError **error);
  gboolean (*clear_waiting) (gpointer store, GError **error);
  gboolean (*set_meta) (gpointer store, const char *key, gint64 value,
                        GError **error);
  /* Removes job @f->number from the queue's record and writes its
   * history row. */
  gboolean (*finish) (gpointer store, const JqFinished *f, GError **error);
  gboolean (*requeue_at_head) (gpointer store, guint64 number,
                               GError **error);

  gint64   (*get_meta) (gpointer store, const char *key, gint64 fallback,
                        GError **error);
  gboolean (*load) (gpointer store, JqJournalJobFunc func,
                    gpointer user_data, guint64 *next_number,
                    GError **error);
  /* Outside transactions only. */
  guint    (*prune_history) (gpointer store, gint64 before_us,
                             guint max_rows);
  GArray  *(*history) (gpointer store, guint limit, gsize max_bytes,
                       GError **error);
  JqFinished *(*find_finished) (gpointer store, guint64 number,
                                GError **error);
} JqStoreOps;

/* Every store names its functions PREFIX_close, PREFIX_begin, and so on,
 * so that its table is its kind and this one line:
 *   static const JqStoreOps sqlite_ops = {
 *     .kind = "sqlite", .durable = TRUE, JQ_STORE_FUNCTIONS (sqlite) };
 * and a store that lacks one does not build. */
#define JQ_STORE_FUNCTIONS(p) \
  .close = p##_close, .begin = p##_begin, .commit = p##_commit, \
  .rollback = p##_rollback, .add = p##_add, \
  .set_priority = p##_set_priority, .start = p##_start, \
  .remove = p##_remove, .disown = p##_disown, \
  .clear_waiting = p##_clear_waiting, \
  .set_meta = p##_set_meta, .finish = p##_finish, \
  .requeue_at_head = p##_requeue_at_head, .get_meta = p##_get_meta, \
  .load = p##_load, .prune_history = p##_prune_history, \
  .history = p##_history, .find_finished = p##_find_finished
