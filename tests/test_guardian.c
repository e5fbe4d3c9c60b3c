/* The guardian (src/guardian.h): when its server's end closes (the
 * server died), it kills the process group of every job still enlisted,
 * even when the job's own process has ended and left members behind; it
 * never kills a group it was not told of, even one that now has the
 * number of a job it was told of (a reused pid), and not one whose job
 * was released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guardian.h"

/* The orphans of the test's jobs become the test's children, to be
 * reaped and asked how they ended. */
static int
setup (void **state)
{
  assert_int_equal (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
  return 0;
}

/* A job as the runner starts one: its own group, enlisted by itself.
 * With @stay its process just waits; without, it starts a member of its
 * group and ends at once, leaving the member behind (our child then: we
 * are the subreaper), and it is reaped.  Returns the member (0 with
 * @stay) and the job's own process in *@leader. */
static pid_t
start_job (JqGuardian *g, gboolean stay, pid_t *leader)
{
  int fds[2];
  assert_int_equal (pipe (fds), 0);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      setpgid (0, 0);
      if (!jq_guardian_enlist_self (jq_guardian_fd (g)))
        _exit (2);
      close (jq_guardian_fd (g));   /* as a job's exec does */
      pid_t member = 0;
      if (!stay && (member = fork ()) == 0)
        for (;;)
          pause ();
      if (write (fds[1], &member, sizeof member) != sizeof member)
        _exit (3);
      while (stay)
        pause ();
      _exit (0);
    }
  close (fds[1]);
  pid_t member = 0;
  assert_int_equal (read (fds[0], &member, sizeof member), sizeof member);
  close (fds[0]);
  if (!stay)
    {
      int status;
      assert_int_equal (waitpid (pid, &status, 0), pid);
      assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
  *leader = pid;
  return member;
}

static gboolean
was_killed (pid_t pid)
{
  int status;
  return waitpid (pid, &status, 0) == pid && WIFSIGNALED (status)
         && WTERMSIG (status) == SIGKILL;
}

static gboolean
still_runs (pid_t pid)
{
  int status;
  return waitpid (pid, &status, WNOHANG) == 0;
}

static void
end (pid_t pid)
{
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
}

/* The job's own process died (the parent-death signal's part); the
 * member it left in its group dies with the server, the guardian's. */
static void
test_kills_what_a_job_left_in_its_group (void **state)
{
  JqGuardian *g = jq_guardian_start (NULL);
  assert_non_null (g);
  pid_t leader;
  pid_t member = start_job (g, FALSE, &leader);
  pid_t running;
  start_job (g, TRUE, &running);
  jq_guardian_free (g, TRUE);      /* the server's end closes */
  assert_true (was_killed (member));
  assert_true (was_killed (running));
}

/* A job that ended and was released is not the guardian's any more:
 * what it left runs on (it is not a job being run). */
static void
test_spares_a_released_job (void **state)
{
  JqGuardian *g = jq_guardian_start (NULL);
  assert_non_null (g);
  pid_t leader;
  pid_t member = start_job (g, FALSE, &leader);
  jq_guardian_release (g, leader);
  jq_guardian_free (g, TRUE);
  assert_true (still_runs (member));
  end (member);
}

/* A process with exactly @pid (clone3's set_tid: root only), leading
 * its own group; -1 when the pid could not be had. */
static pid_t
clone_with_pid (pid_t pid)
{
  struct clone_args args;
  memset (&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.set_tid = (guint64) (guintptr) &pid;
  args.set_tid_size = 1;
  long child = syscall (SYS_clone3, &args, sizeof args);
  if (child == 0)
    {
      setpgid (0, 0);
      syscall (SYS_close_range, 3U, ~0U, 0U);   /* not the server's end */
      for (;;)
        pause ();
    }
  if (child > 0)
    setpgid ((pid_t) child, (pid_t) child);   /* whichever runs first */
  return (pid_t) child;
}

/* A job enlisted and never released (its exec failed, or the server
 * died between reaping it and telling the guardian): once its pid is a
 * stranger's process group, the guardian must not kill that group.
 * Before, it killed by number (an outside test). */
static void
test_never_kills_a_reused_group (void **state)
{
  if (geteuid () != 0)
    {
      print_message ("skipped: choosing a pid (clone3 set_tid) needs root\n");
      skip ();
    }
  JqGuardian *g = jq_guardian_start (NULL);
  assert_non_null (g);
  pid_t stranger = -1;
  for (int tries = 0; stranger < 0 && tries < 100; tries++)
    {
      pid_t job = fork ();
      assert_true (job >= 0);
      if (job == 0)
        {
          setpgid (0, 0);
          _exit (jq_guardian_enlist_self (jq_guardian_fd (g)) ? 0 : 2);
        }
      int status;
      assert_int_equal (waitpid (job, &status, 0), job);
      assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
      /* Its pid is free again: a stranger's group takes it (another
       * process of the machine may have taken it first: try again). */
      stranger = clone_with_pid (job);
      assert_true (stranger >= 0 || errno == EEXIST);
    }
  assert_true (stranger > 0);
  jq_guardian_free (g, TRUE);
  assert_true (still_runs (stranger));
  end (stranger);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup (test_kills_what_a_job_left_in_its_group, setup),
    cmocka_unit_test_setup (test_spares_a_released_job, setup),
    cmocka_unit_test_setup (test_never_kills_a_reused_group, setup),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
