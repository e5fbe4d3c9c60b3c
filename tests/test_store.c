/* One contract for every store of the journal (store.h): the same tests
 * run on SQLite, on the null store of durability "none", and on
 * PostgreSQL when JQ_TEST_PG_CONNINFO names a database to use (make
 * check's tests/integration/test_store.py starts a throwaway server and
 * sets it; without it the PostgreSQL runs are skipped, and say so).
 * What differs between stores is only what their kind says: whether
 * they keep anything (durable), whether a failed commit is for good
 * (can_recover), whether other servers share them (shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "build-config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "journal.h"
#include "log.h"
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#include "pgconn.h"
#include "store-pg.h"
#endif

typedef struct _Fixture Fixture;

typedef struct {
  const char *name;
  gboolean    durable;
  gboolean    shared;
  gboolean    can_recover;
  /* The same store again at each call (a new one for "none"). */
  JqJournal *(*open) (Fixture *f);
  gboolean   (*prepare) (Fixture *f);   /* nullable; FALSE: skip */
} Kind;

struct _Fixture {
  const Kind *kind;
  char       *dir;
  char       *path;
  JqLog      *log;
};

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

static JqJournal *
open_sqlite (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  JqJournal *j = jq_journal_open (f->path, JQ_DURABILITY_FAST, &error);
  assert_non_null (j);
  return j;
}

static JqJournal *
open_none (Fixture *f)
{
  return jq_journal_open_none ();
}

#ifdef HAVE_LIBPQ
/* Runs @sql on the test database; NULL when it worked, else why. */
static char *
pg_exec (const char *sql)
{
  PGconn *conn = jq_pgconn_connect (g_getenv ("JQ_TEST_PG_CONNINFO"),
                                    "test_store", 4000);
  PGresult *r = PQexec (conn, sql);
  char *why = PQresultStatus (r) == PGRES_COMMAND_OK
              || PQresultStatus (r) == PGRES_TUPLES_OK
              ? NULL : g_strdup (PQerrorMessage (conn));
  PQclear (r);
  PQfinish (conn);
  return why;
}

/* The first value of @sql's answer, as text. */
static char *
pg_value (const char *sql)
{
  PGconn *conn = jq_pgconn_connect (g_getenv ("JQ_TEST_PG_CONNINFO"),
                                    "test_store", 4000);
  PGresult *r = PQexec (conn, sql);
  char *value = PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) > 0
                ? g_strdup (PQgetvalue (r, 0, 0)) : NULL;
  PQclear (r);
  PQfinish (conn);
  return value;
}

static gboolean
prepare_pg (Fixture *f)
{
  if (g_getenv ("JQ_TEST_PG_CONNINFO") == NULL)
    {
      static gboolean said;
      if (!said)
        fprintf (stderr, "test_store: JQ_TEST_PG_CONNINFO is not set: the "
                 "PostgreSQL store is not tested here (make check runs it "
                 "through tests/integration/test_store.py)\n");
      said = TRUE;
      return FALSE;
    }
  g_autofree char *why = pg_exec ("SET client_min_messages = warning; "
                                  "DROP SCHEMA IF EXISTS bots_jobqueue "
                                  "CASCADE");
  if (why != NULL)
    fail_msg ("cannot reset the test database: %s", why);
  return TRUE;
}

static JqJournal *
open_pg (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  JqJournal *j = jq_store_pg_open (g_getenv ("JQ_TEST_PG_CONNINFO"),
                                   "test-member", 4000, f->log, &error);
  if (j == NULL)
    fail_msg ("%s", error->message);
  return j;
}
#endif

static const Kind sqlite_kind = { "sqlite", TRUE, FALSE, FALSE, open_sqlite,
                                  NULL };
static const Kind none_kind = { "none", FALSE, FALSE, FALSE, open_none,
                                NULL };
#ifdef HAVE_LIBPQ
static const Kind pg_kind = { "postgresql", TRUE, TRUE, TRUE, open_pg,
                              prepare_pg };
#endif

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->kind = *state;
  f->dir = g_dir_make_tmp ("jqstore-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "jobqueue", "queue.db", NULL);
  f->log = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
  g_assert_true (system (cmd) == 0);
  jq_log_free (f->log);
  g_free (f->dir);
  g_free (f->path);
  g_free (f);
  return 0;
}

