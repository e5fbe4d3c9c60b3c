/* Tests of task rendering (as Python prints a list) and authorization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "policy.h"
#include "task.h"

#define TASK(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void
check_repr (const char *const *argv, const char *expected)
{
  g_autofree char *got = jq_task_repr (argv);
  assert_string_equal (got, expected);
}

/* Expected strings are what python3 -c 'print([...])' prints. */
static void
test_repr_plain (void **state)
{
  check_repr (TASK ("bots-engine", "-cconfig"), "['bots-engine', '-cconfig']");
  check_repr ((const char *const[]) { NULL }, "[]");
  check_repr (TASK (""), "['']");
  check_repr (TASK ("a b", "/usr/bin/python2.7"),
              "['a b', '/usr/bin/python2.7']");
}

static void
test_repr_quotes (void **state)
{
  check_repr (TASK ("it's"), "[\"it's\"]");
  check_repr (TASK ("say \"hi\""), "['say \"hi\"']");
  check_repr (TASK ("both ' and \""), "['both \\' and \"']");
  check_repr (TASK ("back\\slash"), "['back\\\\slash']");
}

static void
test_repr_controls (void **state)
{
  check_repr (TASK ("t\tn\nr\r"), "['t\\tn\\nr\\r']");
  check_repr (TASK ("\x01\x1b\x7f"), "['\\x01\\x1b\\x7f']");
}

static void
test_repr_unicode (void **state)
{
  /* Printable non-ASCII stays as is. */
  check_repr (TASK ("caf\xc3\xa9", "\xe6\x97\xa5"),
              "['caf\xc3\xa9', '\xe6\x97\xa5']");
  /* U+00A0 no-break space and U+0085 are not printable: \xa0, \x85. */
  check_repr (TASK ("\xc2\xa0\xc2\x85"), "['\\xa0\\x85']");
  /* U+2028 line separator, U+200B zero width space (Cf). */
  check_repr (TASK ("\xe2\x80\xa8\xe2\x80\x8b"), "['\\u2028\\u200b']");
  /* U+E000 private use, U+10FFFF unassigned. */
  check_repr (TASK ("\xee\x80\x80\xf4\x8f\xbf\xbf"),
              "['\\ue000\\U0010ffff']");
  /* Not UTF-8 at all: each byte shown in hex. */
  check_repr (TASK ("a\xff\xfe" "b"), "['a\\xff\\xfeb']");
}

static void
test_limits (void **state)
{
  g_autoptr (GError) error = NULL;
  assert_true (jq_task_check_limits (TASK ("a", "b"), NULL));

  g_autoptr (GPtrArray) many = g_ptr_array_new ();
  for (int i = 0; i <= JQ_TASK_MAX_ARGS; i++)
    g_ptr_array_add (many, (gpointer) "x");
  g_ptr_array_add (many, NULL);
  assert_false (jq_task_check_limits ((const char *const *) many->pdata,
                                      &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_INVALID));
  assert_non_null (strstr (error->message, "arguments"));
  g_clear_error (&error);

  g_autofree char *big = g_strnfill (JQ_TASK_MAX_BYTES, 'a');
  assert_false (jq_task_check_limits (TASK ("x", big), &error));
  assert_non_null (strstr (error->message, "bytes"));
}

/* A small file system in a temporary folder T, built per test:
 *   T/usr/bin/python3.11, T/usr/bin/python3 -> python3.11
 *   T/usr/local/bin/bots-engine, bots-engine.py, my_program
 *   T/venv/bin/python -> ../../usr/bin/python3.11, T/venv/bin/bots-engine.py
 *   T/venv/lib/python3.11/site-packages/bots/    (the bots package)
 *   T/bots/                                      (the job folder)
 *   T/evil/...                                   (the attacker's)
 * PATH is T/usr/local/bin:T/usr/bin. */
typedef struct {
  char         *t;
  char         *path;
  JqTaskPolicy *policy;
} Tree;

