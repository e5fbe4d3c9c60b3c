/* Tests of the runner with real processes: a job that ends, one that
 * fails, one whose output passes the limit, one over its maxruntime, one
 * that cannot be started, and a process left by a server before us,
 * watched in the same record as the runner's own jobs.  Each test runs
 * the main loop until the runner reports the end (no sleeps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/wait.h>
#include <sys/syscall.h>

#include "error.h"
#include "runner.h"

typedef struct {
  char         *dir;
  char         *log_path;
  JqLog        *log;
  JqTaskPolicy *policy;
  GMainLoop    *loop;
  JqFinished   *finished;   /* the last end reported */
  guint         timed_out;  /* how many times the hook was called */
  guint64       left_ended; /* the adopted job whose end was reported */
  guint         left_timed_out;
} Fixture;

static void
on_finished (JqJob *job, const JqFinished *f, gpointer data)
{
  Fixture *fx = data;
  g_clear_pointer (&fx->finished, jq_finished_free);
  fx->finished = jq_finished_copy (f);
  g_main_loop_quit (fx->loop);
}

static void
on_timed_out (JqJob *job, gpointer data)
{
  ((Fixture *) data)->timed_out++;
}

static void
on_adopted_ended (guint64 number, gpointer data)
{
  Fixture *fx = data;
  fx->left_ended = number;
  g_main_loop_quit (fx->loop);
}

static void
on_adopted_timed_out (guint64 number, gpointer data)
{
  ((Fixture *) data)->left_timed_out++;
}

static int
setup (void **state)
{
  Fixture *fx = g_new0 (Fixture, 1);
  fx->dir = g_dir_make_tmp ("jqrunner-XXXXXX", NULL);
  fx->log_path = g_build_filename (fx->dir, "jobqueue.log", NULL);
  fx->log = jq_log_new (fx->log_path, JQ_LOG_DEBUG, FALSE, JQ_LOG_CRITICAL,
                        NULL);
  const char *const anything[] = { "*", NULL };
  JqTaskPolicySettings ps = { .authorized = anything,
                              .search_path = "/bin:/usr/bin",
                              .job_dir = fx->dir };
  fx->policy = jq_task_policy_new (&ps);
  fx->loop = g_main_loop_new (NULL, FALSE);
  *state = fx;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *fx = *state;
  g_clear_pointer (&fx->finished, jq_finished_free);
  g_main_loop_unref (fx->loop);
  jq_task_policy_free (fx->policy);
  jq_log_free (fx->log);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", fx->dir);
  assert_int_equal (system (cmd), 0);
  g_free (fx->log_path);
  g_free (fx->dir);
  g_free (fx);
  return 0;
}

static JqRunner *
runner_with (Fixture *fx, JqRunnerSettings *settings)
{
  settings->policy = fx->policy;
  settings->log_output = TRUE;
  JqRunnerHooks hooks = { .finished = on_finished,
                          .timed_out = on_timed_out,
                          .adopted_ended = on_adopted_ended,
                          .adopted_timed_out = on_adopted_timed_out,
                          .user_data = fx };
  return jq_runner_new (fx->log, settings, &hooks);
}

/* Starts @argv as job 1 and runs the loop until its end is reported. */
static void
run_job (Fixture *fx, JqRunner *runner, const char *const *argv)
{
  g_autoptr (JqJob) job = jq_job_new (1, 5, argv, g_get_real_time ());
  g_autoptr (GError) error = NULL;
  GPid pid = 0;
  assert_true (jq_runner_start (runner, job, &pid, &error));
  assert_true (pid > 0);
  assert_int_equal (jq_runner_get_running (runner), 1);
  g_main_loop_run (fx->loop);
  assert_non_null (fx->finished);
  assert_int_equal (jq_runner_get_running (runner), 0);
}

G_GNUC_NO_INLINE static char *
read_log (Fixture *fx)
{
  char *text = NULL;
  assert_true (g_file_get_contents (fx->log_path, &text, NULL, NULL));
  return text;
}

