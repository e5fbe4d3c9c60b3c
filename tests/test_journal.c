/* Tests of the journal against a temporary database: what is written comes
 * back, bad files are refused and left untouched, history is pruned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <string.h>

#include "error.h"
#include "journal.h"

#include <sqlite3.h>
#include <stdlib.h>

typedef struct {
  char *dir;
  char *path;
} Fixture;

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->dir = g_dir_make_tmp ("jqjournal-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "jobqueue", "queue.db", NULL);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
  g_assert_true (system (cmd) == 0);
  g_free (f->dir);
  g_free (f->path);
  g_free (f);
  return 0;
}

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct {
  GPtrArray *jobs;      /* JqJob refs in load order */
  GArray    *running;   /* gboolean per job */
} Loaded;

/* How many history rows there are (the store has no count: only this
 * test wants one). */
static guint
history_rows (JqJournal *j)
{
  g_autoptr (GArray) rows = jq_journal_history (j, G_MAXUINT, G_MAXSIZE);
  return rows->len;
}

static int last_pid;

static void
collect (JqJob *job, gboolean was_running, int pid, gint64 started_us,
         gpointer user_data)
{
  if (was_running)
    last_pid = pid;
  Loaded *l = user_data;
  g_ptr_array_add (l->jobs, jq_job_ref (job));
  g_array_append_val (l->running, was_running);
}

static Loaded
load (JqJournal *j, guint64 *next)
{
  Loaded l = { g_ptr_array_new_with_free_func ((GDestroyNotify) jq_job_unref),
               g_array_new (FALSE, FALSE, sizeof (gboolean)) };
  g_autoptr (GError) error = NULL;
  assert_true (jq_journal_load (j, collect, &l, next, &error));
  return l;
}

static void
loaded_free (Loaded *l)
{
  g_ptr_array_unref (l->jobs);
  g_array_unref (l->running);
}

static JqJournal *
open_ok (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  JqJournal *j = jq_journal_open (f->path, JQ_DURABILITY_FULL, &error);
  if (j == NULL)
    fail_msg ("%s", error->message);
  return j;
}