/* The fixture's store, opened; skips the test when it cannot run here. */
static JqJournal *
start (Fixture *f)
{
  if (f->kind->prepare != NULL && !f->kind->prepare (f))
    skip ();
  return f->kind->open (f);
}

typedef struct {
  GPtrArray *jobs;      /* JqJob refs in load order */
  GArray    *running;   /* gboolean per job */
  GArray    *pids;      /* int per job */
  GArray    *started;   /* gint64 per job */
  guint64    next;
} Loaded;

static void
collect (JqJob *job, gboolean was_running, int pid, gint64 started_us,
         gpointer data)
{
  Loaded *l = data;
  g_ptr_array_add (l->jobs, jq_job_ref (job));
  g_array_append_val (l->running, was_running);
  g_array_append_val (l->pids, pid);
  g_array_append_val (l->started, started_us);
}

static Loaded
load (JqJournal *j)
{
  Loaded l = {
    g_ptr_array_new_with_free_func ((GDestroyNotify) jq_job_unref),
    g_array_new (FALSE, FALSE, sizeof (gboolean)),
    g_array_new (FALSE, FALSE, sizeof (int)),
    g_array_new (FALSE, FALSE, sizeof (gint64)), 0,
  };
  jq_journal_begin (j);
  assert_true (jq_journal_load (j, collect, &l, &l.next, NULL));
  assert_true (jq_journal_commit (j, NULL));
  return l;
}

static void
loaded_free (Loaded *l)
{
  g_ptr_array_unref (l->jobs);
  g_array_unref (l->running);
  g_array_unref (l->pids);
  g_array_unref (l->started);
}

/* The same store, closed and opened again: what it kept. */
static Loaded
reload (Fixture *f, JqJournal **j)
{
  jq_journal_close (*j);
  *j = f->kind->open (f);
  return load (*j);
}

static guint64
number_at (Loaded *l, guint i)
{
  return jq_job_get_number (l->jobs->pdata[i]);
}

/* Adds job @number with @argv at @priority, in the open transaction. */
static void
add (JqJournal *j, guint64 number, int priority, const char *const *argv)
{
  g_autoptr (JqJob) job = jq_job_new (number, priority, argv,
                                      1700000000000000 + number);
  jq_journal_add (j, job);
}

static void
test_kind (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  assert_string_equal (jq_journal_get_kind (j), f->kind->name);
  assert_int_equal (jq_journal_is_durable (j), f->kind->durable);
  assert_int_equal (jq_journal_is_shared (j), f->kind->shared);
  assert_int_equal (jq_journal_can_recover (j), f->kind->can_recover);
  assert_non_null (jq_journal_get_path (j));
  assert_true (jq_journal_is_healthy (j));
  jq_journal_close (j);
}

/* Jobs come back in number order, with their exact argv, the running one
 * with its pid and start; the next number as set. */
static void
test_round_trip (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  add (j, 1, 5, TASK ("bots-engine", "-cconfig"));
  add (j, 2, 3, TASK ("bots-engine", "a\nb", "", "'\"", "\xff\xfe"));
  add (j, 3, 9, TASK ("bots-engine", "--new"));
  jq_journal_set_next_number (j, 4);
  jq_journal_start (j, 1, 1700000000100000, 4242);
  assert_true (jq_journal_commit (j, NULL));

  Loaded l = reload (f, &j);
  if (!f->kind->durable)
    {
      assert_int_equal (l.jobs->len, 0);
      assert_int_equal (l.next, 1);
      loaded_free (&l);
      jq_journal_close (j);
      return;
    }
  assert_int_equal (l.jobs->len, 3);
  assert_int_equal (l.next, 4);
  assert_int_equal (number_at (&l, 0), 1);
  assert_true (g_array_index (l.running, gboolean, 0));
  assert_int_equal (g_array_index (l.pids, int, 0), 4242);
  assert_true (g_array_index (l.started, gint64, 0) == 1700000000100000);
  assert_false (g_array_index (l.running, gboolean, 1));
  assert_true (g_strv_equal (jq_job_get_argv (l.jobs->pdata[1]),
                             TASK ("bots-engine", "a\nb", "", "'\"",
                                   "\xff\xfe")));
  assert_int_equal (jq_job_get_priority (l.jobs->pdata[1]), 3);
  assert_true (jq_job_get_queued_us (l.jobs->pdata[2]) == 1700000000000003);
  loaded_free (&l);
  jq_journal_close (j);
}

