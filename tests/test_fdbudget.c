/* Tests of the descriptor budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include "fdbudget.h"

static void
test_plan (void **state)
{
  /* A service's usual soft limit, one job: (1024 - 38) / 3. */
  JqFdBudget b = jq_fdbudget_plan (1024, 1024, 1, 0, 3, 1024);
  assert_int_equal (b.reserve, 38);
  assert_int_equal (b.connections, 328);
  /* The integration test's limit. */
  assert_int_equal (jq_fdbudget_plan (128, 128, 1, 0, 3, 1024).connections, 30);
  /* More jobs at once, more kept for them. */
  b = jq_fdbudget_plan (1024, 1024, 10, 0, 3, 1024);
  assert_int_equal (b.reserve, 92);
  assert_int_equal (b.connections, 310);
  /* Plenty: capped (each connection is a thread). */
  assert_int_equal (jq_fdbudget_plan (1 << 20, 1024, 1, 0, 3, 1024).connections,
                    1024);
  /* Too few for the reserve: still one connection, never 0 or a wrap. */
  assert_int_equal (jq_fdbudget_plan (20, 20, 1, 0, 3, 1024).connections, 1);
  assert_int_equal (jq_fdbudget_plan (0, 0, 1000, 0, 3, 1024).connections, 1);
  /* status_listen: its 64 connections are paid for first... */
  b = jq_fdbudget_plan (1024, 1024, 1, 64, 3, 1024);
  assert_int_equal (b.other_connections, 64);
  assert_int_equal (b.reserve, 38 + 64 * 3);
  assert_int_equal (b.connections, (1024 - 38 - 192) / 3);
  /* ... when the limit pays for them; else a quarter of what is left
   * after the server and its job, never more than the limit (an outside
   * test: 230 kept of 128) */
  b = jq_fdbudget_plan (128, 128, 1, 64, 3, 1024);
  assert_int_equal (b.other_connections, (128 - 38) / 3 / 4);
  assert_int_equal (b.reserve, 38 + 7 * 3);
  assert_int_equal (b.connections, (128 - 38 - 21) / 3);
  assert_true (b.reserve + (guint64) b.connections * 3 <= 128);
  /* none without a status port; one at least with it */
  assert_int_equal (jq_fdbudget_plan (128, 128, 1, 0, 3, 1024).other_connections, 0);
  assert_int_equal (jq_fdbudget_plan (20, 20, 1, 64, 3, 1024).other_connections, 1);
}

static void
test_take_raises_soft_limit (void **state)
{
  struct rlimit before;
  assert_int_equal (getrlimit (RLIMIT_NOFILE, &before), 0);
  struct rlimit low = { .rlim_cur = 64, .rlim_max = before.rlim_max };
  if (before.rlim_max != RLIM_INFINITY && before.rlim_max < 64)
    skip ();
  assert_int_equal (setrlimit (RLIMIT_NOFILE, &low), 0);
  JqFdBudget b = jq_fdbudget_take (1, 0, 3, 1024);
  assert_int_equal (b.was, 64);
  struct rlimit now;
  assert_int_equal (getrlimit (RLIMIT_NOFILE, &now), 0);
  assert_int_equal (b.limit, now.rlim_cur);
  if (before.rlim_max != RLIM_INFINITY)
    assert_int_equal (now.rlim_cur, before.rlim_max);
  setrlimit (RLIMIT_NOFILE, &before);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_plan),
    cmocka_unit_test (test_take_raises_soft_limit),
  };
  return cmocka_run_group_tests_name ("fdbudget", tests, NULL, NULL);
}