static void
test_round_trip (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) a = jq_job_new (1, 5, TASK ("bots-engine", "-cconfig"),
                                    111);
  g_autoptr (JqJob) b = jq_job_new (2, 3, TASK ("odd", "a\nb", "", "'\""),
                                    222);
  g_autoptr (JqJob) c = jq_job_new (3, 9, TASK ("c"), 333);

  jq_journal_begin (j);
  jq_journal_add (j, a);
  jq_journal_add (j, b);
  jq_journal_add (j, c);
  jq_journal_set_next_number (j, 4);
  jq_journal_set_priority (j, 3, 1);
  jq_journal_start (j, 1, 1000, 4242);
  assert_true (jq_journal_commit (j, NULL));
  jq_journal_close (j);

  j = open_ok (f);
  guint64 next = 0;
  Loaded l = load (j, &next);
  assert_int_equal (next, 4);
  assert_int_equal (l.jobs->len, 3);
  JqJob *la = l.jobs->pdata[0], *lb = l.jobs->pdata[1], *lc = l.jobs->pdata[2];
  assert_true (g_array_index (l.running, gboolean, 0));
  assert_false (g_array_index (l.running, gboolean, 1));
  assert_true (g_strv_equal (jq_job_get_argv (la), jq_job_get_argv (a)));
  assert_true (g_strv_equal (jq_job_get_argv (lb), jq_job_get_argv (b)));
  assert_int_equal (jq_job_get_queued_us (lb), 222);
  assert_int_equal (jq_job_get_priority (lc), 1);
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_remove_clear_finish (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  for (guint64 n = 1; n <= 5; n++)
    {
      g_autofree char *name = g_strdup_printf ("t%" G_GUINT64_FORMAT, n);
      g_autoptr (JqJob) job = jq_job_new (n, 5, TASK (name), 0);
      jq_journal_add (j, job);      /* outside a batch: own commit */
    }
  jq_journal_start (j, 1, 10, 1);
  jq_journal_remove (j, 2);
  JqFinished done = { .number = 1, .priority = 5, .argv = TASK ("t1"),
                      .queued_us = 0, .started_us = 10, .ended_us = 20,
                      .exit_code = -15, .term_signal = 15,
                      .hit_maxruntime = TRUE };
  jq_journal_finish (j, &done);
  jq_journal_clear_waiting (j);
  guint64 next = 0;
  Loaded l = load (j, &next);
  assert_int_equal (l.jobs->len, 0);
  /* Without a recorded next number, it follows the highest job seen. */
  assert_int_equal (next, 1);
  assert_int_equal (history_rows (j), 1);
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_requeue_at_head_survives (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) job = jq_job_new (7, 5, TASK ("x"), 0);
  jq_journal_add (j, job);
  jq_journal_start (j, 7, 1, 99);
  jq_journal_requeue_at_head (j, 7);
  guint64 next;
  last_pid = 0;
  Loaded l = load (j, &next);
  /* Still reported as "to run first" on the next load, with the pid it had
   * (its process may still be running). */
  assert_true (g_array_index (l.running, gboolean, 0));
  assert_int_equal (last_pid, 99);
  assert_int_equal (next, 8);
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_flags (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  assert_false (jq_journal_get_flag (j, "paused"));
  jq_journal_set_flag (j, "paused", TRUE);
  jq_journal_close (j);
  j = open_ok (f);
  assert_true (jq_journal_get_flag (j, "paused"));
  jq_journal_close (j);
}

static void
test_prune_history (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 1200; n++)
    {
      JqFinished done = { .number = n, .priority = 5, .argv = TASK ("t"),
                          .ended_us = (gint64) n * 1000 };
      jq_journal_finish (j, &done);
    }
  assert_true (jq_journal_commit (j, NULL));
  assert_int_equal (jq_journal_prune_history (j, 1001 * 1000, 500), 500);
  assert_int_equal (jq_journal_prune_history (j, 1001 * 1000, 500), 500);
  assert_int_equal (jq_journal_prune_history (j, 1001 * 1000, 500), 0);
  assert_int_equal (history_rows (j), 200);
  jq_journal_close (j);
}

/* history's rows stop at a byte budget (issue 12: history(60000) of 2 KB
 * tasks grew the server past 550 MB), newest first, one row at least. */
static void
test_history_byte_cap (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  g_autofree char *big = g_strnfill (2000, 'x');
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 100; n++)
    {
      JqFinished done = { .number = n, .priority = 5,
                          .argv = TASK ("bots-engine", big),
                          .ended_us = (gint64) n * 1000 };
      jq_journal_finish (j, &done);
    }
  assert_true (jq_journal_commit (j, NULL));
  GArray *rows = jq_journal_history (j, 100, 20 * 2100);
  assert_true (rows->len >= 18 && rows->len <= 20);
  assert_int_equal (g_array_index (rows, JqFinished, 0).number, 100);
  g_array_unref (rows);
  rows = jq_journal_history (j, 100, 10);
  assert_int_equal (rows->len, 1);
  g_array_unref (rows);
  rows = jq_journal_history (j, 100, G_MAXSIZE);
  assert_int_equal (rows->len, 100);
  g_array_unref (rows);
  jq_journal_close (j);
}

static void
write_file (const char *path, const char *data, gsize len)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0755);
  assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
}

static void
assert_refused_untouched (Fixture *f, const char *needle)
{
  g_autofree char *before = NULL, *after = NULL;
  gsize before_len, after_len;
  g_autoptr (GError) error = NULL;

  assert_true (g_file_get_contents (f->path, &before, &before_len, NULL));
  assert_null (jq_journal_open (f->path, JQ_DURABILITY_FULL, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_JOURNAL));
  if (strstr (error->message, needle) == NULL)
    fail_msg ("\"%s\" lacks \"%s\"", error->message, needle);
  assert_non_null (strstr (error->message, f->path));
  assert_true (g_file_get_contents (f->path, &after, &after_len, NULL));
  assert_int_equal (before_len, after_len);
  assert_memory_equal (before, after, before_len);
}