static char *
at (Tree *tr, const char *rel)
{
  return g_build_filename (tr->t, rel, NULL);
}

static void
make_file (Tree *tr, const char *rel, int mode)
{
  g_autofree char *p = at (tr, rel);
  g_autofree char *dir = g_path_get_dirname (p);
  assert_int_equal (g_mkdir_with_parents (dir, 0755), 0);
  assert_true (g_file_set_contents (p, "#!/bin/sh\n", -1, NULL));
  assert_int_equal (chmod (p, mode), 0);
}

static void
make_link (Tree *tr, const char *target, const char *rel)
{
  g_autofree char *p = at (tr, rel);
  g_autofree char *dir = g_path_get_dirname (p);
  assert_int_equal (g_mkdir_with_parents (dir, 0755), 0);
  assert_int_equal (symlink (target, p), 0);
}

static void
make_policy (Tree *tr, const char *const *authorized, const char *python,
             const char *engine, gboolean package)
{
  g_autofree char *job_dir = at (tr, "bots");
  g_autofree char *pkg = at (tr, "venv/lib/python3.11/site-packages/bots");
  JqTaskPolicySettings s = {
    .authorized = authorized, .search_path = tr->path, .job_dir = job_dir,
    .python_executable = python, .bots_engine = engine,
    .bots_package_dir = package ? pkg : NULL,
  };
  jq_task_policy_free (tr->policy);
  tr->policy = jq_task_policy_new (&s);
}

static int
tree_setup (void **state)
{
  Tree *tr = g_new0 (Tree, 1);
  tr->t = g_dir_make_tmp ("jqtask-XXXXXX", NULL);
  make_file (tr, "usr/bin/python3.11", 0755);
  make_link (tr, "python3.11", "usr/bin/python3");
  make_file (tr, "usr/local/bin/bots-engine", 0755);
  make_file (tr, "usr/local/bin/bots-engine.py", 0755);
  make_file (tr, "usr/local/bin/my_program", 0755);
  make_file (tr, "usr/local/bin/not-executable", 0644);
  make_link (tr, "../../usr/bin/python3.11", "venv/bin/python");
  make_file (tr, "venv/bin/bots-engine.py", 0755);
  g_autofree char *pkg = at (tr, "venv/lib/python3.11/site-packages/bots");
  g_autofree char *bots = at (tr, "bots");
  g_mkdir_with_parents (pkg, 0755);
  g_mkdir_with_parents (bots, 0755);
  tr->path = g_strdup_printf ("%s/usr/local/bin:%s/usr/bin", tr->t, tr->t);
  make_policy (tr, NULL, NULL, NULL, FALSE);
  *state = tr;
  return 0;
}

static int
tree_teardown (void **state)
{
  Tree *tr = *state;
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tr->t);
  assert_int_equal (system (cmd), 0);
  jq_task_policy_free (tr->policy);
  g_free (tr->path);
  g_free (tr->t);
  g_free (tr);
  return 0;
}

/* Resolves @argv; checks that it runs @file (relative to T, NULL:
 * refused) with @arg0 and @arg1 (relative to T when they hold a slash,
 * NULL: not checked) in place of the first two. */
static void
check (Tree *tr, const char *const *argv, const char *file, const char *arg0,
       const char *arg1)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *got_file = NULL;
  g_auto (GStrv) run = jq_task_resolve (tr->policy, argv, &got_file, &error);
  if (file == NULL)
    {
      assert_null (run);
      assert_non_null (error);
      assert_false (jq_task_is_authorized (tr->policy, argv, NULL));
      return;
    }
  if (run == NULL)
    fail_msg ("refused: %s", error->message);
  g_autofree char *want = at (tr, file);
  assert_string_equal (got_file, want);
  if (arg0 != NULL)
    {
      g_autofree char *w = strchr (arg0, '/') ? at (tr, arg0) : g_strdup (arg0);
      assert_string_equal (run[0], w);
    }
  if (arg1 != NULL)
    {
      g_autofree char *w = strchr (arg1, '/') ? at (tr, arg1) : g_strdup (arg1);
      assert_string_equal (run[1], w);
    }
  for (gsize i = 2; argv[i - 1] != NULL && argv[i] != NULL; i++)
    assert_string_equal (run[i], argv[i]);
  assert_true (jq_task_is_authorized (tr->policy, argv, NULL));
}