static void
test_ends_and_fails (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { 0 };
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  const char *const ok[] = { "true", NULL };
  run_job (fx, runner, ok);
  assert_int_equal (fx->finished->exit_code, 0);
  assert_true (fx->finished->started_us > 0);
  assert_true (fx->finished->ended_us >= fx->finished->started_us);
  assert_false (fx->finished->hit_maxruntime);
  const char *const bad[] = { "sh", "-c", "exit 3", NULL };
  run_job (fx, runner, bad);
  assert_int_equal (fx->finished->exit_code, 3);
  assert_int_equal (fx->finished->term_signal, 0);
}

static void
test_output_past_the_limit_is_cut (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { 0 };   /* 0: JQ_OUTPUT_LIMIT, 64 KiB */
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  /* 100,000 bytes on stdout, then a line on stderr: the job is never
   * held up by a full pipe, and the log keeps the first 64 KiB */
  const char *const chatty[] = {
    "sh", "-c", "head -c 100000 /dev/zero | tr '\\000' x; echo oops >&2",
    NULL };
  run_job (fx, runner, chatty);
  assert_int_equal (fx->finished->exit_code, 0);
  g_autofree char *log = read_log (fx);
  g_autofree char *cut = g_strdup_printf (
      "[output cut after %d bytes; %d more bytes not logged]",
      JQ_OUTPUT_LIMIT, 100000 - JQ_OUTPUT_LIMIT);
  assert_non_null (strstr (log, cut));
  assert_non_null (strstr (log, "oops"));
}

static void
test_maxruntime_kills (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { .maxruntime_ms = 1, .maxruntime_minutes = 1,
                                .kill_on_timeout = TRUE,
                                .kill_grace_ms = 60000 };
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  const char *const slow[] = { "sleep", "60", NULL };
  run_job (fx, runner, slow);
  assert_int_equal (fx->timed_out, 1);
  assert_true (fx->finished->hit_maxruntime);
  assert_int_equal (fx->finished->term_signal, SIGTERM);
  assert_int_equal (fx->finished->exit_code, -SIGTERM);
}

static void
test_cannot_start (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { 0 };
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  const char *const missing[] = { "/nonexistent/program", NULL };
  g_autoptr (JqJob) job = jq_job_new (1, 5, missing, g_get_real_time ());
  g_autoptr (GError) error = NULL;
  assert_false (jq_runner_start (runner, job, NULL, &error));
  assert_non_null (error);
  assert_false (g_error_matches (error, JQ_ERROR, JQ_ERROR_AGAIN));
  assert_int_equal (jq_runner_get_running (runner), 0);
  assert_null (fx->finished);

  /* an executable file that is no program: the exec fails after the
   * process was made; it is reaped, nothing runs */
  g_autofree char *junk = g_build_filename (fx->dir, "junk", NULL);
  assert_true (g_file_set_contents (junk, "\x01\x02 not a program\n", -1,
                                    NULL));
  assert_int_equal (g_chmod (junk, 0755), 0);
  const char *const not_a_program[] = { junk, NULL };
  g_autoptr (JqJob) bad = jq_job_new (2, 5, not_a_program,
                                      g_get_real_time ());
  g_clear_error (&error);
  assert_false (jq_runner_start (runner, bad, NULL, &error));
  assert_non_null (error);
  assert_non_null (strstr (error->message, g_strerror (ENOEXEC)));
  assert_int_equal (jq_runner_get_running (runner), 0);
  assert_int_equal (waitpid (-1, NULL, WNOHANG), -1);   /* no child left */
  assert_int_equal (errno, ECHILD);
}

/* The line of /proc/PID/status named @key in the job's logged output. */
static guint64
status_mask (const char *output, const char *key)
{
  const char *found = strstr (output, key);
  return found == NULL ? G_MAXUINT64
                       : g_ascii_strtoull (found + strlen (key), NULL, 16);
}

static void
on_any_signal (int sig)
{
}

/* A job starts clean whatever the server's own state: signals at their
 * defaults and none blocked (the server ignores SIGPIPE, blocks and
 * catches others), its own process group, stdin from /dev/null, no
 * descriptor of the server's beyond 0-2 (even one not marked
 * close-on-exec), in the job folder. */
