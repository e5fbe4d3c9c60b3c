/* Tests of the scheduler's rules (Bots' addjob order, duplicates, priority
 * changes, nr_threads, maxruntime, start failures, jobs of a crashed
 * server, a shared queue's launch gate) with a fake runner and a fake
 * clock: no process is started, and a job ends when the test says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

/* ------------------------------------------------------------ fake runner */

typedef struct {
  JqRunnerHooks hooks;
  GPtrArray    *running;     /* JqJob*, owned; in start order */
  GArray       *started;     /* job numbers, every start in order */
  GHashTable   *fail;        /* number -> JqError code for its start */
  GHashTable   *left;        /* number -> pid left running before us */
  GArray       *adopted;     /* numbers adopted */
  guint         killed;      /* kill_all calls */
} FakeRunner;

static FakeRunner *fake;     /* the one the scheduler under test made */

static gpointer
fake_create (gpointer data, JqTaskPolicy *policy, JqLog *log,
             const JqRunnerHooks *hooks)
{
  FakeRunner *r = g_new0 (FakeRunner, 1);
  r->hooks = *hooks;
  r->running = g_ptr_array_new_with_free_func ((GDestroyNotify) jq_job_unref);
  r->started = g_array_new (FALSE, FALSE, sizeof (guint64));
  r->fail = g_hash_table_new (g_int64_hash, g_int64_equal);
  r->left = g_hash_table_new (g_int64_hash, g_int64_equal);
  r->adopted = g_array_new (FALSE, FALSE, sizeof (guint64));
  fake = r;
  return r;
}

static gboolean
fake_start (gpointer runner, JqJob *job, GPid *pid, GError **error)
{
  FakeRunner *r = runner;
  guint64 number = jq_job_get_number (job);
  gpointer code = g_hash_table_lookup (r->fail, &number);
  if (code != NULL)
    {
      g_set_error (error, JQ_ERROR, GPOINTER_TO_INT (code) - 1,
                   "fake failure of job %" G_GUINT64_FORMAT, number);
      return FALSE;
    }
  g_array_append_val (r->started, number);
  g_ptr_array_add (r->running, jq_job_ref (job));
  *pid = (GPid) (1000 + number);
  return TRUE;
}

static void
fake_kill_all (gpointer runner, const char *why)
{
  ((FakeRunner *) runner)->killed++;
}

static int
fake_find_left (gpointer runner, guint64 number, int pid, gint64 started_us)
{
  FakeRunner *r = runner;
  return GPOINTER_TO_INT (g_hash_table_lookup (r->left, &number));
}

static gboolean
fake_adopt (gpointer runner, guint64 number, int pid)
{
  g_array_append_val (((FakeRunner *) runner)->adopted, number);
  return TRUE;
}

static guint
fake_count (gpointer runner)
{
  return ((FakeRunner *) runner)->running->len;
}

static GPtrArray *
fake_list (gpointer runner, GArray *pids, GArray *started_us)
{
  FakeRunner *r = runner;
  GPtrArray *jobs = g_ptr_array_new ();
  for (guint i = 0; i < r->running->len; i++)
    g_ptr_array_add (jobs, r->running->pdata[i]);
  return jobs;
}

static void
fake_free (gpointer runner)
{
  FakeRunner *r = runner;
  g_ptr_array_unref (r->running);
  g_array_unref (r->started);
  g_hash_table_unref (r->fail);
  g_hash_table_unref (r->left);
  g_array_unref (r->adopted);
  g_free (r);
  fake = NULL;
}

static const JqRunnerOps fake_ops = {
  .create = fake_create,
  .start = fake_start,
  .kill_all = fake_kill_all,
  .find_left = fake_find_left,
  .adopt = fake_adopt,
  .count = fake_count,
  .list = fake_list,
  .free = fake_free,
};

static gint64 now_us = 1700000000000000;

static gint64
fake_clock (void)
{
  return now_us;
}

/* Ends running job @number with @exit_code, as the runner reports it. */
static void
finish (guint64 number, int exit_code, gboolean hit_maxruntime)
{
  for (guint i = 0; i < fake->running->len; i++)
    {
      JqJob *job = fake->running->pdata[i];
      if (jq_job_get_number (job) != number)
        continue;
      g_autoptr (JqJob) held = jq_job_ref (job);
      g_ptr_array_remove_index (fake->running, i);
      now_us += 1000;
      JqFinished result = jq_finished_of (held);
      result.started_us = now_us - 1000;
      result.ended_us = now_us;
      result.exit_code = exit_code;
      result.hit_maxruntime = hit_maxruntime;
      fake->hooks.finished (held, &result, fake->hooks.user_data);
      return;
    }
  fail_msg ("job %" G_GUINT64_FORMAT " is not running", number);
}