/* A path that folds as text to T/@target, but that the kernel resolves
 * through the symlink T/lnk into T/evil, where the attacker planted a copy
 * of @target. */
static char *
trap (Tree *tr, const char *target)
{
  gsize depth = 0;
  for (const char *p = tr->t; *p; p++)
    depth += *p == '/';
  gsize n = depth + 3;
  g_autoptr (GString) inner = g_string_new ("evil");
  for (gsize i = 0; i < n; i++)
    g_string_append (inner, "/x");
  g_autofree char *inner_abs = at (tr, inner->str);
  g_mkdir_with_parents (inner_abs, 0755);
  make_link (tr, inner_abs, "lnk");
  g_autofree char *planted = g_strdup_printf ("evil%s/%s", tr->t, target);
  make_file (tr, planted, 0755);
  GString *text = g_string_new (tr->t);
  g_string_append (text, "/lnk");
  for (gsize i = 0; i < n; i++)
    g_string_append (text, "/..");
  g_string_append_printf (text, "%s/%s", tr->t, target);
  /* As text it is the real file; the old check compared just that. */
  g_autofree char *folded = g_canonicalize_filename (text->str, "/");
  g_autofree char *real = at (tr, target);
  assert_string_equal (folded, real);
  return g_string_free (text, FALSE);
}

static void
test_engine_by_name_and_path (void **state)
{
  Tree *tr = *state;
  g_autofree char *full = at (tr, "usr/local/bin/bots-engine");
  g_autofree char *odd = at (tr, "usr/local/bin/../bin/./bots-engine");
  check (tr, TASK ("bots-engine", "-cconfig", "--new"),
         "usr/local/bin/bots-engine", "usr/local/bin/bots-engine", "-cconfig");
  check (tr, TASK (full, "-cx"), "usr/local/bin/bots-engine", NULL, "-cx");
  check (tr, TASK (odd), "usr/local/bin/bots-engine",
         "usr/local/bin/bots-engine", NULL);
  check (tr, TASK ("bots-engine.py"), "usr/local/bin/bots-engine.py", NULL,
         NULL);
  check (tr, TASK ("/tmp/bots-engine"), NULL, NULL, NULL);
  check (tr, TASK ("bots-engine2"), NULL, NULL, NULL);
  check (tr, TASK ("rm", "-rf", "/"), NULL, NULL, NULL);
  check (tr, (const char *const[]) { NULL }, NULL, NULL, NULL);
  check (tr, TASK (""), NULL, NULL, NULL);
}

static void
test_symlink_tricks_are_refused (void **state)
{
  Tree *tr = *state;
  g_autofree char *engine = trap (tr, "usr/local/bin/bots-engine");
  check (tr, TASK (engine, "-cconfig"), NULL, NULL, NULL);
}

static void
test_python_trick_refused (void **state)
{
  Tree *tr = *state;
  g_autofree char *python = trap (tr, "usr/bin/python3");
  g_autofree char *script = at (tr, "usr/local/bin/bots-engine.py");
  check (tr, TASK (python, script), NULL, NULL, NULL);
}

static void
test_script_trick_refused (void **state)
{
  Tree *tr = *state;
  g_autofree char *script = trap (tr, "usr/local/bin/bots-engine.py");
  check (tr, TASK ("python3", script), NULL, NULL, NULL);
}

