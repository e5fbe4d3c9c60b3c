/* The journal's front: what does not depend on the store.
 *
 * One dispatch: every call goes to the store's table (store.h).  Here
 * live the nesting of transactions (only the outermost pair reaches the
 * store), the pending error (the first failure of a transaction, which
 * fails its commit; writes after it are not sent), the guard checked
 * before each commit, the commit observer, and the failure policy: a
 * store that cannot recover is broken for good at its first failure, one
 * that can fails that batch only.  Which jobs a failed transaction moved
 * (started, ended, requeued) is noted here too, for the cluster. */
#include "journal.h"

#include "error.h"

struct _JqJournal {
  const JqStoreOps *ops;
  gpointer        store;
  char           *description;    /* for the log: no password */
  guint64         queue_id;
  guint           depth;          /* nesting of begin/commit */
  GError         *pending_error;  /* first failure in this transaction */
  GError         *broken;         /* the failure that ended writing (a
                                   * store that cannot recover); once set,
                                   * every later commit fails too */
  gboolean        moved_job;      /* this transaction started, ended or
                                   * requeued a job */
  gboolean        lost_move;      /* the last failed one had moved_job */
  gboolean        unsynced;       /* the outermost commit may leave the
                                   * disk for later (commit_moves) */
  guint           sync_id;        /* the timer syncing such commits */
  JqJournalCommitted committed;   /* nullable: metrics */
  gpointer        committed_data;
  JqJournalGuard  guard;          /* nullable: checked before each commit */
  gpointer        guard_data;
  JqJournalFailed failed;
  gpointer        failed_data;
  gboolean        failed_reported;
};

JqJournal *
jq_journal_new (const JqStoreOps *ops, gpointer store,
                const char *description, guint64 queue_id)
{
  JqJournal *j = g_new0 (JqJournal, 1);
  j->ops = ops;
  j->store = store;
  j->description = g_strdup (description);
  j->queue_id = queue_id;
  return j;
}

void
jq_journal_close (JqJournal *j)
{
  if (j == NULL)
    return;
  if (j->sync_id != 0)
    {
      g_clear_handle_id (&j->sync_id, g_source_remove);
      if (j->broken == NULL)
        j->ops->sync (j->store, NULL);   /* best effort: closing anyway */
    }
  j->ops->close (j->store);
  g_clear_error (&j->pending_error);
  g_clear_error (&j->broken);
  g_free (j->description);
  g_free (j);
}

guint64
jq_journal_new_queue_id (void)
{
  /* 62 random bits: positive as a signed 64-bit integer, never 0. */
  guint64 id = ((guint64) g_random_int () << 30) ^ g_random_int ();
  return (id & G_GUINT64_CONSTANT (0x3fffffffffffffff)) | 1;
}

guint64
jq_journal_get_queue_id (JqJournal *j)
{
  return j->queue_id;
}

const char *
jq_journal_get_path (JqJournal *j)
{
  return j->description;
}

const char *
jq_journal_get_kind (JqJournal *j)
{
  return j->ops->kind;
}

gboolean
jq_journal_is_durable (JqJournal *j)
{
  return j->ops->durable;
}

gboolean
jq_journal_is_shared (JqJournal *j)
{
  return j->ops->shared != NULL;
}

gboolean
jq_journal_can_recover (JqJournal *j)
{
  return j->ops->can_recover;
}

void
jq_journal_set_failure_handler (JqJournal *j, JqJournalFailed handler,
                                gpointer user_data)
{
  j->failed = handler;
  j->failed_data = user_data;
}

void
jq_journal_set_commit_observer (JqJournal *j, JqJournalCommitted observer,
                                gpointer user_data)
{
  j->committed = observer;
  j->committed_data = user_data;
}

void
jq_journal_set_guard (JqJournal *j, JqJournalGuard guard, gpointer data)
{
  j->guard = guard;
  j->guard_data = data;
}

/* Keeps @error (taken) as the transaction's failure unless it has one. */
static void
note (JqJournal *j, GError *error)
{
  if (error == NULL)
    return;
  if (j->pending_error == NULL)
    j->pending_error = error;
  else
    g_error_free (error);
}

/* A read that failed: inside a transaction it fails the batch. */
static void
read_failed (JqJournal *j, GError *error)
{
  if (j->depth > 0)
    note (j, error);
  else
    g_clear_error (&error);
}