static void
test_job_starts_clean (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { 0 };
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  struct sigaction ignore = { .sa_handler = SIG_IGN }, old_pipe;
  sigset_t usr1, old_mask;
  sigaction (SIGPIPE, &ignore, &old_pipe);
  /* and signals in every digit of /proc/PID/status's masks, which the
   * job's process reads to know which to reset: the lowest, one past
   * 32, the highest; SIGUSR2 caught (exec resets it anyway) */
  const int far[] = { SIGHUP, SIGRTMIN + 5, SIGRTMAX };
  struct sigaction old_far[G_N_ELEMENTS (far)], old_usr2;
  for (guint i = 0; i < G_N_ELEMENTS (far); i++)
    assert_int_equal (sigaction (far[i], &ignore, &old_far[i]), 0);
  struct sigaction caught = { .sa_handler = on_any_signal };
  sigaction (SIGUSR2, &caught, &old_usr2);
  sigemptyset (&usr1);
  sigaddset (&usr1, SIGUSR1);
  sigprocmask (SIG_BLOCK, &usr1, &old_mask);
#if defined(__x86_64__) || defined(__aarch64__)
  /* glibc's two internal signals ignored, as a server started by
   * system() inherits them (glibc's sigaction() cannot set them) */
  const guint64 ign[4] = { (guint64) (guintptr) SIG_IGN, 0, 0, 0 };
  guint64 old_internal[2][4];
  for (int i = 0; i < 2; i++)
    assert_int_equal (syscall (SYS_rt_sigaction, 32 + i, ign,
                               old_internal[i], (size_t) 8), 0);
#endif
  int leaked = dup2 (STDERR_FILENO, 57);   /* not close-on-exec */
  assert_int_equal (leaked, 57);

  const char *const status[] = { "cat", "/proc/self/status", NULL };
  run_job (fx, runner, status);
  const char *const fds[] = { "ls", "/proc/self/fd", NULL };
  run_job (fx, runner, fds);
  const char *const in[] = { "readlink", "/proc/self/fd/0", NULL };
  run_job (fx, runner, in);
  const char *const dir[] = { "pwd", "-P", NULL };
  run_job (fx, runner, dir);
  const char *const stat[] = { "cat", "/proc/self/stat", NULL };
  run_job (fx, runner, stat);

  close (leaked);
#if defined(__x86_64__) || defined(__aarch64__)
  for (int i = 0; i < 2; i++)
    syscall (SYS_rt_sigaction, 32 + i, old_internal[i], NULL, (size_t) 8);
#endif
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  sigaction (SIGPIPE, &old_pipe, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (far); i++)
    sigaction (far[i], &old_far[i], NULL);
  sigaction (SIGUSR2, &old_usr2, NULL);
  g_autofree char *log = read_log (fx);
  assert_int_equal (status_mask (log, "SigIgn:"), 0);
  assert_int_equal (status_mask (log, "SigBlk:"), 0);
  assert_int_equal (status_mask (log, "SigCgt:"), 0);
  /* (each line of output is logged indented by four spaces) ls's own
   * directory is 3; the server's 57 must not be there */
  assert_non_null (strstr (log, "stdout:\n    0\n    1\n    2\n    3\n"));
  assert_null (strstr (log, "    57\n"));
  assert_non_null (strstr (log, "stdout:\n    /dev/null\n"));
  /* /proc/self/stat: "pid (cat) state ppid pgrp ..." */
  const char *stat_line = strstr (log, " (cat) ");
  assert_non_null (stat_line);
  while (stat_line > log && stat_line[-1] != ' ')
    stat_line--;
  unsigned long pid = 0, pgrp = 1;
  assert_int_equal (sscanf (stat_line, "%lu (cat) %*c %*d %lu", &pid, &pgrp),
                    2);
  assert_int_equal (pgrp, pid);
  g_autofree char *real = realpath (fx->dir, NULL);
  g_autofree char *cwd = g_strdup_printf ("stdout:\n    %s\n", real);
  assert_non_null (strstr (log, cwd));
}