/* Each job's owner, the uid that queued it, comes back: root (0) as
 * root, and a job without one (a caller the kernel did not name, or a
 * journal older than owners) without one, never as root. */
static void
test_owners (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  const guint32 owners[] = { 1001, 0, JQ_JOB_NO_OWNER, 4294967294u };
  jq_journal_begin (j);
  for (guint i = 0; i < G_N_ELEMENTS (owners); i++)
    {
      g_autofree char *arg = g_strdup_printf ("%u", i);
      g_autoptr (JqJob) job = jq_job_new (i + 1, 5, TASK ("echo", arg), 1);
      jq_job_set_owner (job, owners[i]);
      jq_journal_add (j, job);
    }
  jq_journal_set_next_number (j, G_N_ELEMENTS (owners) + 1);
  assert_true (jq_journal_commit (j, NULL));
  Loaded l = reload (f, &j);
  assert_int_equal (l.jobs->len, f->kind->durable ? G_N_ELEMENTS (owners)
                                                  : 0);
  for (guint i = 0; i < l.jobs->len; i++)
    assert_int_equal (jq_job_get_owner (l.jobs->pdata[i]), owners[i]);
  loaded_free (&l);
  jq_journal_close (j);
}

/* A job a second caller asked for loses its owner (shared: admins only
 * steer it), and keeps none after a restart; the others keep theirs. */
static void
test_disown (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 2; n++)
    {
      g_autofree char *arg = g_strdup_printf ("%u", (guint) n);
      g_autoptr (JqJob) job = jq_job_new (n, 5, TASK ("echo", arg), 1);
      jq_job_set_owner (job, 1001);
      jq_journal_add (j, job);
    }
  jq_journal_set_next_number (j, 3);
  assert_true (jq_journal_commit (j, NULL));
  jq_journal_begin (j);
  jq_journal_disown (j, 1);
  jq_journal_disown (j, 99);    /* not there: nothing to do */
  assert_true (jq_journal_commit (j, NULL));
  Loaded l = reload (f, &j);
  assert_int_equal (l.jobs->len, f->kind->durable ? 2 : 0);
  if (f->kind->durable)
    {
      assert_int_equal (number_at (&l, 0), 1);
      assert_int_equal (jq_job_get_owner (l.jobs->pdata[0]),
                        JQ_JOB_NO_OWNER);
      assert_int_equal (jq_job_get_owner (l.jobs->pdata[1]), 1001);
    }
  loaded_free (&l);
  jq_journal_close (j);
}

/* Priority, removal, clearing the waiting ones, putting a job back first
 * of its priority (its pid kept until it starts again). */
static void
test_changes (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 4; n++)
    add (j, n, 5, TASK ("job", n == 1 ? "1" : n == 2 ? "2" : n == 3 ? "3"
                                                                : "4"));
  jq_journal_start (j, 1, 1000, 77);
  jq_journal_set_priority (j, 2, 1);
  jq_journal_remove (j, 3);
  assert_true (jq_journal_commit (j, NULL));
  jq_journal_begin (j);
  jq_journal_requeue_at_head (j, 1);
  assert_true (jq_journal_commit (j, NULL));

  Loaded l = reload (f, &j);
  if (f->kind->durable)
    {
      assert_int_equal (l.jobs->len, 3);
      assert_int_equal (number_at (&l, 0), 1);
      assert_true (g_array_index (l.running, gboolean, 0));  /* at head */
      assert_int_equal (g_array_index (l.pids, int, 0), 77);
      assert_int_equal (jq_job_get_priority (l.jobs->pdata[1]), 1);
      assert_int_equal (number_at (&l, 2), 4);
    }
  loaded_free (&l);

  /* clearing drops what waits, not what runs */
  jq_journal_begin (j);
  jq_journal_start (j, 1, 2000, 78);
  jq_journal_clear_waiting (j);
  assert_true (jq_journal_commit (j, NULL));
  l = reload (f, &j);
  assert_int_equal (l.jobs->len, f->kind->durable ? 1 : 0);
  loaded_free (&l);
  jq_journal_close (j);
}