static void
test_not_a_database (void **state)
{
  Fixture *f = *state;
  g_autofree char *junk = g_strnfill (8192, 'x');
  write_file (f->path, junk, 8192);
  assert_refused_untouched (f, "not an SQLite database");
}

static void
test_corrupt_database (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  for (guint64 n = 1; n <= 2000; n++)
    {
      g_autofree char *name = g_strdup_printf ("task-%" G_GUINT64_FORMAT, n);
      g_autoptr (JqJob) job = jq_job_new (n, 5, TASK (name, "padding-to-"
                                          "fill-pages-of-the-table"), 0);
      jq_journal_begin (j);
      jq_journal_add (j, job);
      jq_journal_commit (j, NULL);
    }
  jq_journal_close (j);   /* checkpoints the WAL into the main file */

  g_autofree char *data = NULL;
  gsize len;
  assert_true (g_file_get_contents (f->path, &data, &len, NULL));
  assert_true (len > 3 * 4096);
  /* Scribble over the middle of the table's pages, keep the header. */
  memset (data + 2 * 4096, 0xA5, len - 3 * 4096);
  write_file (f->path, data, len);
  assert_refused_untouched (f, "damaged");
}

static void
test_other_sqlite_database (void **state)
{
  Fixture *f = *state;
  sqlite3 *db;  /* a database of somebody else's */
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_mkdir_with_parents (dir, 0755);
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  assert_int_equal (sqlite3_exec (db, "CREATE TABLE t (x); INSERT INTO t "
                                  "VALUES (1);", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close (db);
  assert_refused_untouched (f, "not a bots-jobqueue journal");
}

static void
test_newer_version (void **state)
{
  Fixture *f = *state;
  jq_journal_close (open_ok (f));
  sqlite3 *db;
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL);
  sqlite3_close (db);
  assert_refused_untouched (f, "newer bots-jobqueue");
}

/* The formats this code must read, from files the version that wrote them
 * made (tests/data/journal-vN.sql): every job, its state, the history,
 * the settings and the queue's identity come back. */
static void
test_stored_version_1 (void **state)
{
  Fixture *f = *state;
  g_autofree char *sql = NULL;
  assert_true (g_file_get_contents (SRCDIR "/tests/data/journal-v1.sql",
                                    &sql, NULL, NULL));
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_mkdir_with_parents (dir, 0755);
  sqlite3 *db;
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  assert_int_equal (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close (db);

  JqJournal *j = open_ok (f);
  assert_true (jq_journal_get_queue_id (j) == 2579472606699654187u);
  assert_true (jq_journal_get_flag (j, "paused"));
  guint64 next = 0;
  Loaded l = load (j, &next);
  assert_int_equal (next, 7);
  assert_int_equal (l.jobs->len, 3);
  assert_true (g_array_index (l.running, gboolean, 0));   /* job 1 ran */
  assert_false (g_array_index (l.running, gboolean, 1));
  assert_true (g_strv_equal (jq_job_get_argv (l.jobs->pdata[1]),
                             TASK ("bots-engine", "a\nb", "", "'\"")));
  assert_int_equal (jq_job_get_priority (l.jobs->pdata[2]), 9);
  loaded_free (&l);

  g_autoptr (GArray) rows = jq_journal_history (j, 10, G_MAXSIZE);
  assert_int_equal (rows->len, 2);
  JqFinished *nostart = &g_array_index (rows, JqFinished, 0);
  JqFinished *killed = &g_array_index (rows, JqFinished, 1);
  assert_int_equal (nostart->number, 5);
  assert_string_equal (nostart->start_error, "no such file");
  assert_int_equal (nostart->started_us, 0);
  assert_int_equal (killed->number, 4);
  assert_int_equal (killed->exit_code, -9);
  assert_int_equal (killed->term_signal, 9);
  assert_true (killed->hit_maxruntime);
  assert_true (killed->ended_us - killed->started_us == 3000000);
  g_autoptr (JqFinished) found = jq_journal_find_finished (j, 4);
  assert_non_null (found);
  assert_string_equal (found->argv[1], "--done");
  assert_null (jq_journal_find_finished (j, 1));   /* still queued */
  jq_journal_close (j);
}

/* Builds the journal at @f->path from tests/data/@name. */
static void
restore_dump (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (SRCDIR, "tests", "data", name,
                                            NULL);
  g_autofree char *sql = NULL;
  assert_true (g_file_get_contents (path, &sql, NULL, NULL));
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_mkdir_with_parents (dir, 0755);
  sqlite3 *db;
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  assert_int_equal (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close (db);
}

/* Format 2: each job's owner comes back; a format 1 file's jobs have
 * none, and the file takes owners from then on. */
static void
test_stored_version_2 (void **state)
{
  Fixture *f = *state;
  restore_dump (f, "journal-v2.sql");
  JqJournal *j = open_ok (f);
  guint64 next = 0;
  Loaded l = load (j, &next);
  assert_int_equal (next, 4);
  assert_int_equal (l.jobs->len, 2);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[0]), 1001);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[1]), 0);
  assert_true (g_strv_equal (jq_job_get_argv (l.jobs->pdata[0]),
                             TASK ("bots-engine", "a\nb", "", "'\"")));
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_version_1_upgraded (void **state)
{
  Fixture *f = *state;
  restore_dump (f, "journal-v1.sql");
  JqJournal *j = open_ok (f);
  guint64 next = 0;
  Loaded l = load (j, &next);
  for (guint i = 0; i < l.jobs->len; i++)
    assert_int_equal (jq_job_get_owner (l.jobs->pdata[i]), JQ_JOB_NO_OWNER);
  loaded_free (&l);
  g_autoptr (JqJob) job = jq_job_new (next, 5, TASK ("bots-engine", "-cx"),
                                      1);
  jq_job_set_owner (job, 4242);
  jq_journal_begin (j);
  jq_journal_add (j, job);
  assert_true (jq_journal_commit (j, NULL));
  jq_journal_close (j);

  j = open_ok (f);
  l = load (j, &next);
  assert_int_equal (l.jobs->len, 4);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[3]), 4242);
  loaded_free (&l);
  sqlite3 *db;
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &st, NULL);
  assert_int_equal (sqlite3_step (st), SQLITE_ROW);
  assert_int_equal (sqlite3_column_int (st, 0), 2);
  sqlite3_finalize (st);
  sqlite3_close (db);
  jq_journal_close (j);
}

