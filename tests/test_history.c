/* Tests of history.c, the one owner of what ended: the records kept in
 * memory and their bound, the task cut as the page shows it, the gone
 * set, look-ups that fall through to the journal, seeding at start and
 * pruning of the journal's history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <string.h>

#include "history.h"

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct {
  char      *dir;
  char      *db;
} Fixture;

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->dir = g_dir_make_tmp ("test_history-XXXXXX", NULL);
  f->db = g_build_filename (f->dir, "queue.db", NULL);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  g_autoptr (GDir) d = g_dir_open (f->dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->db);
  g_free (f->dir);
  g_free (f);
  return 0;
}

static JqJournal *
open_journal (Fixture *f)
{
  JqJournal *j = jq_journal_open (f->db, JQ_DURABILITY_FAST, NULL);
  assert_non_null (j);
  return j;
}

/* Job @number ended at @ended_us with @exit_code, in the journal only. */
static void
journal_finish (JqJournal *j, guint64 number, gint64 ended_us,
                int exit_code)
{
  JqFinished done = { .number = number, .priority = 5,
                      .argv = TASK ("bots-engine", "-cconfig"),
                      .queued_us = ended_us - 2000, .started_us = ended_us
                      - 1000, .ended_us = ended_us, .exit_code = exit_code };
  jq_journal_begin (j);
  jq_journal_finish (j, &done);
  assert_true (jq_journal_commit (j, NULL));
}

static char *
joined (char **argv)
{
  return g_strjoinv ("|", argv);
}

/* ------------------------------------------------------------ the cut */

static void
test_cut_task (void **state)
{
  gboolean cut = TRUE;
  g_auto (GStrv) whole = jq_history_cut_task (TASK ("a", "bc", ""), 300,
                                              &cut);
  g_autofree char *w = joined (whole);
  assert_string_equal (w, "a|bc|");
  assert_false (cut);

  /* Exactly the budget: 2 + 1 separator + 2. */
  g_auto (GStrv) fits = jq_history_cut_task (TASK ("ab", "cd"), 5, &cut);
  assert_int_equal (g_strv_length (fits), 2);
  assert_false (cut);

  /* One character short: the last argument is cut. */
  g_auto (GStrv) one = jq_history_cut_task (TASK ("ab", "cd"), 4, &cut);
  g_autofree char *o = joined (one);
  assert_string_equal (o, "ab|c");
  assert_true (cut);

  /* The budget ends at a separator: the rest is left out. */
  g_auto (GStrv) sep = jq_history_cut_task (TASK ("ab", "cd", "e"), 2, &cut);
  assert_int_equal (g_strv_length (sep), 1);
  assert_true (cut);

  /* Characters, not bytes; invalid bytes become U+FFFD. */
  g_auto (GStrv) utf = jq_history_cut_task (TASK ("\xc3\xa9\xc3\xa9\xc3\xa9",
                                                  "x\xff"), 10, &cut);
  assert_string_equal (utf[0], "\xc3\xa9\xc3\xa9\xc3\xa9");
  assert_string_equal (utf[1], "x\xef\xbf\xbd");
  assert_false (cut);
}

/* A 64 KiB task is kept as 300 characters, with its whole size. */
static void
test_long_task_kept_cut (void **state)
{
  g_autoptr (JqJournal) j = jq_journal_open_none ();
  g_autoptr (JqHistory) h = jq_history_new (j);
  g_autofree char *big = g_strnfill (65536, 'x');
  JqFinished f = { .number = 7, .argv = TASK ("bots-engine", big),
                   .ended_us = 10, .exit_code = 2 };
  jq_history_add (h, &f);
  g_autoptr (GPtrArray) recent = jq_history_recent (h, 0);
  assert_int_equal (recent->len, 1);
  const JqEnded *e = recent->pdata[0];
  assert_true (e->task_cut);
  assert_int_equal (e->task_arguments, 2);
  assert_int_equal (e->task_bytes, 11 + 65536);
  assert_int_equal (strlen (e->finished.argv[1]),
                    JQ_HISTORY_TASK_CHARS - 11 - 1);
  assert_int_equal (e->finished.exit_code, 2);
}