static JqFinished
ended (guint64 number, const char *const *argv, int code, int sig)
{
  return (JqFinished) {
    .number = number, .priority = 5, .argv = argv,
    .queued_us = 1000 + number, .started_us = 2000 + number,
    .ended_us = 3000 + number, .exit_code = code, .term_signal = sig,
    .hit_maxruntime = sig != 0,
  };
}

/* A finished job leaves the queue for the history, newest first; one
 * that never started keeps its reason. */
static void
test_finish_and_history (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  add (j, 1, 5, TASK ("a"));
  add (j, 2, 5, TASK ("b", "x\ny"));
  add (j, 3, 5, TASK ("c"));
  JqFinished killed = ended (1, TASK ("a"), -9, 9);
  jq_journal_finish (j, &killed);
  JqFinished nostart = ended (2, TASK ("b", "x\ny"), 0, 0);
  nostart.started_us = 0;
  nostart.start_error = "no such file";
  jq_journal_finish (j, &nostart);
  assert_true (jq_journal_commit (j, NULL));

  Loaded l = reload (f, &j);
  assert_int_equal (l.jobs->len, f->kind->durable ? 1 : 0);
  loaded_free (&l);
  g_autoptr (GArray) rows = jq_journal_history (j, 10, G_MAXSIZE);
  g_autoptr (JqFinished) found = jq_journal_find_finished (j, 1);
  assert_null (jq_journal_find_finished (j, 3));     /* still queued */
  if (!f->kind->durable)
    {
      assert_int_equal (rows->len, 0);
      assert_null (found);
      jq_journal_close (j);
      return;
    }
  assert_int_equal (rows->len, 2);
  JqFinished *first = &g_array_index (rows, JqFinished, 0);
  assert_int_equal (first->number, 2);
  assert_string_equal (first->start_error, "no such file");
  assert_int_equal (first->started_us, 0);
  assert_true (g_strv_equal (first->argv, TASK ("b", "x\ny")));
  assert_non_null (found);
  assert_int_equal (found->exit_code, -9);
  assert_int_equal (found->term_signal, 9);
  assert_true (found->hit_maxruntime);
  assert_true (found->ended_us == 3001);
  assert_null (found->start_error);
  /* a byte budget stops after one row at least */
  g_autoptr (GArray) one = jq_journal_history (j, 10, 1);
  assert_int_equal (one->len, 1);
  jq_journal_close (j);
}

static void
test_prune_history (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 5; n++)
    {
      add (j, n, 5, TASK ("a", n == 1 ? "1" : n == 2 ? "2" : n == 3 ? "3"
                                       : n == 4 ? "4" : "5"));
      JqFinished e = ended (n, TASK ("a"), 0, 0);
      jq_journal_finish (j, &e);
    }
  assert_int_equal (jq_journal_prune_history (j, 3004, 10), 0); /* inside */
  assert_true (jq_journal_commit (j, NULL));
  guint expect = f->kind->durable ? 2 : 0;
  assert_int_equal (jq_journal_prune_history (j, 3004, 2), expect);
  assert_int_equal (jq_journal_prune_history (j, 3004, 2), expect / 2);
  g_autoptr (GArray) rows = jq_journal_history (j, 10, G_MAXSIZE);
  assert_int_equal (rows->len, f->kind->durable ? 2 : 0);
  jq_journal_close (j);
}

/* Numbers never go back: not below a job still recorded. */
static void
test_next_number_never_back (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  add (j, 7, 5, TASK ("a"));
  jq_journal_set_next_number (j, 3);
  assert_true (jq_journal_commit (j, NULL));
  Loaded l = reload (f, &j);
  assert_int_equal (l.next, f->kind->durable ? 8 : 1);
  loaded_free (&l);
  jq_journal_close (j);
}

/* A job's number is never given twice, whichever way the highest job
 * leaves the queue: removed, cleared with the waiting ones, or finished
 * and then pruned from the history (the SQLite store writes the next
 * number only then, not at each add: store-sqlite.c). */