static guint64
started (guint i)
{
  assert_true (i < fake->started->len);
  return g_array_index (fake->started, guint64, i);
}

/* ------------------------------------------------------------ fixture */

typedef struct {
  JqConfig    *config;
  JqLog       *log;
  char        *dir;       /* PATH (a bots-engine to authorize), log */
  char        *log_path;
  JqScheduler *s;
} Fixture;

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

static Fixture *
fixture_new (const char *extra_ini)
{
  Fixture *f = g_new0 (Fixture, 1);
  g_autofree char *ini_text = g_strdup_printf (
      "[jobqueue]\nenabled = true\n%s", extra_ini);
  g_autoptr (JqIni) ini = jq_ini_parse (ini_text, strlen (ini_text),
                                        "bots.ini", NULL);
  f->dir = g_dir_make_tmp ("jqsched-XXXXXX", NULL);
  g_autofree char *engine = g_build_filename (f->dir, "bots-engine", NULL);
  assert_true (g_file_set_contents (engine, "#!/bin/sh\n", -1, NULL));
  assert_int_equal (g_chmod (engine, 0755), 0);
  g_setenv ("PATH", f->dir, TRUE);
  f->config = jq_config_from_ini (ini, "/nonexistent/config", NULL);
  assert_non_null (f->config);
  f->log_path = g_build_filename (f->dir, "jobqueue.log", NULL);
  f->log = jq_log_new (f->log_path, JQ_LOG_DEBUG, FALSE, JQ_LOG_CRITICAL,
                       NULL);
  assert_non_null (f->log);
  return f;
}

static void
fixture_start (Fixture *f, JqJournal *journal)
{
  f->s = jq_scheduler_new_with (f->config, f->log, journal, &fake_ops, NULL,
                                fake_clock);
  assert_non_null (fake);
}

static int
setup (void **state)
{
  Fixture *f = fixture_new ("nr_threads = 1\n");
  fixture_start (f, NULL);
  *state = f;
  return 0;
}

static int
setup_two (void **state)
{
  Fixture *f = fixture_new ("nr_threads = 2\n");
  fixture_start (f, NULL);
  *state = f;
  return 0;
}

static int
setup_reports (void **state)
{
  Fixture *f = fixture_new ("report_command = /bin/true\nreport_failed_jobs = "
                            "true\n[settings]\nsendreportiferror = true\n"
                            "maxruntime = 2\n");
  fixture_start (f, NULL);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  jq_scheduler_free (f->s);
  jq_log_free (f->log);
  jq_config_free (f->config);
  g_autofree char *engine = g_build_filename (f->dir, "bots-engine", NULL);
  g_unlink (engine);
  g_unlink (f->log_path);
  g_autofree char *db = g_build_filename (f->dir, "queue.db", NULL);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db, "-shm", NULL);
  g_unlink (db);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->log_path);
  g_free (f);
  return 0;
}

static guint64
add (Fixture *f, const char *route, int priority, JqAddjobCode expected)
{
  guint64 number = 0;
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", route),
                                         priority, NULL, &number),
                    expected);
  return number;
}

static gboolean
log_contains (Fixture *f, const char *text)
{
  g_autofree char *content = NULL;
  assert_true (g_file_get_contents (f->log_path, &content, NULL, NULL));
  return strstr (content, text) != NULL;
}

/* ------------------------------------------------------------ tests */

/* A door batch holds launches until its commit: saved, its job starts
 * then; not saved (its caller got a fault), the job it added leaves the
 * queue and never starts (issue 19). */
static void
test_held_launches (void **state)
{
  Fixture *f = *state;
  jq_scheduler_hold_launches (f->s);
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  assert_int_equal (fake->started->len, 0);
  jq_scheduler_release_launches (f->s, TRUE);
  assert_int_equal (fake->started->len, 1);
  assert_int_equal (started (0), a);

  jq_scheduler_hold_launches (f->s);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  finish (a, 0, FALSE);                 /* a slot is free: still held */
  assert_int_equal (fake->started->len, 1);
  jq_scheduler_release_launches (f->s, FALSE);
  assert_int_equal (fake->started->len, 1);
  assert_int_equal (jq_scheduler_count_waiting (f->s), 0);
  assert_int_equal (jq_scheduler_job_state (f->s, b, NULL), JQ_JOB_UNKNOWN);
  assert_int_equal (jq_scheduler_get_totals (f->s).added, 1);
  add (f, "c", 5, JQ_ADDJOB_OK);        /* not held: starts at once */
  assert_int_equal (fake->started->len, 2);
}