static void
test_python_runs_the_engine (void **state)
{
  Tree *tr = *state;
  g_autofree char *script = at (tr, "usr/local/bin/bots-engine.py");
  g_autofree char *py311 = at (tr, "usr/bin/python3.11");
  g_autofree char *alias = at (tr, "alias");
  check (tr, TASK ("python3", script, "-cconfig"), "usr/bin/python3",
         "usr/bin/python3", "usr/local/bin/bots-engine.py");
  check (tr, TASK (py311, script), "usr/bin/python3.11", NULL, NULL);
  /* Another spelling of the real script runs the real script, spelled as
   * trusted: Python takes its sys.path from that spelling. */
  make_link (tr, "usr/local/bin", "alias");
  g_autofree char *via_alias = g_build_filename (alias, "bots-engine.py",
                                                 NULL);
  check (tr, TASK ("python3", via_alias), "usr/bin/python3", NULL,
         "usr/local/bin/bots-engine.py");
  check (tr, TASK ("python3", "-c", "evil"), NULL, NULL, NULL);
  check (tr, TASK ("python3"), NULL, NULL, NULL);
  check (tr, TASK ("python3", "/tmp/bots-engine.py"), NULL, NULL, NULL);
  check (tr, TASK ("pythonista", script), NULL, NULL, NULL);
  check (tr, TASK ("python2.7", script), NULL, NULL, NULL);  /* not there */
}

/* A "virtualenv" of the attacker's: its python is a link to the real one,
 * so it is the real file, but run under the attacker's spelling it would
 * read the attacker's pyvenv.cfg and site-packages.  It runs as the
 * trusted spelling. */
static void
test_foreign_venv_runs_as_trusted_python (void **state)
{
  Tree *tr = *state;
  g_autofree char *real = at (tr, "usr/bin/python3.11");
  g_autofree char *fake = at (tr, "evil/venv/bin/python3");
  g_autofree char *script = at (tr, "usr/local/bin/bots-engine.py");
  make_link (tr, real, "evil/venv/bin/python3");
  make_file (tr, "evil/venv/pyvenv.cfg", 0644);
  check (tr, TASK (fake, script), "usr/bin/python3", "usr/bin/python3",
         NULL);
}

static void
test_relative_script_is_judged_from_the_job_folder (void **state)
{
  Tree *tr = *state;
  check (tr, TASK ("python3", "bots-engine.py"), NULL, NULL, NULL);
  make_link (tr, "../usr/local/bin/bots-engine.py", "bots/bots-engine.py");
  check (tr, TASK ("python3", "bots-engine.py", "-cx"), "usr/bin/python3",
         NULL, "usr/local/bin/bots-engine.py");
  /* a relative program with a slash: also from the job folder */
  check (tr, TASK ("./bots-engine.py"), "usr/local/bin/bots-engine.py", NULL,
         NULL);
}

static void
test_hard_link_is_another_file (void **state)
{
  Tree *tr = *state;
  g_autofree char *engine = at (tr, "usr/local/bin/bots-engine");
  g_autofree char *copy = at (tr, "bots/bots-engine");
  if (link (engine, copy) != 0)
    skip ();
  check (tr, TASK (copy), NULL, NULL, NULL);
}

static void
test_unresolvable_is_refused (void **state)
{
  Tree *tr = *state;
  make_link (tr, "loop", "loop");
  g_autofree char *loop = at (tr, "loop/../usr/local/bin/bots-engine");
  g_autofree char *missing = at (tr, "nothing/../usr/local/bin/bots-engine");
  g_autofree char *long_name = g_strnfill (5000, 'a');
  g_autofree char *long_path = g_strdup_printf ("/%s/bots-engine", long_name);
  check (tr, TASK (loop), NULL, NULL, NULL);
  check (tr, TASK (missing), NULL, NULL, NULL);
  check (tr, TASK (long_path), NULL, NULL, NULL);
  check (tr, TASK ("python3", long_path), NULL, NULL, NULL);
  /* bots-engine not on PATH */
  g_free (tr->path);
  tr->path = g_strdup ("/nonexistent");
  make_policy (tr, NULL, NULL, NULL, FALSE);
  check (tr, TASK ("bots-engine"), NULL, NULL, NULL);
}