static void
test_locked (void **state)
{
  Fixture *f = *state;
  jq_journal_close (open_ok (f));
  sqlite3 *db;
  assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
  assert_int_equal (sqlite3_exec (db, "PRAGMA locking_mode = EXCLUSIVE; "
                                  "BEGIN EXCLUSIVE;", NULL, NULL, NULL),
                    SQLITE_OK);
  g_autoptr (GError) error = NULL;
  assert_null (jq_journal_open (f->path, JQ_DURABILITY_FULL, &error));
  assert_non_null (strstr (error->message, "lock"));
  sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close (db);
}

static int failures;

static void
on_failed (const GError *error, gpointer user_data)
{
  failures++;
}

static void
test_failed_write_reported (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) job = jq_job_new (1, 5, TASK ("a"), 0);
  g_autoptr (GError) error = NULL;
  failures = 0;
  jq_journal_set_failure_handler (j, on_failed, NULL);
  jq_journal_add (j, job);
  jq_journal_begin (j);
  jq_journal_add (j, job);        /* same number twice: the write fails */
  assert_false (jq_journal_commit (j, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_JOURNAL));
  assert_int_equal (failures, 1);
  jq_journal_close (j);
}

static void
test_broken_after_failure (void **state)
{
  /* Memory and disk parted at the first failure: later commits fail too,
   * and write nothing, even when the write itself would work. */
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) one = jq_job_new (1, 5, TASK ("a"), 0);
  g_autoptr (JqJob) two = jq_job_new (2, 5, TASK ("b"), 0);
  failures = 0;
  jq_journal_set_failure_handler (j, on_failed, NULL);
  jq_journal_add (j, one);
  jq_journal_begin (j);
  jq_journal_add (j, one);        /* fails */
  assert_false (jq_journal_commit (j, NULL));
  g_autoptr (GError) error = NULL;
  jq_journal_begin (j);
  jq_journal_add (j, two);        /* would work */
  assert_false (jq_journal_commit (j, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_JOURNAL));
  assert_int_equal (failures, 1);   /* reported once */
  jq_journal_close (j);

  j = open_ok (f);
  guint64 next = 0;
  Loaded loaded = load (j, &next);
  assert_int_equal (loaded.jobs->len, 1);   /* job 2 was never written */
  loaded_free (&loaded);
  jq_journal_close (j);
}

