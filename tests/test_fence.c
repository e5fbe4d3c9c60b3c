/* The fence (src/fence.h): at its deadline it kills the process group of
 * each child that leads its own (a job), and no other process; its
 * owner hears of it on the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fence.h"

/* A child that waits for a signal: in a group of its own (@own_group),
 * as a job, or in ours, as a report command. */
static pid_t
spawn_waiting (gboolean own_group)
{
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (own_group)
        setpgid (0, 0);
      for (;;)
        pause ();
    }
  if (own_group)
    setpgid (pid, pid);   /* whichever runs first */
  return pid;
}

/* A child like the jobs' guardian: a session (so a group) of its own. */
static pid_t
spawn_session_leader (void)
{
  int ready[2];
  assert_int_equal (pipe (ready), 0);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      close (ready[0]);
      if (setsid () < 0)
        _exit (1);
      close (ready[1]);           /* it is a session leader now */
      for (;;)
        pause ();
    }
  close (ready[1]);
  char c;
  assert_int_equal (read (ready[0], &c, 1), 0);
  close (ready[0]);
  return pid;
}

static gboolean
on_fired (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
test_kills_the_jobs_at_the_deadline (void **state)
{
  pid_t job = spawn_waiting (TRUE);
  pid_t other = spawn_waiting (FALSE);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  JqFence *fence = jq_fence_new (on_fired, loop);
  jq_fence_arm (fence, g_get_monotonic_time () + 1000);
  g_main_loop_run (loop);          /* until the fence has fired */
  int status = 0;
  assert_int_equal (waitpid (job, &status, 0), job);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGKILL);
  /* not a job: untouched */
  assert_int_equal (waitpid (other, &status, WNOHANG), 0);
  kill (other, SIGKILL);
  waitpid (other, &status, 0);
  jq_fence_free (fence);
}

static void
test_a_renewal_pushes_the_deadline_away (void **state)
{
  pid_t job = spawn_waiting (TRUE);
  JqFence *fence = jq_fence_new (NULL, NULL);
  jq_fence_arm (fence, g_get_monotonic_time () + (gint64) 3600 * G_USEC_PER_SEC);
  jq_fence_arm (fence, 0);         /* disarmed: nothing is killed */
  jq_fence_free (fence);
  int status;
  assert_int_equal (waitpid (job, &status, WNOHANG), 0);
  assert_int_equal (jq_fence_kill_children ("/proc"), 1);
  assert_int_equal (waitpid (job, &status, 0), job);
  assert_int_equal (WTERMSIG (status), SIGKILL);
}

/* The guardian is not a job: the fence once killed it, and the server
 * ran without one until it noticed (an outside test). */
static void
test_spares_a_child_in_a_session_of_its_own (void **state)
{
  pid_t guardian = spawn_session_leader ();
  pid_t job = spawn_waiting (TRUE);
  assert_int_equal (jq_fence_kill_children ("/proc"), 1);
  int status;
  assert_int_equal (waitpid (job, &status, 0), job);
  assert_int_equal (waitpid (guardian, &status, WNOHANG), 0);
  kill (guardian, SIGKILL);
  waitpid (guardian, &status, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_kills_the_jobs_at_the_deadline),
    cmocka_unit_test (test_a_renewal_pushes_the_deadline_away),
    cmocka_unit_test (test_spares_a_child_in_a_session_of_its_own),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
