/* Tests of the seam for a journal shared by several servers: the
 * scheduler's resync at the start of its batch (changes, or everything
 * when they do not add up), and
 * Bots' rules judged on what other servers queued.  A fake store in
 * memory stands for PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "ini.h"
#include "journal.h"
#include "log.h"
#include "scheduler.h"

typedef struct {
  guint64  number;
  int      priority;
  char    *task;       /* one-word argv */
  gboolean waiting;
  gboolean at_head;
} Row;

typedef struct {
  JqJournal  *journal;
  GArray     *rows;          /* Row: the store's jobs */
  GPtrArray  *changed;       /* Row* reported by the next incremental sync */
  gboolean    full_next;     /* the next begin asks for a full reload */
  guint       full_reads;    /* syncs that read everything */
  guint       adds;          /* add calls written */
  guint64     next_number;
} Fake;

static void
fake_close (gpointer impl)
{
}

static gboolean
fake_begin (gpointer impl, GError **error)
{
  return TRUE;
}

/* Every batch finds the queue changed elsewhere, as a busy cluster's. */
static gboolean
fake_changes (gpointer impl, gboolean *full)
{
  Fake *f = impl;
  *full = f->full_next;
  f->full_next = FALSE;
  return TRUE;
}

static gboolean
fake_commit (gpointer impl, gboolean *wrote, GError **error)
{
  *wrote = FALSE;
  return TRUE;
}

static void nothing (gpointer i) { }

static gboolean
fake_add (gpointer impl, JqJob *job, GError **error)
{
  ((Fake *) impl)->adds++;
  return TRUE;
}

static gboolean
ok_u64_int (gpointer i, guint64 n, int p, GError **e)
{
  return TRUE;
}

static gboolean
ok_start (gpointer i, guint64 n, gint64 s, int p, GError **e)
{
  return TRUE;
}

static gboolean ok_u64 (gpointer i, guint64 n, GError **e) { return TRUE; }
static gboolean ok (gpointer i, GError **e) { return TRUE; }

static gboolean
ok_meta (gpointer i, const char *k, gint64 v, GError **e)
{
  return TRUE;
}

static gint64
meta_fallback (gpointer i, const char *k, gint64 f, GError **e)
{
  return f;
}

static gboolean
ok_finish (gpointer i, const JqFinished *f, GError **e)
{
  return TRUE;
}

static guint no_prune (gpointer i, gint64 b, guint m) { return 0; }

static GArray *
no_history (gpointer i, guint limit, gsize max_bytes, GError **e)
{
  return g_array_new (FALSE, TRUE, sizeof (JqFinished));
}

static gboolean
no_running (gpointer i, GPtrArray *jobs, GArray *pids, GArray *started,
            GError **e)
{
  return TRUE;
}

static JqRecordState
no_record (gpointer i, guint64 number, GError **e)
{
  return JQ_RECORD_NONE;
}

static JqFinished *
no_finished (gpointer i, guint64 number, GError **e)
{
  return NULL;
}

static gboolean
healthy (gpointer i)
{
  return TRUE;
}

static gboolean
fake_load (gpointer impl, JqJournalJobFunc func, gpointer data,
           guint64 *next, GError **error)
{
  *next = ((Fake *) impl)->next_number;
  return TRUE;
}

static void
report (const Row *r, JqJournalSyncFunc func, gpointer data)
{
  const char *argv[] = { r->task, NULL };
  g_autoptr (JqJob) job = r->waiting ? jq_job_new (r->number, r->priority,
                                                   argv, 0) : NULL;
  func (job ? JQ_SYNC_WAITING : JQ_SYNC_GONE, r->number, job, r->at_head,
        data);
}

