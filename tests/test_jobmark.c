/* Tests of job marks: the environment a job gets, and finding marked jobs
 * in a made-up /proc tree (kinds of process a restarted server must and
 * must not wait for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobmark.h"

#define QUEUE G_GUINT64_CONSTANT (0x0123456789abcdef)

static void
test_environ_sets_and_replaces (void **state)
{
  (void) state;
  const char *const base[] = { "PATH=/bin", "BOTS_JOBQUEUE_JOB=99",
                               "HOME=/h", NULL };
  g_auto (GStrv) env = jq_jobmark_environ (base, QUEUE, 42);
  assert_string_equal (g_environ_getenv (env, "PATH"), "/bin");
  assert_string_equal (g_environ_getenv (env, "HOME"), "/h");
  assert_string_equal (g_environ_getenv (env, JQ_JOBMARK_JOB_ENV), "42");
  assert_string_equal (g_environ_getenv (env, JQ_JOBMARK_QUEUE_ENV),
                       "0123456789abcdef");
  assert_int_equal (g_strv_length (env), 4);
  /* the base is not changed */
  assert_string_equal (base[1], "BOTS_JOBQUEUE_JOB=99");
}

/* Writes a made-up /proc/@pid with the given stat fields and environ
 * (@environ_len bytes; NULL: no environ file, as for another user's). */
static void
fake_process (const char *root, int pid, const char *comm, char state,
              int pgrp, int session, const char *environ, gsize environ_len)
{
  g_autofree char *dir = g_strdup_printf ("%s/%d", root, pid);
  g_autofree char *stat_path = g_build_filename (dir, "stat", NULL);
  g_autofree char *env_path = g_build_filename (dir, "environ", NULL);
  g_autofree char *stat = g_strdup_printf (
      "%d (%s) %c 1 %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 "
      "1000 100 18446744073709551615\n", pid, comm, state, pgrp, session);
  assert_int_equal (g_mkdir_with_parents (dir, 0755), 0);
  assert_true (g_file_set_contents (stat_path, stat, -1, NULL));
  if (environ != NULL)
    assert_true (g_file_set_contents (env_path, environ, environ_len, NULL));
}

#define ENV(s) s, sizeof s - 1
#define MARKS(job) "BOTS_JOBQUEUE_ID=0123456789abcdef\0BOTS_JOBQUEUE_JOB=" job "\0"

/* Kinds of process a restarted server must and must not wait for. */
static const struct {
  int         pid;
  const char *comm;
  char        state;
  int         pgrp, session;
  const char *environ;     /* NULL: unreadable, as another user's */
  gsize       environ_len;
} processes[] = {
  /* a job: group leader, not session leader */
  { 100, "bots-engine", 'S', 100, 50, ENV ("A=1\0" MARKS ("7")) },
  /* a child of that job: same marks, not the group leader */
  { 101, "python3", 'S', 100, 50, ENV (MARKS ("7")) },
  /* a daemon a job left behind: setsid() made it a session leader */
  { 102, "daemon", 'S', 102, 102, ENV (MARKS ("8")) },
  /* a zombie */
  { 103, "gone", 'Z', 103, 50, ENV (MARKS ("9")) },
  /* another queue's job */
  { 104, "bots-engine", 'S', 104, 50,
    ENV ("BOTS_JOBQUEUE_ID=fedcba9876543210\0BOTS_JOBQUEUE_JOB=10\0") },
  /* another user's process */
  { 105, "sshd", 'S', 105, 50, NULL, 0 },
  /* ") (" in the command name; the last entry not NUL-terminated */
  { 106, "a) (b", 'R', 106, 50,
    ENV ("BOTS_JOBQUEUE_JOB=11\0BOTS_JOBQUEUE_ID=0123456789abcdef") },
  /* marks malformed or cut short */
  { 107, "x", 'S', 107, 50, ENV (MARKS ("12x")) },
  { 108, "x", 'S', 108, 50,
    ENV ("BOTS_JOBQUEUE_ID=0123456789abcdef\0BOTS_JOBQUEUE_JOB") },
};

