/* The null store, for durability "none": the queue lives in memory only.
 * Every write succeeds and keeps nothing, every read finds nothing.  It
 * is also the smallest example of a store (store.h). */
#include "journal.h"

static void
none_close (gpointer store)
{
}

static gboolean
none_begin (gpointer store, GError **error)
{
  return TRUE;
}

static gboolean
none_commit (gpointer store, gboolean *wrote, GError **error)
{
  *wrote = FALSE;
  return TRUE;
}

static void
none_rollback (gpointer store)
{
}

static gboolean
none_add (gpointer store, JqJob *job, GError **error)
{
  return TRUE;
}

static gboolean
none_set_priority (gpointer store, guint64 number, int priority,
                   GError **error)
{
  return TRUE;
}

static gboolean
none_disown (gpointer store, guint64 number, GError **error)
{
  return TRUE;
}

static gboolean
none_start (gpointer store, guint64 number, gint64 started_us, int pid,
            GError **error)
{
  return TRUE;
}

static gboolean
none_remove (gpointer store, guint64 number, GError **error)
{
  return TRUE;
}

/* The same: a job number, and nothing kept. */
#define none_requeue_at_head none_remove

static gboolean
none_clear_waiting (gpointer store, GError **error)
{
  return TRUE;
}

static gboolean
none_set_meta (gpointer store, const char *key, gint64 value,
               GError **error)
{
  return TRUE;
}

static gboolean
none_finish (gpointer store, const JqFinished *f, GError **error)
{
  return TRUE;
}

static gint64
none_get_meta (gpointer store, const char *key, gint64 fallback,
               GError **error)
{
  return fallback;
}

static gboolean
none_load (gpointer store, JqJournalJobFunc func, gpointer user_data,
           guint64 *next_number, GError **error)
{
  *next_number = 1;
  return TRUE;
}

static guint
none_prune_history (gpointer store, gint64 before_us, guint max_rows)
{
  return 0;
}

static GArray *
none_history (gpointer store, guint limit, gsize max_bytes, GError **error)
{
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (JqFinished));
  g_array_set_clear_func (rows, jq_finished_clear);
  return rows;
}

static JqFinished *
none_find_finished (gpointer store, guint64 number, GError **error)
{
  return NULL;
}

static const JqStoreOps none_ops = {
  .kind = "none", .durable = FALSE,
  /* Only the guard can fail a commit here (a lost lock file): for good. */
  .can_recover = FALSE,
  JQ_STORE_FUNCTIONS (none),
};

JqJournal *
jq_journal_open_none (void)
{
  /* A queue identity made at start: no two runs share it. */
  return jq_journal_new (&none_ops, NULL, "(none: the queue is kept in "
                         "memory only)", jq_journal_new_queue_id ());
}