static gboolean
fake_sync (gpointer impl, gboolean full, JqJournalSyncFunc func,
           gpointer data, JqSyncState *state, GError **error)
{
  Fake *f = impl;
  state->waiting = 0;
  for (guint i = 0; i < f->rows->len; i++)
    if (g_array_index (f->rows, Row, i).waiting)
      state->waiting++;
  state->next_number = f->next_number;
  state->paused = FALSE;
  if (full)
    {
      f->full_reads++;
      for (guint i = 0; i < f->rows->len; i++)
        if (g_array_index (f->rows, Row, i).waiting)
          report (&g_array_index (f->rows, Row, i), func, data);
    }
  else
    for (guint i = 0; i < f->changed->len; i++)
      report (f->changed->pdata[i], func, data);
  g_ptr_array_set_size (f->changed, 0);
  return TRUE;
}

static const JqSharedOps fake_shared = {
  .changes = fake_changes, .sync = fake_sync, .list_running = no_running,
  .find_job = no_record, .healthy = healthy,
};

static const JqStoreOps fake_ops = {
  .kind = "fake", .durable = TRUE, .can_recover = TRUE,
  .shared = &fake_shared,
  .close = fake_close,
  .begin = fake_begin, .commit = fake_commit, .rollback = nothing,
  .add = fake_add, .set_priority = ok_u64_int, .start = ok_start,
  .remove = ok_u64, .disown = ok_u64, .clear_waiting = ok,
  .set_meta = ok_meta,
  .finish = ok_finish, .requeue_at_head = ok_u64, .get_meta = meta_fallback,
  .load = fake_load, .prune_history = no_prune, .history = no_history,
  .find_finished = no_finished,
};

typedef struct {
  Fake         fake;
  JqConfig    *config;
  JqLog       *log;
  JqScheduler *scheduler;
} Fixture;

static gboolean
follower (gpointer data)
{
  return FALSE;      /* this server never launches here */
}

static int
setup (void **state)
{
  Fixture *fx = g_new0 (Fixture, 1);
  const char *text = "[jobqueue]\nauthorized_tasks = *\n";
  g_autoptr (JqIni) ini = jq_ini_parse (text, strlen (text), "bots.ini", NULL);
  fx->config = jq_config_from_ini (ini, "/nonexistent/config", NULL);
  fx->log = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  fx->fake.rows = g_array_new (FALSE, TRUE, sizeof (Row));
  fx->fake.changed = g_ptr_array_new ();
  fx->fake.next_number = 1;
  fx->fake.full_next = TRUE;
  fx->fake.journal = jq_journal_new (&fake_ops, &fx->fake, "fake", 42);
  JqRunnerSettings settings = { 0 };
  fx->scheduler = jq_scheduler_new (fx->config, fx->log, &settings,
                                    fx->fake.journal);
  jq_scheduler_set_launch_gate (fx->scheduler, follower, NULL);
  *state = fx;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *fx = *state;
  jq_scheduler_free (fx->scheduler);
  jq_journal_close (fx->fake.journal);
  for (guint i = 0; i < fx->fake.rows->len; i++)
    g_free (g_array_index (fx->fake.rows, Row, i).task);
  g_array_unref (fx->fake.rows);
  g_ptr_array_unref (fx->fake.changed);
  jq_log_free (fx->log);
  jq_config_free (fx->config);
  g_free (fx);
  return 0;
}

/* Another server queued @task as job @number: a row in the store. */
static Row *
store_add (Fixture *fx, guint64 number, int priority, const char *task)
{
  Row r = { number, priority, g_strdup (task), TRUE, FALSE };
  g_array_append_val (fx->fake.rows, r);
  fx->fake.next_number = MAX (fx->fake.next_number, number + 1);
  return &g_array_index (fx->fake.rows, Row, fx->fake.rows->len - 1);
}

static Row *
store_row (Fixture *fx, guint64 number)
{
  for (guint i = 0; i < fx->fake.rows->len; i++)
    if (g_array_index (fx->fake.rows, Row, i).number == number)
      return &g_array_index (fx->fake.rows, Row, i);
  return NULL;
}