static void
check_moved_away (Fixture *f, gboolean replace)
{
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) one = jq_job_new (1, 5, TASK ("a"), 0);
  g_autoptr (JqJob) two = jq_job_new (2, 5, TASK ("b"), 0);
  jq_journal_add (j, one);
  g_autofree char *moved = g_strconcat (f->path, ".moved", NULL);
  assert_int_equal (rename (f->path, moved), 0);
  if (replace)
    {
      g_autofree char *text = NULL;
      gsize len = 0;
      assert_true (g_file_get_contents (moved, &text, &len, NULL));
      assert_true (g_file_set_contents (f->path, text, len, NULL));
    }
  g_autoptr (GError) error = NULL;
  failures = 0;
  jq_journal_set_failure_handler (j, on_failed, NULL);
  jq_journal_begin (j);
  jq_journal_add (j, two);
  assert_false (jq_journal_commit (j, &error));
  assert_non_null (strstr (error->message, "deleted or replaced"));
  assert_int_equal (failures, 1);
  jq_journal_close (j);
}

static void
test_deleted_under_us (void **state)
{
  check_moved_away (*state, FALSE);
}

static void
test_replaced_under_us (void **state)
{
  check_moved_away (*state, TRUE);
}

/* ------------------------------------------------ syncs, counted */

/* A VFS that is the default one with every file's xSync counted: what a
 * commit waits for the disk is what this counts. */
static sqlite3_vfs count_vfs;
/* Each kind of file has methods of its own: each is copied once, with
 * its xSync counted. */
#define N_KINDS 4
static const sqlite3_io_methods *real_methods[N_KINDS];
static sqlite3_io_methods counted_methods[N_KINDS];
static guint syncs;
/* Pages written into the WAL (a frame is its header and its page). */
static sqlite3_file *wal_file;
static guint wal_pages;

static int
count_sync (sqlite3_file *file, int flags)
{
  syncs++;
  for (int i = 0; i < N_KINDS; i++)
    if (file->pMethods == &counted_methods[i])
      return real_methods[i]->xSync (file, flags);
  return SQLITE_IOERR_FSYNC;
}

static int
count_write (sqlite3_file *file, const void *data, int amount,
             sqlite3_int64 offset)
{
  if (file == wal_file && amount == 4096)
    wal_pages++;
  for (int i = 0; i < N_KINDS; i++)
    if (file->pMethods == &counted_methods[i])
      return real_methods[i]->xWrite (file, data, amount, offset);
  return SQLITE_IOERR_WRITE;
}