static void
test_find_in_proc (void **state)
{
  (void) state;
  g_autofree char *root = g_dir_make_tmp ("jqproc-XXXXXX", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (processes); i++)
    fake_process (root, processes[i].pid, processes[i].comm,
                  processes[i].state, processes[i].pgrp,
                  processes[i].session, processes[i].environ,
                  processes[i].environ_len);
  g_autofree char *self = g_build_filename (root, "self", NULL);
  assert_int_equal (g_mkdir (self, 0755), 0);
  /* another user's process with a copied mark (only root can make one) */
  if (geteuid () == 0)
    {
      fake_process (root, 109, "bots-engine", 'S', 109, 50,
                    ENV (MARKS ("13")));
      g_autofree char *other = g_build_filename (root, "109", NULL);
      assert_int_equal (chown (other, 65534, 65534), 0);
    }

  g_autoptr (GHashTable) found = jq_jobmark_find (root, QUEUE);
  assert_int_equal (g_hash_table_size (found), 2);
  guint64 seven = 7, eleven = 11;
  assert_int_equal (GPOINTER_TO_INT (g_hash_table_lookup (found, &seven)),
                    100);
  assert_int_equal (GPOINTER_TO_INT (g_hash_table_lookup (found, &eleven)),
                    106);

  /* A job's whole tree, for killing it: the leader and its child, not
   * another job's daemon, not a zombie (whose marks cannot be read). */
  g_autoptr (GArray) tree = jq_jobmark_find_job (root, QUEUE, 7);
  assert_int_equal (tree->len, 2);
  int a = g_array_index (tree, int, 0), b = g_array_index (tree, int, 1);
  assert_int_equal (MIN (a, b), 100);
  assert_int_equal (MAX (a, b), 101);
  /* the daemon that called setsid() belongs to job 8's tree */
  g_autoptr (GArray) daemon = jq_jobmark_find_job (root, QUEUE, 8);
  assert_int_equal (daemon->len, 1);
  assert_int_equal (g_array_index (daemon, int, 0), 102);
  g_autoptr (GArray) gone = jq_jobmark_find_job (root, QUEUE, 9);
  assert_int_equal (gone->len, 0);
  /* every job of the queue: 100, 101, 102, 106 */
  g_autoptr (GArray) all = jq_jobmark_find_job (root, QUEUE, 0);
  assert_int_equal (all->len, 4);
  assert_int_equal (jq_jobmark_number (root, 101, QUEUE), 7);
  assert_int_equal (jq_jobmark_number (root, 104, QUEUE), 0);
  assert_int_equal (jq_jobmark_number (root, 105, QUEUE), 0);
  /* a zombie's group is still known, also that of a ") (" command, and
   * an absent process has none */
  assert_int_equal (jq_jobmark_process_group (root, 103), 103);
  assert_int_equal (jq_jobmark_process_group (root, 101), 100);
  assert_int_equal (jq_jobmark_process_group (root, 106), 106);
  assert_int_equal (jq_jobmark_process_group (root, 999), -1);

  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  assert_int_equal (system (cmd), 0);
}

static void
test_find_without_proc (void **state)
{
  (void) state;
  g_autoptr (GHashTable) found = jq_jobmark_find ("/nonexistent/proc", QUEUE);
  assert_int_equal (g_hash_table_size (found), 0);
}

static void
test_same_process (void **state)
{
  (void) state;
  assert_false (jq_jobmark_is_same_process (0, g_get_real_time ()));
  assert_false (jq_jobmark_is_same_process (1, g_get_real_time ()));
  assert_false (jq_jobmark_is_same_process (getpid (), 0));
  /* a child leading its own group, started just now */
  pid_t child = fork ();
  if (child == 0)
    {
      setpgid (0, 0);
      pause ();
      _exit (0);
    }
  setpgid (child, child);  /* either side may win the race */
  gint64 now = g_get_real_time ();
  assert_true (jq_jobmark_is_same_process (child, now));
  /* recorded as started an hour ago: a reused pid */
  assert_false (jq_jobmark_is_same_process (child, now - (gint64) 3600 * G_USEC_PER_SEC));
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  assert_false (jq_jobmark_is_same_process (child, now));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_environ_sets_and_replaces),
    cmocka_unit_test (test_find_in_proc),
    cmocka_unit_test (test_find_without_proc),
    cmocka_unit_test (test_same_process),
  };
  return cmocka_run_group_tests_name ("jobmark", tests, NULL, NULL);
}