void
jq_journal_begin (JqJournal *j)
{
  if (j->depth++ > 0)
    return;
  j->moved_job = FALSE;
  g_clear_error (&j->pending_error);
  GError *error = NULL;
  if (j->broken == NULL && !j->ops->begin (j->store, &error))
    note (j, error);
}

gboolean
jq_journal_changed_elsewhere (JqJournal *j, gboolean *full)
{
  *full = FALSE;
  return j->ops->shared != NULL && j->depth > 0 && j->pending_error == NULL
         && j->broken == NULL && j->ops->shared->changes (j->store, full);
}

/* The failure policy, after a failed transaction. */
static gboolean
fail (JqJournal *j, GError **error)
{
  j->ops->rollback (j->store);
  j->lost_move = j->moved_job;
  if (!j->ops->can_recover)
    j->broken = g_error_copy (j->pending_error);
  if (j->failed != NULL && (j->ops->can_recover || !j->failed_reported))
    {
      j->failed_reported = TRUE;
      j->failed (j->pending_error, j->failed_data);
    }
  g_propagate_error (error, g_steal_pointer (&j->pending_error));
  return FALSE;
}

/* The job moves committed without a sync reach the disk now, unless a
 * commit since took them along.  A failure is a failed commit's. */
static gboolean
on_sync_due (gpointer data)
{
  JqJournal *j = data;
  if (j->depth > 0)
    return G_SOURCE_CONTINUE;   /* not inside a transaction: later */
  j->sync_id = 0;
  if (j->broken != NULL)
    return G_SOURCE_REMOVE;     /* nothing more is written */
  if (!j->ops->sync (j->store, &j->pending_error))
    {
      j->moved_job = TRUE;      /* what was lost are job moves */
      fail (j, NULL);
    }
  return G_SOURCE_REMOVE;
}

gboolean
jq_journal_commit (JqJournal *j, GError **error)
{
  g_return_val_if_fail (j->depth > 0, FALSE);
  if (--j->depth > 0)
    return TRUE;
  if (j->broken != NULL)
    {
      /* Memory and store parted at the first failure: nothing after it
       * may be answered as saved, even if the disk has room again. */
      g_clear_error (&j->pending_error);
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL, "%s",
                   j->broken->message);
      return FALSE;
    }
  gint64 t0 = g_get_monotonic_time ();
  if (j->pending_error == NULL && j->guard != NULL)
    j->guard (j->guard_data, &j->pending_error);
  gboolean wrote = FALSE;
  gboolean unsynced = j->unsynced;
  j->unsynced = FALSE;
  if (j->pending_error == NULL
      && (unsynced ? j->ops->commit_unsynced (j->store, &wrote,
                                              &j->pending_error)
                   : j->ops->commit (j->store, &wrote, &j->pending_error)))
    {
      if (wrote && j->committed != NULL)
        j->committed (g_get_monotonic_time () - t0, j->committed_data);
      if (unsynced && wrote && j->sync_id == 0)
        j->sync_id = g_timeout_add (JQ_JOURNAL_SYNC_MS, on_sync_due, j);
      return TRUE;
    }
  return fail (j, error);
}

gboolean
jq_journal_commit_moves (JqJournal *j, GError **error)
{
  g_return_val_if_fail (j->depth > 0, FALSE);
  j->unsynced = j->depth == 1 && j->ops->commit_unsynced != NULL;
  return jq_journal_commit (j, error);
}

/* Opens a transaction for a lone write; TRUE when it did. */
static gboolean
write_open (JqJournal *j)
{
  gboolean single = j->depth == 0;
  if (single)
    jq_journal_begin (j);
  return single;
}

static gboolean
may_write (JqJournal *j)
{
  return j->pending_error == NULL && j->broken == NULL;
}

/* Keeps the write's @error, and commits a lone write. */
static void
write_close (JqJournal *j, gboolean single, GError *error)
{
  note (j, error);
  if (single)
    jq_journal_commit (j, NULL);
}

void
jq_journal_add (JqJournal *j, JqJob *job)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->add (j->store, job, &error);
  write_close (j, single, error);
}

void
jq_journal_set_priority (JqJournal *j, guint64 number, int priority)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->set_priority (j->store, number, priority, &error);
  write_close (j, single, error);
}

void
jq_journal_disown (JqJournal *j, guint64 number)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->disown (j->store, number, &error);
  write_close (j, single, error);
}