static int
count_open (sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
            int flags, int *out_flags)
{
  sqlite3_vfs *real = vfs->pAppData;
  int rc = real->xOpen (real, name, file, flags, out_flags);
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL))
    wal_file = file;
  for (int i = 0; rc == SQLITE_OK && file->pMethods != NULL && i < N_KINDS;
       i++)
    {
      if (real_methods[i] == NULL)
        {
          real_methods[i] = file->pMethods;
          counted_methods[i] = *file->pMethods;
          counted_methods[i].xSync = count_sync;
          counted_methods[i].xWrite = count_write;
        }
      if (file->pMethods == real_methods[i])
        {
          file->pMethods = &counted_methods[i];
          break;
        }
    }
  return rc;
}

static void
count_syncs (gboolean on)
{
  if (!on)
    {
      sqlite3_vfs_unregister (&count_vfs);
      sqlite3_vfs_register (count_vfs.pAppData, 1);
      return;
    }
  sqlite3_vfs *real = sqlite3_vfs_find (NULL);
  count_vfs = *real;
  count_vfs.zName = "jq-count-syncs";
  count_vfs.pAppData = real;
  count_vfs.xOpen = count_open;
  assert_int_equal (sqlite3_vfs_register (&count_vfs, 1), SQLITE_OK);
}

/* The held launch's regression (doc/performance.md): a job added into a
 * free slot was started in a second transaction, with a second sync.  A
 * commit of job moves waits for no sync, yet is in the file at once (a
 * kill of the server loses nothing); it is synced with the next commit
 * of a call, or by a timer within JQ_JOURNAL_SYNC_MS. */