/* ------------------------------------------------------------ memory */

/* Without a journal (durability "none") memory is all there is: the
 * newest JQ_HISTORY_KEEP are known, older ones forgotten. */
static void
test_memory_bound (void **state)
{
  g_autoptr (JqJournal) j = jq_journal_open_none ();
  g_autoptr (JqHistory) h = jq_history_new (j);
  for (guint64 n = 1; n <= JQ_HISTORY_KEEP + 5; n++)
    {
      JqFinished f = { .number = n, .argv = TASK ("t"),
                       .ended_us = (gint64) n * 1000, .exit_code = 1 };
      jq_history_add (h, &f);
    }
  assert_null (jq_history_find (h, 5));
  g_autoptr (JqFinished) kept = jq_history_find (h, 6);
  assert_non_null (kept);
  assert_int_equal (kept->exit_code, 1);
  assert_string_equal (kept->argv[0], "t");
  g_autoptr (GPtrArray) all = jq_history_recent (h, 0);
  assert_int_equal (all->len, JQ_HISTORY_KEEP);
  assert_int_equal (((JqEnded *) all->pdata[0])->finished.number, 6);
  /* Since a moment: the ones that ended then or later, oldest first. */
  g_autoptr (GPtrArray) last = jq_history_recent (
      h, (gint64) (JQ_HISTORY_KEEP + 3) * 1000);
  assert_int_equal (last->len, 3);
  assert_int_equal (((JqEnded *) last->pdata[0])->finished.number,
                    JQ_HISTORY_KEEP + 3);
}

/* A record taken by a snapshot outlives its place in memory. */
static void
test_record_outlives_memory (void **state)
{
  g_autoptr (JqJournal) j = jq_journal_open_none ();
  JqHistory *h = jq_history_new (j);
  JqFinished f = { .number = 1, .argv = TASK ("t"), .ended_us = 5,
                   .start_error = "cannot run t" };
  jq_history_add (h, &f);
  g_autoptr (GPtrArray) taken = jq_history_recent (h, 0);
  jq_history_free (h);
  const JqEnded *e = taken->pdata[0];
  assert_string_equal (e->finished.start_error, "cannot run t");
  assert_string_equal (e->finished.argv[0], "t");
}

static void
test_gone (void **state)
{
  g_autoptr (JqJournal) j = jq_journal_open_none ();
  g_autoptr (JqHistory) h = jq_history_new (j);
  assert_false (jq_history_is_gone (h, 3));
  jq_history_add_gone (h, 3);
  assert_true (jq_history_is_gone (h, 3));
  assert_null (jq_history_find (h, 3));
  /* Bounded: past the maximum the set starts again. */
  for (guint64 n = 10; n < 10 + JQ_HISTORY_GONE_MAX; n++)
    jq_history_add_gone (h, n);
  assert_false (jq_history_is_gone (h, 3));
  assert_true (jq_history_is_gone (h, 9 + JQ_HISTORY_GONE_MAX));
}

/* ------------------------------------------------------------ journal */

/* What memory does not hold is read from the journal, so wait() knows
 * every job history() lists. */
static void
test_falls_through_to_journal (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqJournal) j = open_journal (f);
  g_autoptr (JqHistory) h = jq_history_new (j);
  journal_finish (j, 42, 5000000, 3);
  g_autoptr (JqFinished) found = jq_history_find (h, 42);
  assert_non_null (found);
  assert_int_equal (found->exit_code, 3);
  assert_string_equal (found->argv[1], "-cconfig");
  assert_null (jq_history_find (h, 43));
  g_autoptr (GPtrArray) recent = jq_history_recent (h, 0);
  assert_int_equal (recent->len, 0);         /* not added to memory */
  g_autoptr (GArray) rows = jq_history_list (h, 10, G_MAXSIZE);
  assert_int_equal (rows->len, 1);
}

