/* repr() of a Python float, against Python itself: tests/data/
 * float-repr.txt holds doubles (exact, as float.hex()) and what Python 3
 * printed for each (written by tests/data/float-repr.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyfloat.h"

static void
check (double v, const char *want)
{
  char got[JQ_PY_FLOAT_MAX];
  jq_py_float_repr (v, got);
  if (strcmp (got, want) != 0)
    fail_msg ("repr(%a): got %s, Python says %s", v, got, want);
}

static void
test_known (void **state)
{
  check (2.0034561157226562, "2.0034561157226562");
  check (2.0, "2.0");
  check (0.1, "0.1");                 /* "%.17g" says 0.10000000000000001 */
  check (0.0001, "0.0001");
  check (0.00001, "1e-05");
  check (1e16, "1e+16");
  check (1e15, "1000000000000000.0");
  check (123.456, "123.456");
  check (-0.0, "-0.0");
  check (5e-324, "5e-324");
  check (1.7976931348623157e308, "1.7976931348623157e+308");
  check (INFINITY, "inf");
  check (-INFINITY, "-inf");
  check (NAN, "nan");
}

static void
test_against_python (void **state)
{
  g_autofree char *path = g_build_filename (SRCDIR, "tests", "data",
                                            "float-repr.txt", NULL);
  g_autofree char *text = NULL;
  assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint checked = 0;
  for (char **l = lines; *l != NULL; l++)
    {
      if ((*l)[0] == '#' || (*l)[0] == '\0')
        continue;
      g_auto (GStrv) f = g_strsplit (*l, " ", 2);
      assert_non_null (f[1]);
      char *end = NULL;
      double v = strtod (f[0], &end);
      assert_true (*end == '\0');
      check (v, f[1]);
      checked++;
    }
  assert_true (checked > 1500);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_known),
    cmocka_unit_test (test_against_python),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