static void
test_authorized_list (void **state)
{
  Tree *tr = *state;
  g_autofree char *prog = at (tr, "usr/local/bin/my_program");
  g_autofree char *odd = at (tr, "usr/local/bin/../bin/my_program");
  g_autofree char *trapped = trap (tr, "usr/local/bin/my_program");
  make_policy (tr, TASK (prog, "report"), NULL, NULL, FALSE);
  check (tr, TASK (prog, "p1"), "usr/local/bin/my_program", NULL, "p1");
  check (tr, TASK (odd), "usr/local/bin/my_program",
         "usr/local/bin/my_program", NULL);
  check (tr, TASK ("my_program"), "usr/local/bin/my_program",
         "usr/local/bin/my_program", NULL);
  check (tr, TASK (trapped), NULL, NULL, NULL);
  check (tr, TASK ("report"), NULL, NULL, NULL);  /* listed, not there */
  check (tr, TASK ("not-executable"), NULL, NULL, NULL);
}

static void
test_anything (void **state)
{
  Tree *tr = *state;
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;
  make_policy (tr, TASK ("*"), NULL, NULL, FALSE);
  check (tr, TASK ("my_program", "x"), "usr/local/bin/my_program",
         "my_program", "x");
  /* accepted, as Bots 3 accepted it; it cannot start */
  assert_true (jq_task_is_authorized (tr->policy, TASK ("nothing\nhere"),
                                      NULL));
  assert_null (jq_task_resolve (tr->policy, TASK ("nothing\nhere"), &file,
                                &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_NOT_FOUND));
  /* the message shows the name escaped: it goes into the log */
  assert_non_null (strstr (error->message, "'nothing\\nhere'"));
  assert_null (strchr (error->message, '\n'));
}

/* addjob's decisions remember for a second where a name was found on
 * PATH (doc/performance.md); a job's start searches afresh, so a program
 * installed after the addjob runs. */
static void
test_start_searches_path_afresh (void **state)
{
  Tree *tr = *state;
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;
  make_policy (tr, TASK ("*"), NULL, NULL, FALSE);
  assert_true (jq_task_is_authorized (tr->policy, TASK ("late", "x"), NULL));
  make_file (tr, "usr/local/bin/late", 0755);
  g_auto (GStrv) run = jq_task_resolve (tr->policy, TASK ("late", "x"), &file,
                                        &error);
  if (run == NULL)
    fail_msg ("not found at the start: %s", error->message);
  g_autofree char *want = at (tr, "usr/local/bin/late");
  assert_string_equal (file, want);
}

/* What Bots' monitor sends, built from [settings] python_executable_path
 * and botsengine_path, outside PATH. */
static void
test_bots_settings (void **state)
{
  Tree *tr = *state;
  g_autofree char *python = at (tr, "venv/bin/python");
  g_autofree char *engine = at (tr, "venv/bin/bots-engine.py");
  check (tr, TASK (python, engine, "-cconfig", ""), NULL, NULL, NULL);
  make_policy (tr, NULL, python, engine, FALSE);
  /* the venv's python keeps its own spelling (its virtualenv) */
  check (tr, TASK (python, engine, "-cconfig", ""), "venv/bin/python",
         "venv/bin/python", "venv/bin/bots-engine.py");
  check (tr, TASK (engine, "-cconfig"), "venv/bin/bots-engine.py", NULL,
         NULL);
}

static void check_scripts_dir (const char *package, const char *expected);