void
jq_journal_start (JqJournal *j, guint64 number, gint64 started_us, int pid)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  j->moved_job = TRUE;
  if (may_write (j))
    j->ops->start (j->store, number, started_us, pid, &error);
  write_close (j, single, error);
}

void
jq_journal_remove (JqJournal *j, guint64 number)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->remove (j->store, number, &error);
  write_close (j, single, error);
}

void
jq_journal_clear_waiting (JqJournal *j)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->clear_waiting (j->store, &error);
  write_close (j, single, error);
}

static void
set_meta (JqJournal *j, const char *key, gint64 value)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  if (may_write (j))
    j->ops->set_meta (j->store, key, value, &error);
  write_close (j, single, error);
}

void
jq_journal_set_next_number (JqJournal *j, guint64 next)
{
  set_meta (j, "next_number", (gint64) next);
}

void
jq_journal_set_flag (JqJournal *j, const char *name, gboolean value)
{
  set_meta (j, name, value ? 1 : 0);
}

void
jq_journal_finish (JqJournal *j, const JqFinished *f)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  j->moved_job = TRUE;
  if (may_write (j))
    j->ops->finish (j->store, f, &error);
  write_close (j, single, error);
}

void
jq_journal_requeue_at_head (JqJournal *j, guint64 number)
{
  gboolean single = write_open (j);
  GError *error = NULL;
  j->moved_job = TRUE;
  if (may_write (j))
    j->ops->requeue_at_head (j->store, number, &error);
  write_close (j, single, error);
}

gboolean
jq_journal_get_flag (JqJournal *j, const char *name)
{
  GError *error = NULL;
  gint64 value = j->ops->get_meta (j->store, name, 0, &error);
  read_failed (j, error);
  return value != 0;
}

gboolean
jq_journal_load (JqJournal *j, JqJournalJobFunc func, gpointer user_data,
                 guint64 *next_number, GError **error)
{
  *next_number = 1;
  GError *local = NULL;
  if (j->ops->load (j->store, func, user_data, next_number, &local))
    return TRUE;
  if (j->depth > 0)
    note (j, g_error_copy (local));
  g_propagate_error (error, local);
  return FALSE;
}

guint
jq_journal_prune_history (JqJournal *j, gint64 before_us, guint max_rows)
{
  if (j->broken != NULL || j->depth > 0)
    return 0;
  return j->ops->prune_history (j->store, before_us, max_rows);
}

GArray *
jq_journal_history (JqJournal *j, guint limit, gsize max_bytes)
{
  GError *error = NULL;
  GArray *rows = j->ops->history (j->store, limit, max_bytes, &error);
  read_failed (j, error);
  return rows;
}

JqFinished *
jq_journal_find_finished (JqJournal *j, guint64 number)
{
  GError *error = NULL;
  JqFinished *f = j->ops->find_finished (j->store, number, &error);
  read_failed (j, error);
  return f;
}

/* ------------------------------------------------ shared stores */

gboolean
jq_journal_sync (JqJournal *j, gboolean full, JqJournalSyncFunc func,
                 gpointer user_data, JqSyncState *state, GError **error)
{
  if (j->ops->shared == NULL)
    return TRUE;
  GError *local = NULL;
  if (j->ops->shared->sync (j->store, full, func, user_data, state, &local))
    return TRUE;
  if (j->depth > 0)
    note (j, g_error_copy (local));
  g_propagate_error (error, local);
  return FALSE;
}

gboolean
jq_journal_list_running (JqJournal *j, GPtrArray *jobs, GArray *pids,
                         GArray *started_us)
{
  if (j->ops->shared == NULL)
    return TRUE;
  GError *error = NULL;
  gboolean ok = j->ops->shared->list_running (j->store, jobs, pids,
                                              started_us, &error);
  read_failed (j, error);
  return ok;
}

JqRecordState
jq_journal_find_job (JqJournal *j, guint64 number)
{
  if (j->ops->shared == NULL)
    return JQ_RECORD_NONE;
  GError *error = NULL;
  JqRecordState state = j->ops->shared->find_job (j->store, number, &error);
  read_failed (j, error);
  return state;
}

gboolean
jq_journal_is_healthy (JqJournal *j)
{
  return j->pending_error == NULL && j->broken == NULL
         && (j->ops->shared == NULL || j->ops->shared->healthy (j->store));
}

gboolean
jq_journal_lost_a_move (JqJournal *j)
{
  return j->lost_move;
}