static void
test_next_number_after_the_highest_leaves (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  for (int how = 0; how < 3; how++)
    {
      guint64 first = 1 + 3 * (guint64) how;
      jq_journal_begin (j);
      for (guint64 n = first; n < first + 3; n++)
        {
          add (j, n, 5, TASK ("a", how == 0 ? "r" : how == 1 ? "c" : "f",
                              n % 3 == 0 ? "0" : n % 3 == 1 ? "1" : "2"));
          jq_journal_set_next_number (j, n + 1);
        }
      assert_true (jq_journal_commit (j, NULL));
      jq_journal_begin (j);
      if (how == 0)
        {
          jq_journal_remove (j, first + 2);
          jq_journal_remove (j, first + 1);
          jq_journal_remove (j, first);
        }
      else if (how == 1)
        jq_journal_clear_waiting (j);
      else
        for (guint64 n = first; n < first + 3; n++)
          {
            JqFinished e = ended (n, TASK ("a"), 0, 0);
            jq_journal_finish (j, &e);
          }
      assert_true (jq_journal_commit (j, NULL));
      jq_journal_prune_history (j, G_MAXINT64, 100);
      Loaded l = reload (f, &j);
      assert_int_equal (l.jobs->len, 0);
      assert_int_equal (l.next, f->kind->durable ? first + 3 : 1);
      loaded_free (&l);
    }
  jq_journal_close (j);
}

/* ... and when it leaves after a restart, the job having been added
 * before it: the next number was then only in the job's row (an outside
 * test: stopped with its job running, started again, the job finished,
 * stopped; the next start gave the job's number again, pruned or not). */
static void
test_next_number_after_a_restart (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  for (guint64 n = 1; n <= 3; n++)
    {
      add (j, n, 5, TASK ("a", n == 1 ? "1" : n == 2 ? "2" : "3"));
      jq_journal_set_next_number (j, n + 1);
    }
  assert_true (jq_journal_commit (j, NULL));
  Loaded l = reload (f, &j);
  assert_int_equal (l.next, f->kind->durable ? 4 : 1);
  loaded_free (&l);
  jq_journal_begin (j);
  JqFinished e = ended (3, TASK ("a", "3"), 0, 0);
  jq_journal_finish (j, &e);
  jq_journal_remove (j, 2);
  jq_journal_remove (j, 1);
  assert_true (jq_journal_commit (j, NULL));
  jq_journal_prune_history (j, G_MAXINT64, 100);
  l = reload (f, &j);
  assert_int_equal (l.jobs->len, 0);
  assert_int_equal (l.next, f->kind->durable ? 4 : 1);
  loaded_free (&l);
  jq_journal_close (j);
}

static void
test_flags_and_identity (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  guint64 id = jq_journal_get_queue_id (j);
  assert_true (id != 0);
  jq_journal_set_flag (j, "paused", TRUE);      /* a lone write */
  assert_int_equal (jq_journal_get_flag (j, "paused"), f->kind->durable);
  jq_journal_close (j);
  j = f->kind->open (f);
  assert_int_equal (jq_journal_get_flag (j, "paused"), f->kind->durable);
  assert_int_equal (jq_journal_get_queue_id (j) == id, f->kind->durable);
  jq_journal_set_flag (j, "paused", FALSE);
  assert_false (jq_journal_get_flag (j, "paused"));
  jq_journal_close (j);
}

/* Only the outermost pair commits: an inner commit says nothing yet. */
static void
test_nesting (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  jq_journal_begin (j);
  jq_journal_begin (j);
  add (j, 1, 5, TASK ("a"));
  assert_true (jq_journal_commit (j, NULL));
  add (j, 2, 5, TASK ("b"));
  assert_true (jq_journal_commit (j, NULL));
  Loaded l = reload (f, &j);
  assert_int_equal (l.jobs->len, f->kind->durable ? 2 : 0);
  loaded_free (&l);
  jq_journal_close (j);
}

typedef struct {
  gboolean refuse;
  guint    failures;    /* failure handler calls */
} Policy;

static gboolean
guard (gpointer data, GError **error)
{
  Policy *p = data;
  if (p->refuse)
    g_set_error_literal (error, JQ_ERROR, JQ_ERROR_JOURNAL, "lock lost");
  return !p->refuse;
}

static void
failed (const GError *error, gpointer data)
{
  ((Policy *) data)->failures++;
}

/* A failed commit: for good on a store that cannot recover (the handler
 * hears once), that batch only on one that can (it hears each time). */