/* Lower priority numbers first, then queueing order; one at a time. */
static void
test_order (void **state)
{
  Fixture *f = *state;
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  guint64 c = add (f, "c", 9, JQ_ADDJOB_OK);
  guint64 d = add (f, "d", 1, JQ_ADDJOB_OK);
  assert_int_equal (fake->started->len, 1);
  assert_int_equal (started (0), a);
  finish (a, 0, FALSE);
  finish (d, 0, FALSE);
  finish (b, 0, FALSE);
  finish (c, 0, FALSE);
  assert_int_equal (fake->started->len, 4);
  assert_int_equal (started (1), d);
  assert_int_equal (started (2), b);
  assert_int_equal (started (3), c);
  JqTotals t = jq_scheduler_get_totals (f->s);
  assert_int_equal (t.added, 4);
  assert_int_equal (t.started, 4);
  assert_int_equal (t.succeeded, 4);
}

/* The same task waiting at the same priority is not queued twice; a
 * running one is no duplicate. */
static void
test_duplicates (void **state)
{
  Fixture *f = *state;
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);       /* runs */
  guint64 a2 = add (f, "a", 5, JQ_ADDJOB_OK);      /* waits */
  assert_int_not_equal (a, a2);
  guint64 a3 = add (f, "a", 5, JQ_ADDJOB_DUPLICATE);
  assert_int_equal (a3, a2);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (waiting->len, 1);
  assert_int_equal (jq_scheduler_get_totals (f->s).added, 2);
}

/* A waiting task queued again at another priority moves, keeping its
 * number. */
static void
test_priority_change (void **state)
{
  Fixture *f = *state;
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  guint64 c = add (f, "c", 5, JQ_ADDJOB_OK);
  assert_int_equal (add (f, "c", 2, JQ_ADDJOB_OK), c);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (waiting->len, 2);
  assert_int_equal (jq_job_get_number (waiting->pdata[0]), c);
  assert_int_equal (jq_job_get_priority (waiting->pdata[0]), 2);
  finish (a, 0, FALSE);
  assert_int_equal (started (1), c);
  assert_true (jq_scheduler_set_priority (f->s, b, 1, NULL));
  assert_false (jq_scheduler_set_priority (f->s, a, 1, NULL));  /* ended */
}

/* A user steers its own waiting jobs; an admin and the server any. */
static void
test_owners (void **state)
{
  Fixture *f = *state;
  JqCaller alice, bob, admin;
  jq_caller_init (&alice, TRUE, 4000001, NULL);
  jq_caller_init (&bob, TRUE, 4000002, NULL);
  jq_caller_init (&admin, TRUE, 4000003, NULL);
  admin.admin = TRUE;
  guint64 running = add (f, "r", 5, JQ_ADDJOB_OK);   /* takes the slot */
  guint64 n = 0;
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "a"), 5,
                                         &alice, &n), JQ_ADDJOB_OK);
  guint32 owner = 0;
  assert_false (jq_scheduler_may_steer (f->s, n, &bob, &owner));
  assert_int_equal (owner, 4000001);
  assert_true (jq_scheduler_may_steer (f->s, n, &alice, &owner));
  assert_true (jq_scheduler_may_steer (f->s, n, &admin, &owner));
  assert_true (jq_scheduler_may_steer (f->s, n, NULL, &owner));
  /* Not waiting: nothing to refuse (removejob says it is not waiting). */
  assert_true (jq_scheduler_may_steer (f->s, running, &bob, &owner));
  /* Alice herself moves it, and stays its owner. */
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "a"), 3,
                                         &alice, NULL), JQ_ADDJOB_OK);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (jq_job_get_priority (waiting->pdata[0]), 3);
  assert_int_equal (jq_job_get_owner (waiting->pdata[0]), 4000001);
  /* Bob queueing alice's task at another priority: a duplicate. */
  guint64 same = 0;
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "a"), 1,
                                         &bob, &same), JQ_ADDJOB_DUPLICATE);
  assert_int_equal (same, n);
  g_clear_pointer (&waiting, g_ptr_array_unref);
  waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (jq_job_get_priority (waiting->pdata[0]), 3);
  /* An unknown caller owns nothing, not even jobs of unknown owner. */
  JqCaller stranger;
  jq_caller_init (&stranger, FALSE, 0, "192.0.2.7");
  assert_false (jq_caller_may_steer (&stranger, JQ_JOB_NO_OWNER));
  assert_false (jq_caller_may_steer (&alice, JQ_JOB_NO_OWNER));
  assert_true (jq_caller_may_steer (&admin, JQ_JOB_NO_OWNER));
}

