/* Tests of task rendering (as Python prints a list) and authorization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"
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

/* A PATH where bots-engine lives in /usr/local/bin, bots-engine.py in
 * /opt/bots/bin and python3 in /usr/bin. */
static char *
fake_lookup (const char *program, gpointer user_data)
{
  (*(int *) user_data)++;
  if (strcmp (program, "bots-engine") == 0)
    return g_strdup ("/usr/local/bin/bots-engine");
  if (strcmp (program, "bots-engine.py") == 0)
    return g_strdup ("/opt/bots/bin/bots-engine.py");
  if (g_str_has_prefix (program, "python"))
    return g_strdup_printf ("/usr/bin/%s", program);
  return NULL;
}

static gboolean
authorized (const char *const *argv, const char *const *list)
{
  int calls = 0;
  return jq_task_is_authorized (argv, list, fake_lookup, &calls);
}

static void
test_authorized_bots4 (void **state)
{
  assert_true (authorized (TASK ("bots-engine"), NULL));
  assert_true (authorized (TASK ("bots-engine", "-cconfig", "--new"), NULL));
  assert_true (authorized (TASK ("/usr/local/bin/bots-engine", "-cx"), NULL));
  /* A look-alike outside PATH is not bots-engine. */
  assert_false (authorized (TASK ("/tmp/bots-engine"), NULL));
  assert_false (authorized (TASK ("bots-engine2"), NULL));
  assert_false (authorized (TASK ("rm", "-rf", "/"), NULL));
  assert_false (authorized ((const char *const[]) { NULL }, NULL));
}

static void
test_authorized_bots3 (void **state)
{
  assert_true (authorized (TASK ("bots-engine.py", "-cconfig"), NULL));
  assert_true (authorized (TASK ("/usr/bin/python2.7",
                                 "/opt/bots/bin/bots-engine.py", "-cconfig",
                                 "--new"), NULL));
  assert_true (authorized (TASK ("python3", "bots-engine", "-cc"), NULL));
  assert_true (authorized (TASK ("python", "/usr/local/bin/bots-engine"),
                           NULL));
  /* Interpreter or script from the wrong place. */
  assert_false (authorized (TASK ("/tmp/python3", "bots-engine.py"), NULL));
  assert_false (authorized (TASK ("python3", "/tmp/bots-engine.py"), NULL));
  /* A Python running something else. */
  assert_false (authorized (TASK ("python3", "-c", "evil"), NULL));
  assert_false (authorized (TASK ("python3"), NULL));
  assert_false (authorized (TASK ("pythonista", "bots-engine.py"), NULL));
}

static void
test_authorized_list (void **state)
{
  const char *const *list = TASK ("/usr/local/bin/my_program", "report");
  assert_true (authorized (TASK ("/usr/local/bin/my_program", "p1"), list));
  assert_true (authorized (TASK ("report"), list));
  assert_false (authorized (TASK ("my_program"), list));
  assert_false (authorized (TASK ("/usr/bin/report"), list));
  assert_true (authorized (TASK ("anything", "at all"), TASK ("*")));
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
    cmocka_unit_test (test_authorized_bots4),
    cmocka_unit_test (test_authorized_bots3),
    cmocka_unit_test (test_authorized_list),
    cmocka_unit_test (test_split_list),
  };
  return cmocka_run_group_tests_name ("task", tests, NULL, NULL);
}