static void
test_bots_package_scripts_folder (void **state)
{
  Tree *tr = *state;
  g_autofree char *python = at (tr, "venv/bin/python");
  g_autofree char *engine = at (tr, "venv/bin/bots-engine.py");
  make_policy (tr, NULL, NULL, NULL, TRUE);
  check (tr, TASK (python, engine, "-cconfig"), "venv/bin/python", NULL,
         NULL);
  check (tr, TASK ("python3", engine), "usr/bin/python3", NULL, NULL);
  check (tr, TASK (engine), "venv/bin/bots-engine.py", NULL, NULL);

  /* A bare engine name not on PATH (a systemd unit's) is found in the
   * scripts' folder and runs by its full path; no other bare name is. */
  g_autofree char *on_path = at (tr, "usr/local/bin/bots-engine.py");
  assert_int_equal (unlink (on_path), 0);
  make_file (tr, "venv/bin/other", 0755);
  make_policy (tr, NULL, NULL, NULL, TRUE);
  check (tr, TASK ("bots-engine.py", "--new"), "venv/bin/bots-engine.py",
         "venv/bin/bots-engine.py", NULL);
  check (tr, TASK ("other"), NULL, NULL, NULL);
  make_policy (tr, NULL, NULL, NULL, FALSE);
  check (tr, TASK ("bots-engine.py", "--new"), NULL, NULL, NULL);
}

/* Bots 3 run in place: bots-engine.py beside the bots package folder
 * makes that folder a scripts' folder; a package folder without one
 * beside it adds nothing. */
static void
test_source_layout (void **state)
{
  Tree *tr = *state;
  make_file (tr, "src3/bots-engine.py", 0644);
  make_file (tr, "src3/other.py", 0644);
  g_autofree char *src = at (tr, "src3");
  g_autofree char *pkg = at (tr, "src3/bots");
  g_autofree char *engine = at (tr, "src3/bots-engine.py");
  g_autofree char *other = at (tr, "src3/other.py");
  JqTaskPolicySettings s = { .search_path = tr->path, .job_dir = pkg,
                             .bots_package_dir = pkg };
  jq_task_policy_free (tr->policy);
  tr->policy = jq_task_policy_new (&s);
  const char *const *dirs = jq_task_policy_get_scripts_dirs (tr->policy);
  assert_string_equal (dirs[0], src);
  assert_null (dirs[1]);
  check (tr, TASK ("python3", engine, "-cconfig", "--new"), "usr/bin/python3",
         "usr/bin/python3", "src3/bots-engine.py");
  check (tr, TASK ("python3", other), NULL, NULL, NULL);
  g_autofree char *elsewhere = at (tr, "opt/bots");
  check_scripts_dir (elsewhere, NULL);
}

static void
write_script (Tree *tr, const char *rel, const char *text)
{
  g_autofree char *p = at (tr, rel);
  g_autofree char *dir = g_path_get_dirname (p);
  assert_int_equal (g_mkdir_with_parents (dir, 0755), 0);
  assert_true (g_file_set_contents (p, text, -1, NULL));
  assert_int_equal (chmod (p, 0755), 0);
}

/* Issue 20: Bots' own Pythons are trusted whatever the PATH and the name
 * sent: the "#!" line of a Bots script, pip's "#!/bin/sh" trampoline,
 * the Python that runs Bots, each also as the file it resolves to; a
 * refusal names what was sent and what would have been accepted. */