/* A waiting job a second caller asked for too is shared: its first
 * owner may no longer remove or move it alone (issue 19, F4: a user
 * queued cron's task first, cron's run was a duplicate, and the user
 * removed it). */
static void
test_shared_when_asked_again (void **state)
{
  Fixture *f = *state;
  JqCaller alice, bob, cron;
  jq_caller_init (&alice, TRUE, 4000001, NULL);
  jq_caller_init (&bob, TRUE, 4000002, NULL);
  jq_caller_init (&cron, TRUE, 4000003, NULL);
  cron.admin = TRUE;
  guint32 owner = 0;
  add (f, "r", 5, JQ_ADDJOB_OK);   /* takes the slot */
  guint64 dup = 0, moved = 0, mine = 0, n = 0;
  jq_scheduler_submit (f->s, TASK ("bots-engine", "nightly"), 5, &alice, &dup);
  jq_scheduler_submit (f->s, TASK ("bots-engine", "weekly"), 5, &alice, &moved);
  jq_scheduler_submit (f->s, TASK ("bots-engine", "own"), 5, &alice, &mine);
  jq_scheduler_submit (f->s, TASK ("bots-engine", "bobs"), 5, &bob, NULL);
  /* cron: the same task, a duplicate; another priority, moved. */
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "nightly"), 5, &cron,
                                         &n), JQ_ADDJOB_DUPLICATE);
  assert_int_equal (n, dup);
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "weekly"), 3, &cron,
                                         &n), JQ_ADDJOB_OK);
  assert_int_equal (n, moved);
  /* Alice again, or bob (a duplicate for him): her own stays hers. */
  jq_scheduler_submit (f->s, TASK ("bots-engine", "own"), 5, &alice, NULL);
  jq_scheduler_submit (f->s, TASK ("bots-engine", "own"), 4, &alice, NULL);
  assert_true (jq_scheduler_may_steer (f->s, mine, &alice, &owner));
  assert_int_equal (jq_scheduler_submit (f->s, TASK ("bots-engine", "own"), 2, &bob, NULL),
                    JQ_ADDJOB_DUPLICATE);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (waiting->len, 4);
  for (guint i = 0; i < waiting->len; i++)
    {
      JqJob *job = waiting->pdata[i];
      guint64 number = jq_job_get_number (job);
      gboolean bobs = g_str_equal (jq_job_get_argv (job)[1], "bobs");
      /* Every one of alice's was asked for again by someone else. */
      assert_int_equal (jq_job_get_owner (job),
                        bobs ? 4000002 : JQ_JOB_NO_OWNER);
      assert_false (jq_scheduler_may_steer (f->s, number, &alice, &owner));
      assert_int_equal (jq_scheduler_may_steer (f->s, number, &bob, &owner),
                        bobs);
      assert_true (jq_scheduler_may_steer (f->s, number, &cron, &owner));
    }
}

static int
setup_share (void **state)
{
  Fixture *f = fixture_new ("nr_threads = 1\nmax_waiting_jobs = 11\n"
                            "user_queue_share = 50\n");
  fixture_start (f, NULL);
  *state = f;
  return 0;
}

static JqAddjobCode
submit_as (Fixture *f, const JqCaller *caller, const char *route)
{
  return jq_scheduler_submit (f->s, TASK ("bots-engine", route), 5, caller,
                              NULL);
}

/* Each user but root and the server's own fills at most its share of
 * the waiting-job bounds (issue 19, F3: one user's 1,100 jobs left cron
 * "queue is full"); 50% of 11 jobs is 5. */