static void
test_failure_policy (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  Policy p = { TRUE, 0 };
  jq_journal_set_guard (j, guard, &p);
  jq_journal_set_failure_handler (j, failed, &p);
  g_autoptr (GError) error = NULL;
  jq_journal_begin (j);
  add (j, 1, 5, TASK ("a"));
  assert_false (jq_journal_commit (j, &error));
  assert_string_equal (error->message, "lock lost");
  assert_int_equal (p.failures, 1);
  assert_false (jq_journal_lost_a_move (j));

  p.refuse = FALSE;
  g_clear_error (&error);
  jq_journal_begin (j);
  add (j, 2, 5, TASK ("b"));
  jq_journal_start (j, 2, 1000, 1);
  gboolean ok = jq_journal_commit (j, &error);
  assert_int_equal (ok, f->kind->can_recover);
  assert_int_equal (jq_journal_is_healthy (j), f->kind->can_recover);
  if (!ok)
    assert_string_equal (error->message, "lock lost");   /* the first */
  assert_int_equal (p.failures, 1);
  /* the refused batch left nothing; the next one is kept when it could */
  Loaded l = reload (f, &j);
  gboolean kept = f->kind->durable && f->kind->can_recover;
  assert_int_equal (l.jobs->len, kept ? 1 : 0);
  if (kept)
    assert_int_equal (number_at (&l, 0), 2);
  loaded_free (&l);
  jq_journal_close (j);
}

/* A failed transaction that started a job says so (the cluster then
 * gives up the lead). */
static void
test_lost_a_move (void **state)
{
  Fixture *f = *state;
  JqJournal *j = start (f);
  Policy p = { TRUE, 0 };
  jq_journal_set_guard (j, guard, &p);
  jq_journal_begin (j);
  jq_journal_start (j, 1, 1000, 1);
  assert_false (jq_journal_commit (j, NULL));
  assert_true (jq_journal_lost_a_move (j));
  jq_journal_close (j);
}

#ifdef HAVE_LIBPQ
static gboolean pg_ready (Fixture *f);

static void
note_sync (JqSyncKind kind, guint64 number, JqJob *job, gboolean at_head,
           gpointer data)
{
  g_string_append_printf (data, "%s%" G_GUINT64_FORMAT,
                          kind == JQ_SYNC_WAITING ? "+" : "-", number);
  if (job != NULL && jq_job_get_owner (job) != JQ_JOB_NO_OWNER)
    g_string_append_printf (data, "@%u", jq_job_get_owner (job));
  g_string_append_c (data, ' ');
}

/* One store's batch: what changed elsewhere, read as the scheduler
 * reads it (its begin); "" when nothing did. */
static char *
pull (JqJournal *j, JqSyncState *state)
{
  GString *seen = g_string_new ("");
  gboolean full = FALSE;
  jq_journal_begin (j);
  if (jq_journal_changed_elsewhere (j, &full))
    {
      g_string_append (seen, full ? "full " : "changes ");
      assert_true (jq_journal_sync (j, full, note_sync, seen, state, NULL));
    }
  return g_string_free (seen, FALSE);
}

/* Two servers on one database: each batch reads what the other wrote,
 * and nothing when nobody else wrote. */
static void
test_pg_shared (void **state)
{
  Fixture *f = *state;
  if (!pg_ready (f))
    skip ();
  JqJournal *a = f->kind->open (f), *b = f->kind->open (f);
  JqSyncState st = { 0 };
  g_autofree char *a0 = pull (a, &st);
  assert_string_equal (a0, "full ");                  /* first: everything */
  add (a, 1, 5, TASK ("a"));
  add (a, 2, 5, TASK ("b"));
  jq_journal_set_next_number (a, 3);
  assert_true (jq_journal_commit (a, NULL));
  g_autofree char *b0 = pull (b, &st);
  assert_string_equal (b0, "full +1 +2 ");
  assert_int_equal (st.waiting, 2);
  assert_true (jq_journal_commit (b, NULL));
  g_autofree char *b1 = pull (b, &st);
  assert_string_equal (b1, "");                       /* nothing new */
  jq_journal_start (b, 1, 1000, 4242);
  assert_true (jq_journal_commit (b, NULL));
  g_autofree char *a1 = pull (a, &st);
  assert_string_equal (a1, "changes -1 ");
  assert_int_equal (st.waiting, 1);
  assert_int_equal (st.next_number, 3);
  assert_true (jq_journal_commit (a, NULL));
  assert_int_equal (jq_journal_find_job (a, 1), JQ_RECORD_RUNNING);
  assert_int_equal (jq_journal_find_job (a, 2), JQ_RECORD_WAITING);
  assert_int_equal (jq_journal_find_job (a, 9), JQ_RECORD_NONE);
  g_autoptr (GPtrArray) jobs = g_ptr_array_new_with_free_func (
      (GDestroyNotify) jq_job_unref);
  g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  assert_true (jq_journal_list_running (a, jobs, pids, NULL));
  assert_int_equal (jobs->len, 1);
  assert_int_equal (g_array_index (pids, GPid, 0), 4242);
  jq_journal_close (a);
  jq_journal_close (b);
}