static void
test_bots_own_pythons (void **state)
{
  Tree *tr = *state;
  make_file (tr, "opt/py/bin/python3.9", 0755);
  make_link (tr, "python3.9", "opt/py/bin/python3");
  make_file (tr, "opt/with space/bin/python3", 0755);
  make_file (tr, "opt/own/python", 0755);
  make_file (tr, "shims/python3", 0755);
  g_autofree char *shebang = g_strdup_printf ("#!%s/opt/py/bin/python3\n"
                                              "import sys\n", tr->t);
  write_script (tr, "venv/bin/bots-webserver.py", shebang);
  g_autofree char *trampoline = g_strdup_printf (
      "#!/bin/sh\n'''exec' \"%s/opt/with space/bin/python3\" \"$0\" \"$@\"\n"
      "' '''\nimport sys\n", tr->t);
  write_script (tr, "venv/bin/bots-dirmonitor", trampoline);
  g_autofree char *own = at (tr, "opt/own/python");
  g_autofree char *pkg = at (tr, "venv/lib/python3.11/site-packages/bots");
  g_autofree char *job_dir = at (tr, "bots");
  g_autofree char *path = g_strdup_printf ("%s/shims:%s", tr->t, tr->path);
  JqTaskPolicySettings s = { .search_path = path, .job_dir = job_dir,
                             .bots_python = own, .bots_package_dir = pkg };
  jq_task_policy_free (tr->policy);
  tr->policy = jq_task_policy_new (&s);
  g_autofree char *engine = at (tr, "venv/bin/bots-engine.py");
  const char *pythons[] = { "opt/py/bin/python3", "opt/py/bin/python3.9",
                            "opt/with space/bin/python3", "opt/own/python" };
  for (gsize i = 0; i < G_N_ELEMENTS (pythons); i++)
    {
      g_autofree char *python = at (tr, pythons[i]);
      check (tr, TASK (python, engine, "-cconfig"), pythons[i], pythons[i],
             "venv/bin/bots-engine.py");
      check (tr, TASK (python, "/bin/sh"), NULL, NULL, NULL);
    }
  /* another Python (a pyenv one) is not Bots' */
  make_file (tr, "opt/other/python3", 0755);
  g_autofree char *other = at (tr, "opt/other/python3");
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;
  g_auto (GStrv) ran = jq_task_resolve (tr->policy, TASK (other, engine),
                                        &file, &error);
  if (ran != NULL)
    fail_msg ("accepted as %s %s", ran[0], ran[1]);
  g_autofree char *sent = g_strdup_printf ("'%s' is neither", other);
  g_autofree char *py = at (tr, "opt/py/bin/python3");
  assert_non_null (strstr (error->message, sent));
  assert_non_null (strstr (error->message, "a Python running it: "));
  assert_non_null (strstr (error->message, py));
  assert_non_null (strstr (error->message, own));
  assert_non_null (strstr (error->message, "authorized_tasks: none"));
}

/* bots.ini re-read: the same policy object takes the new settings. */
static void
test_policy_update (void **state)
{
  Tree *tr = *state;
  g_autofree char *program = at (tr, "usr/local/bin/my_program");
  check (tr, TASK (program), NULL, NULL, NULL);
  const char *const listed[] = { program, NULL };
  JqTaskPolicySettings s = { .authorized = listed, .search_path = tr->path,
                             .job_dir = "/" };
  JqTaskPolicy *before = tr->policy;
  jq_task_policy_update (tr->policy, &s);
  assert_ptr_equal (tr->policy, before);
  check (tr, TASK (program), "usr/local/bin/my_program", NULL, NULL);
  JqTaskPolicySettings none = { .search_path = tr->path, .job_dir = "/" };
  jq_task_policy_update (tr->policy, &none);
  check (tr, TASK (program), NULL, NULL, NULL);
}

static void
check_scripts_dir (const char *package, const char *expected)
{
  JqTaskPolicySettings s = { .job_dir = "/", .bots_package_dir = package };
  g_autoptr (JqTaskPolicy) p = jq_task_policy_new (&s);
  const char *const *dirs = jq_task_policy_get_scripts_dirs (p);
  if (expected == NULL)
    assert_null (dirs[0]);
  else
    {
      assert_string_equal (dirs[0], expected);
      assert_null (dirs[1]);
    }
}

static void
test_scripts_dirs (void **state)
{
  check_scripts_dir ("/usr/local/lib/python3.11/dist-packages/bots",
                     "/usr/local/bin");
  check_scripts_dir ("/usr/lib/python3/dist-packages/bots", "/usr/bin");
  check_scripts_dir ("/home/u/.local/lib/python3.11/site-packages/bots",
                     "/home/u/.local/bin");
  check_scripts_dir ("/srv/venv/lib64/python3.9/site-packages/bots",
                     "/srv/venv/bin");
  check_scripts_dir ("/opt/bots", NULL);
  check_scripts_dir ("/lib/python3/dist-packages/bots", "/bin");
}