static void
test_queue_share (void **state)
{
  Fixture *f = *state;
  JqCaller alice, bob, own, root, stranger;
  jq_caller_init (&alice, TRUE, 4000001, NULL);
  jq_caller_init (&bob, TRUE, 4000002, NULL);
  jq_caller_init (&own, TRUE, 4000003, NULL);
  own.own = own.admin = TRUE;
  jq_caller_init (&root, TRUE, 0, NULL);
  jq_caller_init (&stranger, FALSE, 0, "192.0.2.7");
  add (f, "r", 5, JQ_ADDJOB_OK);   /* takes the slot */
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *route = g_strdup_printf ("a%d", i);
      assert_int_equal (submit_as (f, &alice, route), JQ_ADDJOB_OK);
    }
  assert_int_equal (submit_as (f, &alice, "a5"), JQ_ADDJOB_FULL);
  assert_true (log_contains (f, "Queue full for this user (user_queue_share "
                                "50% of max_waiting_jobs: 5), not added: "
                                "['bots-engine', 'a5'] (by uid 4000001)"));
  /* Her waiting task is still a duplicate, not "full". */
  assert_int_equal (submit_as (f, &alice, "a0"), JQ_ADDJOB_DUPLICATE);
  /* The others have room: another user, unknown callers, root, cron. */
  assert_int_equal (submit_as (f, &bob, "b"), JQ_ADDJOB_OK);
  assert_int_equal (submit_as (f, &stranger, "x"), JQ_ADDJOB_OK);
  assert_int_equal (submit_as (f, &root, "root"), JQ_ADDJOB_OK);
  /* A job of hers that cron asked for too is shared, no longer hers. */
  assert_int_equal (submit_as (f, &own, "a1"), JQ_ADDJOB_DUPLICATE);
  assert_int_equal (submit_as (f, &alice, "a5"), JQ_ADDJOB_OK);
  assert_int_equal (submit_as (f, &own, "cron"), JQ_ADDJOB_OK);
  assert_int_equal (submit_as (f, &own, "cron2"), JQ_ADDJOB_OK);
  /* 11 waiting: the queue's own bound holds for everybody. */
  assert_int_equal (submit_as (f, &own, "cron3"), JQ_ADDJOB_FULL);
  /* A job that leaves gives its owner room again. */
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  guint64 first = jq_job_get_number (waiting->pdata[0]);
  assert_true (jq_scheduler_remove (f->s, first, NULL));
  assert_int_equal (submit_as (f, &alice, "a6"), JQ_ADDJOB_OK);
}

/* nr_threads jobs run at once; the next starts when one ends. */
static void
test_nr_threads (void **state)
{
  Fixture *f = *state;
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  guint64 c = add (f, "c", 5, JQ_ADDJOB_OK);
  assert_int_equal (jq_scheduler_get_running (f->s), 2);
  assert_int_equal (jq_scheduler_job_state (f->s, c, NULL),
                    JQ_JOB_WAITING);
  finish (b, 1, FALSE);
  assert_int_equal (jq_scheduler_job_state (f->s, c, NULL),
                    JQ_JOB_RUNNING);
  assert_int_equal (jq_scheduler_get_running (f->s), 2);
  finish (a, 0, FALSE);
  finish (c, 0, FALSE);
  assert_int_equal (jq_scheduler_get_running (f->s), 0);
  JqTotals t = jq_scheduler_get_totals (f->s);
  assert_int_equal (t.failed, 1);
  assert_int_equal (t.succeeded, 2);
}

/* A job past its maxruntime is reported (the runner logs it and, with
 * killjobsintimeout, kills it); its end says it hit the limit. */
static void
test_maxruntime (void **state)
{
  Fixture *f = *state;
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  fake->hooks.timed_out (fake->running->pdata[0], fake->hooks.user_data);
  assert_true (log_contains (f, "Sending error report: [bots-jobqueue] Job 1 "
                                "exceeded maxruntime of 2 minutes"));
  finish (a, -15, TRUE);
  g_autoptr (JqFinished) result = NULL;
  assert_int_equal (jq_scheduler_job_state (f->s, a, &result),
                    JQ_JOB_FINISHED);
  assert_true (result->hit_maxruntime);
  assert_int_equal (result->exit_code, -15);
  assert_null (result->start_error);
  /* report_failed_jobs: its failure is reported too. */
  assert_true (log_contains (f, "Job 1 failed with exit code -15"));
  /* Asked to stop with the server, the runner kills what runs. */
  add (f, "b", 5, JQ_ADDJOB_OK);
  jq_scheduler_terminate_running (f->s);
  assert_int_equal (fake->killed, 1);
}

