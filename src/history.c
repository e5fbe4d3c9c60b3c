/* What ended, in one place.
 *
 * Before, four holders kept finished jobs: the scheduler's cache of the
 * last 1,000 (for wait()), its set of gone numbers, the status page's own
 * ring of the last day's runs (seeded from the journal at start), and the
 * journal.  Here one ring of JqEnded records serves both readers in
 * memory; each record keeps its task cut as the page shows it, since
 * wait() does not answer the task and history() reads the journal's
 * whole rows.  A number is looked up in memory first, then in the
 * journal, so that wait() knows every job history() lists. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "history.h"

#include <string.h>

/* A server that does not launch (a cluster's follower) hears only that
 * another server changed the queue: before its records are next read, it
 * reads the journal's newest ends, in pages that double from the first
 * until one holds an end it knows.  So every server of a cluster shows
 * the same timeline, and a page view reads a few rows, not 2,000. */
#define CATCH_UP_FIRST 64
#define CATCH_UP_BYTES (4 * 1024 * 1024)

/* Rows deleted per step of pruning: a step is one short transaction, so
 * calls do not wait behind a large delete. */
#define PRUNE_STEP 500

struct _JqHistory {
  JqJournal  *journal;
  GQueue      ended;       /* JqEnded*, oldest first; at most
                            * JQ_HISTORY_KEEP */
  GHashTable *by_number;   /* number (in the record) -> JqEnded*, borrowed
                            * from @ended */
  GHashTable *gone;        /* guint64* numbers that left without running */
  gboolean    stale;       /* another server changed the shared queue
                            * since the journal's ends were read */
  guint       prune_days;
  guint       prune_id;    /* the hourly timer */
  guint       prune_step_id; /* an idle deleting one step */
};

/* ---------------------------------------------------------- records */

static void
ended_clear (gpointer p)
{
  jq_finished_clear (&((JqEnded *) p)->finished);
}

JqEnded *
jq_ended_ref (JqEnded *e)
{
  return g_atomic_rc_box_acquire (e);
}

void
jq_ended_unref (JqEnded *e)
{
  if (e != NULL)
    g_atomic_rc_box_release_full (e, ended_clear);
}

/* @text made valid UTF-8 and cut after @max characters (reading at most
 * @max * 4 + 4 bytes: each character takes 4 at most, an invalid byte
 * one); *@cut set when something was left out.  Sets *@chars. */
static char *
cut_text (const char *text, glong max, glong *chars, gboolean *cut)
{
  gsize len = strnlen (text, (gsize) max * 4 + 4);
  char *valid = g_utf8_make_valid (text, len);
  *chars = g_utf8_strlen (valid, -1);
  if (*chars > max)
    {
      *g_utf8_offset_to_pointer (valid, max) = '\0';
      *chars = max;
      *cut = TRUE;
    }
  return valid;
}

char **
jq_history_cut_task (const char *const *argv, glong max_chars, gboolean *cut)
{
  GPtrArray *shown = g_ptr_array_new ();
  glong budget = max_chars;
  gboolean was_cut = FALSE;
  for (gsize n = 0; argv[n] != NULL && !was_cut; n++)
    {
      /* The separator before an argument counts one character. */
      if (n > 0 && budget-- <= 0)
        {
          was_cut = TRUE;
          break;
        }
      glong chars = 0;
      g_ptr_array_add (shown, cut_text (argv[n], budget, &chars, &was_cut));
      budget -= chars;
    }
  g_ptr_array_add (shown, NULL);
  if (cut != NULL)
    *cut = was_cut;
  return (char **) g_ptr_array_free (shown, FALSE);
}

static JqEnded *
ended_new (const JqFinished *f)
{
  static const char *const none[] = { NULL };
  const char *const *argv = f->argv != NULL ? f->argv : none;
  JqEnded *e = g_atomic_rc_box_new0 (JqEnded);
  e->finished = *f;
  e->finished.start_error = g_strdup (f->start_error);
  e->finished.argv = (const char *const *) jq_history_cut_task (
      argv, JQ_HISTORY_TASK_CHARS, &e->task_cut);
  for (; argv[e->task_arguments] != NULL; e->task_arguments++)
    e->task_bytes += strlen (argv[e->task_arguments]);
  return e;
}

/* ---------------------------------------------------------- memory */

static void
keep (JqHistory *h, JqEnded *e)
{
  g_queue_push_tail (&h->ended, e);
  g_hash_table_replace (h->by_number, &e->finished.number, e);
  while (g_queue_get_length (&h->ended) > JQ_HISTORY_KEEP)
    {
      JqEnded *old = g_queue_pop_head (&h->ended);
      /* A number ends once; but a store shared with another server could
       * say it twice: only the record the table points at leaves it. */
      if (g_hash_table_lookup (h->by_number, &old->finished.number) == old)
        g_hash_table_remove (h->by_number, &old->finished.number);
      jq_ended_unref (old);
    }
}

void
jq_history_add (JqHistory *h, const JqFinished *f)
{
  keep (h, ended_new (f));
}

