/* Tests of each user's share of the connections (share.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "share.h"

static void
test_per_user (void **state)
{
  assert_int_equal (jq_share_per_user (1024, 50), 512);
  assert_int_equal (jq_share_per_user (31, 50), 15);
  assert_int_equal (jq_share_per_user (1, 50), 1);      /* never 0 */
  assert_int_equal (jq_share_per_user (10, 100), 10);
  assert_int_equal (jq_share_per_user (10, 500), 10);   /* capped */
}

/* One user holds everything: it keeps its share, its busiest ones. */
static void
test_one_user_holds_all (void **state)
{
  JqShareConn c[8];
  for (int i = 0; i < 8; i++)
    c[i] = (JqShareConn) { 1001, (guint32) (i * 100), i + 10, FALSE };
  guint32 uid = 0;
  assert_int_equal (jq_share_plan (c, 8, 4, &uid), 4);
  assert_int_equal (uid, 1001);
  for (int i = 0; i < 8; i++)
    /* the four idle longest (idle 400..700 ms) go */
    assert_int_equal (c[i].cut, c[i].idle_ms >= 400);
}

/* Two users at or under their share: nothing to end; the one over loses
 * only what is beyond. */
static void
test_several_users (void **state)
{
  JqShareConn c[] = {
    { 0, 5, 1, FALSE }, { 1001, 9, 2, FALSE }, { 0, 7, 3, FALSE },
    { 1001, 1, 4, FALSE }, { G_MAXUINT32, 3, 5, FALSE },
  };
  assert_int_equal (jq_share_plan (c, 5, 2, NULL), 0);
  JqShareConn d[] = {
    { 0, 5, 1, FALSE }, { 1001, 9, 2, FALSE }, { 1001, 7, 3, FALSE },
    { 1001, 1, 4, FALSE }, { 1001, 3, 5, FALSE }, { 7, 0, 6, FALSE },
  };
  guint32 uid = 0;
  assert_int_equal (jq_share_plan (d, 6, 2, &uid), 2);
  assert_int_equal (uid, 1001);
  for (int i = 0; i < 6; i++)
    assert_int_equal (d[i].cut, d[i].fd == 2 || d[i].fd == 3);
  assert_int_equal (jq_share_plan (d, 0, 2, NULL), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_per_user),
    cmocka_unit_test (test_one_user_holds_all),
    cmocka_unit_test (test_several_users),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