/* A job that cannot start ends as "could not start"; the queue goes on. */
static void
test_cannot_start (void **state)
{
  Fixture *f = *state;
  guint64 one = 1;
  g_hash_table_insert (fake->fail, &one, GINT_TO_POINTER (JQ_ERROR_IO + 1));
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  assert_int_equal (a, 1);
  g_autoptr (JqFinished) result = NULL;
  assert_int_equal (jq_scheduler_job_state (f->s, a, &result),
                    JQ_JOB_FINISHED);
  assert_string_equal (result->start_error, "fake failure of job 1");
  assert_int_equal (started (0), b);
  assert_int_equal (jq_scheduler_get_totals (f->s).start_failures, 1);
  assert_true (log_contains (f, "Error starting job 1: fake failure of job 1"));
  assert_true (log_contains (f, "[bots-jobqueue] Job 1 could not be started"));
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A passing shortage is no failure: the job stays first, nothing else
 * starts before it, and it is tried again after a back-off. */
static void
test_postponed (void **state)
{
  Fixture *f = *state;
  guint64 one = 1;
  g_hash_table_insert (fake->fail, &one,
                       GINT_TO_POINTER (JQ_ERROR_AGAIN + 1));
  /* 250 ms in the server; a unit test does not wait that long. */
  jq_scheduler_set_retry_first_ms (f->s, 2);
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  assert_int_equal (fake->started->len, 0);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (jq_job_get_number (waiting->pdata[0]), a);
  assert_int_equal (jq_scheduler_get_totals (f->s).start_failures, 0);
  assert_true (log_contains (f, "Job 1 cannot start now"));
  assert_true (log_contains (f, "tried again in 2 ms"));
  /* The shortage is over: the retry timer starts it, then the next. */
  g_hash_table_remove (fake->fail, &one);
  gboolean late = FALSE;
  guint guard = g_timeout_add (5000, on_timeout, &late);
  while (fake->started->len == 0 && !late)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (guard);
  assert_int_equal (started (0), a);
  finish (a, 0, FALSE);
  assert_int_equal (started (1), b);
}

/* A job a crashed server left running is queued again first, adopted by
 * the runner, and nothing starts until it ends. */
static void
test_orphan (void **state)
{
  Fixture *f = *state;
  g_autofree char *db = g_build_filename (f->dir, "queue.db", NULL);
  {
    g_autoptr (JqJournal) j = jq_journal_open (db, JQ_DURABILITY_FAST, NULL);
    assert_non_null (j);
    g_autoptr (JqJob) a = jq_job_new (1, 5, TASK ("bots-engine", "a"), 1);
    g_autoptr (JqJob) b = jq_job_new (2, 5, TASK ("bots-engine", "b"), 2);
    jq_journal_begin (j);
    jq_journal_add (j, a);
    jq_journal_add (j, b);
    jq_journal_set_next_number (j, 3);
    jq_journal_start (j, 1, 1000, 4242);
    assert_true (jq_journal_commit (j, NULL));
  }
  jq_scheduler_free (f->s);
  g_autoptr (JqJournal) j = jq_journal_open (db, JQ_DURABILITY_FAST, NULL);
  fixture_start (f, j);
  guint64 one = 1;
  g_hash_table_insert (fake->left, &one, GINT_TO_POINTER (4242));
  assert_true (jq_scheduler_recover (f->s, NULL));
  assert_int_equal (fake->adopted->len, 1);
  assert_int_equal (g_array_index (fake->adopted, guint64, 0), 1);
  assert_int_equal (fake->started->len, 0);
  g_autoptr (GPtrArray) waiting = jq_scheduler_listjobs (f->s);
  assert_int_equal (waiting->len, 2);
  assert_int_equal (jq_job_get_number (waiting->pdata[0]), 1);
  assert_true (log_contains (f, "Job 1 was running when the server stopped"));
  fake->hooks.adopted_ended (1, fake->hooks.user_data);
  assert_int_equal (started (0), 1);
  jq_scheduler_free (f->s);
  f->s = NULL;
}

/* wait() and history() read one record: a job the history lists is
 * known to job_state, also after a restart emptied the memory. */
static void
test_finished_one_source (void **state)
{
  Fixture *f = *state;
  g_autofree char *db = g_build_filename (f->dir, "queue.db", NULL);
  jq_scheduler_free (f->s);
  {
    g_autoptr (JqJournal) j = jq_journal_open (db, JQ_DURABILITY_FAST, NULL);
    assert_non_null (j);
    fixture_start (f, j);
    assert_true (jq_scheduler_recover (f->s, NULL));
    jq_journal_begin (j);
    guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
    finish (a, 3, FALSE);
    assert_true (jq_journal_commit (j, NULL));
    jq_scheduler_free (f->s);
    f->s = NULL;
  }
  g_autoptr (JqJournal) j = jq_journal_open (db, JQ_DURABILITY_FAST, NULL);
  fixture_start (f, j);
  assert_true (jq_scheduler_recover (f->s, NULL));
  g_autoptr (GArray) rows = jq_journal_history (j, 10, 1 << 20);
  assert_int_equal (rows->len, 1);
  guint64 listed = g_array_index (rows, JqFinished, 0).number;
  g_autoptr (JqFinished) result = NULL;
  assert_int_equal (jq_scheduler_job_state (f->s, listed, &result),
                    JQ_JOB_FINISHED);
  assert_int_equal (result->exit_code, 3);
  assert_string_equal (result->argv[1], "a");
  assert_int_equal (jq_scheduler_job_state (f->s, listed + 1, NULL),
                    JQ_JOB_UNKNOWN);
  jq_scheduler_free (f->s);
  f->s = NULL;
}

/* ------------------------------------------------ a shared queue's gate */

static gboolean gate_open;

static gboolean
gate (gpointer data)
{
  return gate_open;
}

/* A server that does not lead queues but launches nothing; once it
 * leads, a kick starts the queue. */
static void
test_launch_gate (void **state)
{
  Fixture *f = *state;
  gate_open = FALSE;
  jq_scheduler_set_launch_gate (f->s, gate, NULL);
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  add (f, "b", 5, JQ_ADDJOB_OK);
  assert_int_equal (fake->started->len, 0);
  jq_scheduler_kick (f->s);
  assert_int_equal (fake->started->len, 0);
  gate_open = TRUE;
  jq_scheduler_kick (f->s);
  assert_int_equal (fake->started->len, 1);
  assert_int_equal (started (0), a);
}

/* A lost lead ends the running job and records nothing of it: its end
 * belongs to the new leader.  What comes next is as usual. */
static void
test_abandon_running (void **state)
{
  Fixture *f = *state;
  gate_open = TRUE;
  jq_scheduler_set_launch_gate (f->s, gate, NULL);
  guint64 a = add (f, "a", 5, JQ_ADDJOB_OK);
  guint64 b = add (f, "b", 5, JQ_ADDJOB_OK);
  gate_open = FALSE;
  jq_scheduler_yield (f->s);
  assert_int_equal (fake->killed, 1);
  finish (a, -15, FALSE);
  assert_true (log_contains (f, "lost the lead"));
  assert_int_equal (jq_scheduler_get_totals (f->s).failed, 0);
  assert_int_not_equal (jq_scheduler_job_state (f->s, a, NULL),
                        JQ_JOB_FINISHED);
  assert_int_equal (fake->started->len, 1);       /* b waits: no lead */
  gate_open = TRUE;
  jq_scheduler_kick (f->s);
  assert_int_equal (started (1), b);
  finish (b, 0, FALSE);
  assert_int_equal (jq_scheduler_job_state (f->s, b, NULL), JQ_JOB_FINISHED);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_launch_gate, setup, teardown),
    cmocka_unit_test_setup_teardown (test_abandon_running, setup, teardown),
    cmocka_unit_test_setup_teardown (test_duplicates, setup, teardown),
    cmocka_unit_test_setup_teardown (test_priority_change, setup, teardown),
    cmocka_unit_test_setup_teardown (test_nr_threads, setup_two, teardown),
    cmocka_unit_test_setup_teardown (test_maxruntime, setup_reports,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_cannot_start, setup_reports,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_postponed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_held_launches, setup, teardown),
    cmocka_unit_test_setup_teardown (test_owners, setup, teardown),
    cmocka_unit_test_setup_teardown (test_shared_when_asked_again, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_queue_share, setup_share,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_orphan, setup, teardown),
    cmocka_unit_test_setup_teardown (test_finished_one_source, setup,
                                     teardown),
  };
  /* As in the server: a report command that exits before reading its
   * message must not kill us. */
  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