static void
test_moves_commit_without_sync (void **state)
{
  Fixture *f = *state;
  count_syncs (TRUE);
  JqJournal *j = open_ok (f);
  g_autoptr (JqJob) a = jq_job_new (1, 5, TASK ("a"), 1);
  g_autoptr (JqJob) b = jq_job_new (2, 5, TASK ("b"), 2);

  /* The first write into a new WAL also syncs its header. */
  jq_journal_set_next_number (j, 1);
  guint before = syncs;
  jq_journal_begin (j);
  jq_journal_add (j, a);
  assert_true (jq_journal_commit (j, NULL));
  assert_int_equal (syncs, before + 1);      /* a call's change: synced */

  before = syncs;
  jq_journal_begin (j);
  jq_journal_start (j, 1, 1000, 4242);
  assert_true (jq_journal_commit_moves (j, NULL));
  assert_int_equal (syncs, before);          /* a move: not waited for */

  /* Yet it is in the file: another connection reads it. */
  sqlite3 *other = NULL;
  assert_int_equal (sqlite3_open (f->path, &other), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal (sqlite3_prepare_v2 (other, "SELECT count(*) FROM jobs "
                                        "WHERE state = 'running'", -1, &st,
                                        NULL), SQLITE_OK);
  assert_int_equal (sqlite3_step (st), SQLITE_ROW);
  assert_int_equal (sqlite3_column_int (st, 0), 1);
  sqlite3_finalize (st);
  sqlite3_close (other);

  /* The timer syncs it, once. */
  while (syncs == before)
    g_main_context_iteration (NULL, TRUE);
  assert_int_equal (syncs, before + 1);

  /* A call's commit after a move syncs both at once. */
  jq_journal_begin (j);
  jq_journal_finish (j, &(JqFinished) { .number = 1, .priority = 5,
                                        .argv = TASK ("a"),
                                        .ended_us = 2000 });
  assert_true (jq_journal_commit_moves (j, NULL));
  before = syncs;
  jq_journal_begin (j);
  jq_journal_add (j, b);
  assert_true (jq_journal_commit (j, NULL));
  assert_int_equal (syncs, before + 1);

  /* Nested in a call's transaction, the call's commit decides. */
  before = syncs;
  jq_journal_begin (j);
  jq_journal_begin (j);
  jq_journal_start (j, 2, 3000, 4343);
  assert_true (jq_journal_commit_moves (j, NULL));
  jq_journal_set_next_number (j, 3);
  assert_true (jq_journal_commit (j, NULL));
  assert_int_equal (syncs, before + 1);
  jq_journal_close (j);
  count_syncs (FALSE);
}

/* An add's commit writes the job's page and nothing else: the next
 * number is not rewritten at each add (two pages more, the meta table's
 * and its index's: three WAL frames to sync instead of one, issue 23),
 * yet comes back after a reopen from the highest job. */
static void
test_add_writes_one_page (void **state)
{
  Fixture *f = *state;
  count_syncs (TRUE);
  JqJournal *j = open_ok (f);
  for (guint64 n = 1; n <= 20; n++)
    {
      g_autofree char *name = g_strdup_printf ("job-%" G_GUINT64_FORMAT, n);
      g_autoptr (JqJob) job = jq_job_new (n, 5, TASK ("a", name), n);
      guint before = wal_pages;
      jq_journal_begin (j);
      jq_journal_add (j, job);
      jq_journal_set_next_number (j, n + 1);
      assert_true (jq_journal_commit (j, NULL));
      if (n > 1)        /* the first also writes the tables' first pages */
        assert_int_equal (wal_pages - before, 1);
    }
  jq_journal_close (j);
  count_syncs (FALSE);
  j = open_ok (f);
  guint64 next = 0;
  Loaded l = load (j, &next);
  assert_int_equal (l.jobs->len, 20);
  assert_int_equal (next, 21);
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_durability_names (void **state)
{
  JqDurability d;
  assert_true (jq_durability_parse ("Full", &d));
  assert_int_equal (d, JQ_DURABILITY_FULL);
  assert_true (jq_durability_parse (" fast ", &d));
  assert_int_equal (d, JQ_DURABILITY_FAST);
  assert_true (jq_durability_parse ("NONE", &d));
  assert_int_equal (d, JQ_DURABILITY_NONE);
  assert_false (jq_durability_parse ("safe", &d));
}

static void
test_queue_id_is_kept (void **state)
{
  Fixture *f = *state;
  JqJournal *j = open_ok (f);
  guint64 id = jq_journal_get_queue_id (j);
  jq_journal_close (j);
  j = open_ok (f);
  assert_true (id != 0);
  assert_true (id == jq_journal_get_queue_id (j));
  jq_journal_close (j);
  /* another journal is another queue */
  g_autofree char *other = g_strconcat (f->path, "-other", NULL);
  j = jq_journal_open (other, JQ_DURABILITY_NONE, NULL);
  assert_non_null (j);
  assert_true (jq_journal_get_queue_id (j) != id);
  jq_journal_close (j);
  /* durability "none": a queue of its own too */
  j = jq_journal_open_none ();
  assert_true (jq_journal_get_queue_id (j) != 0);
  assert_true (jq_journal_get_queue_id (j) != id);
  jq_journal_close (j);
  assert_true (jq_journal_new_queue_id () != 0);
}

int
main (void)
{
  /* The lock test waits this long for the lock, not the server's 2 s. */
  jq_journal_set_busy_timeout (50);
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_round_trip),
    T (test_remove_clear_finish),
    T (test_requeue_at_head_survives),
    T (test_flags),
    T (test_prune_history),
    T (test_history_byte_cap),
    T (test_not_a_database),
    T (test_corrupt_database),
    T (test_other_sqlite_database),
    T (test_newer_version),
    T (test_stored_version_1),
    T (test_stored_version_2),
    T (test_version_1_upgraded),
    T (test_locked),
    T (test_failed_write_reported),
    T (test_broken_after_failure),
    T (test_deleted_under_us),
    T (test_replaced_under_us),
    T (test_queue_id_is_kept),
    T (test_moves_commit_without_sync),
    T (test_add_writes_one_page),
    cmocka_unit_test (test_durability_names),
  };
  return cmocka_run_group_tests_name ("journal", tests, NULL, NULL);
}