/* Another server reads each job's owner with the job. */
static void
test_pg_sync_owner (void **state)
{
  Fixture *f = *state;
  if (!pg_ready (f))
    skip ();
  JqJournal *a = f->kind->open (f), *b = f->kind->open (f);
  JqSyncState st = { 0 };
  g_autofree char *a0 = pull (a, &st);
  g_autoptr (JqJob) job = jq_job_new (1, 5, TASK ("a"), 1);
  jq_job_set_owner (job, 1001);
  jq_journal_add (a, job);
  add (a, 2, 5, TASK ("b"));
  jq_journal_set_next_number (a, 3);
  assert_true (jq_journal_commit (a, NULL));
  g_autofree char *b1 = pull (b, &st);
  assert_string_equal (b1, "full +1@1001 +2 ");
  assert_true (jq_journal_commit (b, NULL));
  g_autofree char *a1 = pull (a, &st);
  g_autoptr (JqJob) root_job = jq_job_new (3, 5, TASK ("c"), 1);
  jq_job_set_owner (root_job, 0);
  jq_journal_add (a, root_job);
  assert_true (jq_journal_commit (a, NULL));
  g_autofree char *b2 = pull (b, &st);
  assert_string_equal (b2, "changes +3@0 ");
  assert_true (jq_journal_commit (b, NULL));
  /* A shared job: the other server reads it again, without an owner. */
  g_autofree char *a2 = pull (a, &st);
  jq_journal_disown (a, 1);
  assert_true (jq_journal_commit (a, NULL));
  g_autofree char *b3 = pull (b, &st);
  assert_string_equal (b3, "changes +1 ");
  assert_true (jq_journal_commit (b, NULL));
  jq_journal_close (a);
  jq_journal_close (b);
}

/* Restores tests/data/@name into the empty database. */
static void
restore_pg (const char *name)
{
  g_autofree char *path = g_build_filename (SRCDIR, "tests", "data", name,
                                            NULL);
  g_autofree char *sql = NULL;
  assert_true (g_file_get_contents (path, &sql, NULL, NULL));
  g_autofree char *why = pg_exec (sql);
  assert_null (why);
}

/* Format 2: each job's owner, as the version that wrote it stored it. */
static void
test_pg_stored_version_2 (void **state)
{
  Fixture *f = *state;
  if (!pg_ready (f))
    skip ();
  restore_pg ("pgjournal-v2.sql");
  JqJournal *j = f->kind->open (f);
  Loaded l = load (j);
  assert_int_equal (l.jobs->len, 3);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[0]), 1001);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[1]), 0);
  assert_int_equal (jq_job_get_owner (l.jobs->pdata[2]), JQ_JOB_NO_OWNER);
  assert_true (g_strv_equal (jq_job_get_argv (l.jobs->pdata[1]),
                             TASK ("bots-engine", "a\nb", "", "'\"")));
  loaded_free (&l);
  jq_journal_close (j);
}

/* A database written by format 1 is read as it was (its jobs have no
 * owner) and upgraded in place; a newer format is refused and left
 * untouched. */