/* The queue as this server sees it in a batch: "number:task" in run order. */
static char *
listed (Fixture *fx)
{
  jq_scheduler_begin (fx->scheduler);
  g_autoptr (GPtrArray) jobs = jq_scheduler_listjobs (fx->scheduler);
  jq_scheduler_commit (fx->scheduler, NULL);
  GString *out = g_string_new ("");
  for (guint i = 0; i < jobs->len; i++)
    g_string_append_printf (out, "%s%" G_GUINT64_FORMAT ":%s",
                            i ? " " : "", jq_job_get_number (jobs->pdata[i]),
                            jq_job_get_argv (jobs->pdata[i])[0]);
  return g_string_free (out, FALSE);
}

static void
test_full_then_changes (void **state)
{
  Fixture *fx = *state;
  store_add (fx, 1, 5, "a");
  store_add (fx, 2, 5, "b");
  store_add (fx, 3, 3, "c");
  g_autofree char *first = listed (fx);
  assert_string_equal (first, "3:c 1:a 2:b");
  assert_int_equal (fx->fake.full_reads, 1);

  /* Job 2 started on the leader, job 4 queued elsewhere, job 1 moved. */
  store_row (fx, 2)->waiting = FALSE;
  g_ptr_array_add (fx->fake.changed, store_row (fx, 2));
  g_ptr_array_add (fx->fake.changed, store_add (fx, 4, 5, "d"));
  store_row (fx, 1)->priority = 1;
  g_ptr_array_add (fx->fake.changed, store_row (fx, 1));
  g_autofree char *second = listed (fx);
  assert_string_equal (second, "1:a 3:c 4:d");
  assert_int_equal (fx->fake.full_reads, 1);     /* changes were enough */
}

static void
test_a_removal_reads_everything (void **state)
{
  Fixture *fx = *state;
  store_add (fx, 1, 5, "a");
  store_add (fx, 2, 5, "b");
  g_autofree char *first = listed (fx);
  assert_string_equal (first, "1:a 2:b");

  /* Removed elsewhere: the row is gone, no change reports it. */
  g_free (store_row (fx, 1)->task);
  g_array_remove_index (fx->fake.rows, 0);
  g_autofree char *second = listed (fx);
  assert_string_equal (second, "2:b");
  assert_int_equal (fx->fake.full_reads, 2);
}

static void
test_requeued_task_reads_everything (void **state)
{
  Fixture *fx = *state;
  store_add (fx, 1, 5, "a");
  g_autofree char *first = listed (fx);

  /* Job 1 removed elsewhere and its task queued again as job 2: the
   * counts agree, the task does not. */
  store_row (fx, 1)->waiting = FALSE;
  g_ptr_array_add (fx->fake.changed, store_add (fx, 2, 5, "a"));
  g_autofree char *second = listed (fx);
  assert_string_equal (second, "2:a");
  assert_int_equal (fx->fake.full_reads, 2);
}

static void
test_addjob_judged_on_the_shared_queue (void **state)
{
  Fixture *fx = *state;
  g_autofree char *empty = listed (fx);
  assert_string_equal (empty, "");

  /* Another server queued "a" as job 7 since. */
  g_ptr_array_add (fx->fake.changed, store_add (fx, 7, 5, "a"));
  const char *a[] = { "a", NULL };
  const char *b[] = { "b", NULL };
  guint64 number = 0;
  jq_scheduler_begin (fx->scheduler);
  assert_int_equal (jq_scheduler_submit (fx->scheduler, a, 5, NULL, &number),
                    JQ_ADDJOB_DUPLICATE);
  assert_int_equal (number, 7);
  assert_int_equal (jq_scheduler_submit (fx->scheduler, b, 5, NULL, &number),
                    JQ_ADDJOB_OK);
  assert_int_equal (number, 8);                  /* after the shared numbers */
  jq_scheduler_commit (fx->scheduler, NULL);
  assert_int_equal (fx->fake.adds, 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_full_then_changes, setup, teardown),
    cmocka_unit_test_setup_teardown (test_a_removal_reads_everything, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_requeued_task_reads_everything,
                                     setup, teardown),
    cmocka_unit_test_setup_teardown (test_addjob_judged_on_the_shared_queue,
                                     setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