/* At start the memory holds the journal's last jobs, oldest first. */
static void
test_seeded_at_start (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqJournal) j = open_journal (f);
  for (guint64 n = 1; n <= 3; n++)
    journal_finish (j, n, (gint64) n * 1000000, (int) n);
  g_autoptr (JqHistory) h = jq_history_new (j);
  g_autoptr (GPtrArray) recent = jq_history_recent (h, 0);
  assert_int_equal (recent->len, 3);
  for (guint i = 0; i < 3; i++)
    {
      const JqEnded *e = recent->pdata[i];
      assert_int_equal (e->finished.number, i + 1);
      assert_int_equal (e->finished.exit_code, i + 1);
      assert_false (e->task_cut);
    }
}

/* A follower hears only that another server changed the queue: its next
 * read adds the ends the journal recorded since, oldest first, also
 * more than the first page of them. */
static void
test_catches_up_after_a_change_elsewhere (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqJournal) j = open_journal (f);
  journal_finish (j, 1, 1000000, 0);
  g_autoptr (JqHistory) h = jq_history_new (j);
  for (guint64 n = 2; n <= 4; n++)
    journal_finish (j, n, (gint64) n * 1000000, 0);
  g_autoptr (GPtrArray) before = jq_history_recent (h, 0);
  assert_int_equal (before->len, 1);         /* nothing said it changed */
  JqEvent changed = { .kind = JQ_EVENT_CHANGED_ELSEWHERE };
  jq_history_observe (&changed, h);
  g_autoptr (GPtrArray) after = jq_history_recent (h, 0);
  assert_int_equal (after->len, 4);
  for (guint i = 0; i < 4; i++)
    assert_int_equal (((JqEnded *) after->pdata[i])->finished.number, i + 1);
  for (guint64 n = 5; n <= 204; n++)
    journal_finish (j, n, (gint64) n * 1000000, 0);
  jq_history_observe (&changed, h);
  g_autoptr (GPtrArray) many = jq_history_recent (h, 0);
  assert_int_equal (many->len, 204);
  assert_int_equal (((JqEnded *) many->pdata[203])->finished.number, 204);
  assert_int_equal (((JqEnded *) many->pdata[4])->finished.number, 5);
}

/* Prunes what is older than @days days, runs the loop until the steps
 * are done, and says how many rows are left. */
static guint
rows_after_pruning (JqHistory *h, guint days)
{
  jq_history_prune_every_hour (h, days);
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
  g_autoptr (GArray) rows = jq_history_list (h, 5000, G_MAXSIZE);
  return rows->len;
}

/* Pruning deletes the journal's rows older than the days kept, in steps
 * on the loop. */
static void
test_prune (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqJournal) j = open_journal (f);
  gint64 now = g_get_real_time ();
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 1200; n++)
    {
      /* 1000 of them ended 3 days ago, 200 an hour ago. */
      gint64 ended = n <= 1000 ? now - 3 * G_TIME_SPAN_DAY
                               : now - G_TIME_SPAN_HOUR;
      JqFinished done = { .number = n, .argv = TASK ("t"),
                          .ended_us = ended };
      jq_journal_finish (j, &done);
    }
  assert_true (jq_journal_commit (j, NULL));
  g_autoptr (JqHistory) h = jq_history_new (j);
  assert_int_equal (rows_after_pruning (h, 2), 200);
}

/* 0 days keeps everything. */
static void
test_prune_zero_keeps (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqJournal) j = open_journal (f);
  journal_finish (j, 1, 1000, 0);
  g_autoptr (JqHistory) h = jq_history_new (j);
  assert_int_equal (rows_after_pruning (h, 0), 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cut_task),
    cmocka_unit_test (test_long_task_kept_cut),
    cmocka_unit_test (test_memory_bound),
    cmocka_unit_test (test_record_outlives_memory),
    cmocka_unit_test (test_gone),
    cmocka_unit_test_setup_teardown (test_falls_through_to_journal, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_seeded_at_start, setup, teardown),
    cmocka_unit_test_setup_teardown (test_catches_up_after_a_change_elsewhere,
                                     setup, teardown),
    cmocka_unit_test_setup_teardown (test_prune, setup, teardown),
    cmocka_unit_test_setup_teardown (test_prune_zero_keeps, setup,
                                     teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