void
jq_history_add_gone (JqHistory *h, guint64 number)
{
  if (g_hash_table_size (h->gone) >= JQ_HISTORY_GONE_MAX)
    g_hash_table_remove_all (h->gone);
  g_hash_table_add (h->gone, g_memdup2 (&number, sizeof number));
}

JqFinished *
jq_history_find (JqHistory *h, guint64 number)
{
  const JqEnded *e = g_hash_table_lookup (h->by_number, &number);
  if (e != NULL)
    return jq_finished_copy (&e->finished);
  return jq_journal_find_finished (h->journal, number);
}

void
jq_history_observe (const JqEvent *event, gpointer history)
{
  switch (event->kind)
    {
    case JQ_EVENT_FINISHED:
    case JQ_EVENT_START_FAILED:
      jq_history_add (history, event->result);
      break;
    case JQ_EVENT_GONE:
      jq_history_add_gone (history, event->number);
      break;
    case JQ_EVENT_CHANGED_ELSEWHERE:
      ((JqHistory *) history)->stale = TRUE;
      break;
    case JQ_EVENT_STARTED:
      break;
    }
}

gboolean
jq_history_is_gone (JqHistory *h, guint64 number)
{
  return g_hash_table_contains (h->gone, &number);
}

/* The ends another server recorded since memory last looked, added
 * oldest first. */
static void
catch_up (JqHistory *h)
{
  h->stale = FALSE;
  guint limit = CATCH_UP_FIRST;
  for (;; limit = MIN (limit * 2, JQ_HISTORY_KEEP))
    {
      g_autoptr (GArray) rows = jq_journal_history (h->journal, limit,
                                                    CATCH_UP_BYTES);
      guint fresh = 0;       /* rows newer than every one memory holds */
      while (fresh < rows->len
             && !g_hash_table_contains (
                    h->by_number, &g_array_index (rows, JqFinished,
                                                  fresh).number))
        fresh++;
      if (fresh < rows->len || rows->len < limit || limit == JQ_HISTORY_KEEP)
        {
          while (fresh-- > 0)
            jq_history_add (h, &g_array_index (rows, JqFinished, fresh));
          return;
        }
    }
}

GPtrArray *
jq_history_recent (JqHistory *h, gint64 since_us)
{
  if (h->stale)
    catch_up (h);
  GPtrArray *recent = g_ptr_array_new_with_free_func (
      (GDestroyNotify) jq_ended_unref);
  for (GList *l = h->ended.head; l != NULL; l = l->next)
    {
      JqEnded *e = l->data;
      if (e->finished.ended_us >= since_us)
        g_ptr_array_add (recent, jq_ended_ref (e));
    }
  return recent;
}

GArray *
jq_history_list (JqHistory *h, guint limit, gsize max_bytes)
{
  return jq_journal_history (h->journal, limit, max_bytes);
}

/* ---------------------------------------------------------- life */

/* The journal's last jobs, oldest first, so that a restart does not
 * blank the page and wait() on them reads memory. */
static void
seed (JqHistory *h)
{
  g_autoptr (GArray) rows = jq_journal_history (h->journal, JQ_HISTORY_KEEP,
                                                G_MAXSIZE);
  for (guint i = rows->len; i-- > 0;)
    jq_history_add (h, &g_array_index (rows, JqFinished, i));
}

JqHistory *
jq_history_new (JqJournal *journal)
{
  JqHistory *h = g_new0 (JqHistory, 1);
  h->journal = journal;
  g_queue_init (&h->ended);
  h->by_number = g_hash_table_new (g_int64_hash, g_int64_equal);
  h->gone = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                   NULL);
  seed (h);
  return h;
}

static gboolean
prune_step (gpointer data)
{
  JqHistory *h = data;
  gint64 cutoff = g_get_real_time ()
                  - (gint64) h->prune_days * G_TIME_SPAN_DAY;
  if (jq_journal_prune_history (h->journal, cutoff, PRUNE_STEP)
      == PRUNE_STEP)
    return G_SOURCE_CONTINUE;
  h->prune_step_id = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
on_prune_timer (gpointer data)
{
  JqHistory *h = data;
  if (h->prune_step_id == 0)
    h->prune_step_id = g_idle_add_full (G_PRIORITY_LOW, prune_step, h, NULL);
  return G_SOURCE_CONTINUE;
}

void
jq_history_prune_every_hour (JqHistory *h, guint days)
{
  g_clear_handle_id (&h->prune_id, g_source_remove);
  h->prune_days = days;
  if (days == 0)
    return;
  on_prune_timer (h);
  h->prune_id = g_timeout_add_seconds (3600, on_prune_timer, h);
}

void
jq_history_free (JqHistory *h)
{
  if (h == NULL)
    return;
  g_clear_handle_id (&h->prune_id, g_source_remove);
  g_clear_handle_id (&h->prune_step_id, g_source_remove);
  g_queue_clear_full (&h->ended, (GDestroyNotify) jq_ended_unref);
  g_hash_table_unref (h->by_number);
  g_hash_table_unref (h->gone);
  g_free (h);
}