static void
test_pg_stored_version_1 (void **state)
{
  Fixture *f = *state;
  if (!pg_ready (f))
    skip ();
  g_autofree char *sql = NULL;
  assert_true (g_file_get_contents (SRCDIR "/tests/data/pgjournal-v1.sql",
                                    &sql, NULL, NULL));
  g_autofree char *why = pg_exec (sql);
  assert_null (why);
  JqJournal *j = f->kind->open (f);
  assert_true (jq_journal_get_queue_id (j) == 2579472606699654187u);
  assert_true (jq_journal_get_flag (j, "paused"));
  Loaded l = load (j);
  assert_int_equal (l.next, 7);
  assert_int_equal (l.jobs->len, 3);
  assert_true (g_array_index (l.running, gboolean, 0));
  assert_int_equal (g_array_index (l.pids, int, 0), 4242);
  assert_true (g_strv_equal (jq_job_get_argv (l.jobs->pdata[1]),
                             TASK ("bots-engine", "a\nb", "", "'\"")));
  for (guint i = 0; i < l.jobs->len; i++)
    assert_int_equal (jq_job_get_owner (l.jobs->pdata[i]), JQ_JOB_NO_OWNER);
  loaded_free (&l);
  /* Upgraded in place: a new job keeps its owner. */
  g_autoptr (JqJob) job = jq_job_new (7, 5, TASK ("bots-engine", "-n"), 1);
  jq_job_set_owner (job, 1001);
  jq_journal_begin (j);
  jq_journal_add (j, job);
  assert_true (jq_journal_commit (j, NULL));
  g_autofree char *owner = pg_value ("SELECT owner FROM bots_jobqueue.jobs"
                                     " WHERE number = 7");
  assert_string_equal (owner, "1001");
  g_autoptr (GArray) rows = jq_journal_history (j, 10, G_MAXSIZE);
  assert_int_equal (rows->len, 2);
  assert_string_equal (g_array_index (rows, JqFinished, 0).start_error,
                       "no such file");
  assert_true (g_array_index (rows, JqFinished, 1).hit_maxruntime);
  jq_journal_close (j);
  g_autofree char *version = pg_value ("SELECT value FROM bots_jobqueue.meta"
                                       " WHERE key = 'schema_version'");
  assert_string_equal (version, "2");

  g_autofree char *newer = pg_exec ("UPDATE bots_jobqueue.meta SET value = "
                                    "99 WHERE key = 'schema_version'");
  assert_null (newer);
  g_autoptr (GError) error = NULL;
  assert_null (jq_store_pg_open (g_getenv ("JQ_TEST_PG_CONNINFO"), "m",
                                 4000, f->log, &error));
  assert_non_null (strstr (error->message, "newer"));
  g_autofree char *count = pg_value ("SELECT count(*) FROM "
                                     "bots_jobqueue.jobs");
  assert_string_equal (count, "4");
}

static gboolean
pg_ready (Fixture *f)
{
  return f->kind->prepare (f);
}
#endif

#define ON(kind, fn) \
  cmocka_unit_test_prestate_setup_teardown (fn, setup, teardown, \
                                            (void *) &kind)
#define CONTRACT(kind) \
  ON (kind, test_kind), ON (kind, test_round_trip), \
  ON (kind, test_changes), ON (kind, test_finish_and_history), \
  ON (kind, test_prune_history), ON (kind, test_next_number_never_back), \
  ON (kind, test_next_number_after_the_highest_leaves), \
  ON (kind, test_next_number_after_a_restart), \
  ON (kind, test_flags_and_identity), ON (kind, test_nesting), \
  ON (kind, test_failure_policy), ON (kind, test_lost_a_move), \
  ON (kind, test_owners), ON (kind, test_disown)

int
main (void)
{
  const struct CMUnitTest sqlite_tests[] = { CONTRACT (sqlite_kind) };
  const struct CMUnitTest none_tests[] = { CONTRACT (none_kind) };
  int failed_groups =
    cmocka_run_group_tests_name ("sqlite", sqlite_tests, NULL, NULL)
    + cmocka_run_group_tests_name ("none", none_tests, NULL, NULL);
#ifdef HAVE_LIBPQ
  const struct CMUnitTest pg_tests[] = {
    CONTRACT (pg_kind),
    ON (pg_kind, test_pg_shared),
    ON (pg_kind, test_pg_stored_version_1),
    ON (pg_kind, test_pg_stored_version_2),
    ON (pg_kind, test_pg_sync_owner),
  };
  failed_groups += cmocka_run_group_tests_name ("postgresql", pg_tests,
                                                NULL, NULL);
#endif
  return failed_groups;
}