/* A process standing in for a job a server before us left running: a
 * child of the test, not of the runner, which watches it by its pid. */
static GPid
left_behind (void)
{
  const char *const argv[] = { "sleep", "60", NULL };
  GPid pid = 0;
  assert_true (g_spawn_async (NULL, (char **) argv, NULL,
                              G_SPAWN_SEARCH_PATH
                              | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                              NULL));
  return pid;
}

static guint
open_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* A left job has the same maxruntime as the runner's own: reported (its
 * own hook), terminated with killjobsintimeout, and its end reported
 * once it is gone.  It is not one of the runner's running jobs. */
static void
test_left_job_maxruntime (void **state)
{
  Fixture *fx = *state;
  JqRunnerSettings settings = { .maxruntime_ms = 1, .maxruntime_minutes = 1,
                                .kill_on_timeout = TRUE,
                                .kill_grace_ms = 60000 };
  g_autoptr (JqRunner) runner = runner_with (fx, &settings);
  GPid pid = left_behind ();
  assert_true (jq_runner_adopt (runner, 7, pid));
  assert_int_equal (jq_runner_get_running (runner), 0);
  g_autoptr (GPtrArray) listed = jq_runner_list (runner, NULL, NULL);
  assert_int_equal (listed->len, 0);
  g_main_loop_run (fx->loop);
  assert_int_equal (fx->left_ended, 7);
  assert_int_equal (fx->left_timed_out, 1);
  assert_int_equal (fx->timed_out, 0);
  assert_null (fx->finished);
  int status = 0;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGTERM);
  g_autofree char *log = read_log (fx);
  assert_non_null (strstr (log, "Job 7 exceeded maxruntime of 1 minutes"));
  assert_non_null (strstr (log, "Terminating job 7 (killjobsintimeout)"));
  g_autofree char *ended = g_strdup_printf (
      "The process of job 7 from before the restart (pid %d) has ended.",
      (int) pid);
  assert_non_null (strstr (log, ended));
}

/* The runner's own job and a left one, side by side: the count and the
 * list are the own job's, terminate_all leaves the left one alone, and
 * freeing the runner with both still running lets go of every watch and
 * descriptor (the pidfd, the pipes). */
static void
test_own_and_left_side_by_side (void **state)
{
  Fixture *fx = *state;
  guint fds_before = open_fds ();
  JqRunnerSettings settings = { .kill_grace_ms = 60000 };
  JqRunner *runner = runner_with (fx, &settings);
  GPid left = left_behind ();
  assert_true (jq_runner_adopt (runner, 7, left));
  const char *const slow[] = { "sleep", "60", NULL };
  g_autoptr (JqJob) job = jq_job_new (8, 5, slow, g_get_real_time ());
  GPid own = 0;
  assert_true (jq_runner_start (runner, job, &own, NULL));
  assert_int_equal (jq_runner_get_running (runner), 1);
  g_autoptr (GPtrArray) listed = jq_runner_list (runner, NULL, NULL);
  assert_int_equal (listed->len, 1);
  assert_ptr_equal (listed->pdata[0], job);
  jq_runner_terminate_all (runner, "test");
  g_main_loop_run (fx->loop);                /* the own job's end */
  assert_non_null (fx->finished);
  assert_int_equal (fx->finished->number, 8);
  assert_int_equal (fx->finished->exit_code, -SIGTERM);
  assert_int_equal (fx->left_ended, 0);
  assert_int_equal (kill (left, 0), 0);      /* still running */
  jq_runner_free (runner);
  assert_int_equal (open_fds (), fds_before);
  kill (left, SIGKILL);
  assert_int_equal (waitpid (left, NULL, 0), left);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_ends_and_fails, setup, teardown),
    cmocka_unit_test_setup_teardown (test_output_past_the_limit_is_cut,
                                     setup, teardown),
    cmocka_unit_test_setup_teardown (test_maxruntime_kills, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cannot_start, setup, teardown),
    cmocka_unit_test_setup_teardown (test_left_job_maxruntime, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_own_and_left_side_by_side, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_job_starts_clean, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