static void
test_repr_cut (void **state)
{
  g_autofree char *big = g_strnfill (65536, 'a');
  g_autofree char *small = jq_task_repr_cut (TASK ("bots-engine", "-cx"));
  assert_string_equal (small, "['bots-engine', '-cx']");
  g_autofree char *cut = jq_task_repr_cut (TASK ("rm", big));
  assert_true (strlen (cut) < JQ_TASK_LOG_MAX + 80);
  assert_true (g_str_has_prefix (cut, "['rm', 'aaaa"));
  assert_true (g_str_has_suffix (cut, "... [cut: the task has 2 arguments, "
                                      "65538 bytes]"));
  /* an escape is never cut in half */
  g_autofree char *ctl = g_strnfill (5000, '\x01');
  g_autofree char *c2 = jq_task_repr_cut (TASK (ctl));
  const char *dots = strstr (c2, "...");
  assert_non_null (dots);
  assert_int_equal ((dots - c2 - 2) % 4, 0);
  for (const char *p = c2 + 2; p < dots; p += 4)
    assert_int_equal (strncmp (p, "\\x01", 4), 0);
  /* a UTF-8 character is never cut either */
  g_autoptr (GString) many = g_string_new (NULL);
  for (int i = 0; i < 1000; i++)
    g_string_append (many, "\xe6\x97\xa5");
  g_autofree char *c3 = jq_task_repr_cut (TASK ("x", many->str));
  assert_true (g_utf8_validate (c3, -1, NULL));
  /* many arguments: cut too */
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  for (int i = 0; i < 1000; i++)
    g_ptr_array_add (args, (gpointer) "-x");
  g_ptr_array_add (args, NULL);
  g_autofree char *c4 = jq_task_repr_cut ((const char *const *) args->pdata);
  assert_true (strlen (c4) < JQ_TASK_LOG_MAX + 80);
  assert_true (g_str_has_suffix (c4, "[cut: the task has 1000 arguments, "
                                     "2000 bytes]"));
  /* one argument */
  g_autoptr (GString) one = g_string_new ("x=");
  jq_task_repr_append_cut (one, big, 10);
  assert_string_equal (one->str, "x='aaaaaaaaa... [cut: 65536 bytes]");
}

static void
test_split_list (void **state)
{
  g_auto (GStrv) a = jq_task_split_list (" a, b;c\n d,,;  ");
  g_auto (GStrv) b = jq_task_split_list (NULL);
  assert_true (g_strv_equal ((const char *const *) a, TASK ("a", "b", "c",
                                                            "d")));
  assert_int_equal (g_strv_length (b), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_repr_plain),
    cmocka_unit_test (test_repr_quotes),
    cmocka_unit_test (test_repr_controls),
    cmocka_unit_test (test_repr_unicode),
    cmocka_unit_test (test_limits),
    cmocka_unit_test (test_repr_cut),
#define T(fn) cmocka_unit_test_setup_teardown (fn, tree_setup, tree_teardown)
    T (test_engine_by_name_and_path),
    T (test_symlink_tricks_are_refused),
    T (test_python_trick_refused),
    T (test_script_trick_refused),
    T (test_python_runs_the_engine),
    T (test_foreign_venv_runs_as_trusted_python),
    T (test_relative_script_is_judged_from_the_job_folder),
    T (test_hard_link_is_another_file),
    T (test_unresolvable_is_refused),
    T (test_authorized_list),
    T (test_anything),
    T (test_start_searches_path_afresh),
    T (test_bots_settings),
    T (test_bots_package_scripts_folder),
    T (test_source_layout),
    T (test_bots_own_pythons),
    T (test_policy_update),
    cmocka_unit_test (test_scripts_dirs),
    cmocka_unit_test (test_split_list),
  };
  return cmocka_run_group_tests_name ("task", tests, NULL, NULL);
}
