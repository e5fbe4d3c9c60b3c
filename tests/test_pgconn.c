/* A reconnect never waits for the database (src/pgconn.h, issue 22):
 * jq_pgconn_ensure starts it and returns, and the main loop finishes
 * the handshake with a database that answers late, or gives it up at
 * its deadline with one that never does.  The database here is a
 * listening socket of the test's own, which answers libpq's startup
 * message only when the test says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pgconn.h"

typedef struct {
  int      listener;
  char    *dsn;
  int      setups;
  int      backs;
  int      losses;
} Fake;

static gboolean
count_setup (PGconn *conn, gpointer data)
{
  ((Fake *) data)->setups++;
  return TRUE;
}

static void
count_say (const JqPgLink *link, gboolean back, gpointer data)
{
  Fake *fake = data;
  if (back)
    fake->backs++;
  else
    fake->losses++;
}

/* A socket bound to a free loopback port, not yet listening: a connect
 * to it is refused. */
static void
fake_open (Fake *fake)
{
  memset (fake, 0, sizeof *fake);
  fake->listener = socket (AF_INET, SOCK_STREAM, 0);
  assert_true (fake->listener >= 0);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  assert_int_equal (bind (fake->listener, (struct sockaddr *) &a, sizeof a),
                    0);
  socklen_t len = sizeof a;
  assert_int_equal (getsockname (fake->listener, (struct sockaddr *) &a,
                                 &len), 0);
  fake->dsn = g_strdup_printf ("host=127.0.0.1 port=%u dbname=jq user=jq "
                               "sslmode=disable gssencmode=disable",
                               ntohs (a.sin_port));
}

static void
fake_close (Fake *fake)
{
  close (fake->listener);
  g_free (fake->dsn);
}

/* A connection that failed (refused), noticed, and whose reconnect is
 * due now. */
static PGconn *
lost_connection (Fake *fake, JqPgLink *link)
{
  PGconn *conn = jq_pgconn_connect (fake->dsn, "test", 2000);
  assert_int_equal (PQstatus (conn), CONNECTION_BAD);
  *link = (JqPgLink) { .setup = count_setup, .say = count_say,
                       .data = fake };
  jq_pgconn_check (conn, link);
  assert_int_equal (fake->losses, 1);
  link->last_attempt_us -= 2 * G_USEC_PER_SEC;
  assert_int_equal (listen (fake->listener, 4), 0);
  return conn;
}

/* The main loop runs until @fd has something to read. */
static void
loop_until_readable (int fd)
{
  for (;;)
    {
      g_main_context_iteration (NULL, FALSE);
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (poll (&p, 1, 10) == 1)
        return;
    }
}

static void
test_reconnect_goes_on_while_the_loop_runs (void **state)
{
  Fake fake;
  JqPgLink link;
  fake_open (&fake);
  PGconn *conn = lost_connection (&fake, &link);

  /* Started, not waited for: the database has not said a word yet. */
  assert_false (jq_pgconn_ensure (conn, &link, 0));
  assert_non_null (link.connecting);
  assert_false (jq_pgconn_ensure (conn, &link, 0));

  int db = accept (fake.listener, NULL, NULL);
  assert_true (db >= 0);
  loop_until_readable (db);
  guint8 startup[512];
  ssize_t n = read (db, startup, sizeof startup);
  assert_true (n >= 8);
  assert_int_equal (startup[4] << 8 | startup[5], 3);   /* protocol 3 */
  assert_int_equal (fake.backs, 0);
  /* AuthenticationOk, then ReadyForQuery (idle). */
  static const guint8 answer[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0,
                                   'Z', 0, 0, 0, 5, 'I' };
  assert_int_equal (write (db, answer, sizeof answer), sizeof answer);
  while (!link.handshaken)
    g_main_context_iteration (NULL, TRUE);
  assert_null (link.connecting);
  assert_int_equal (fake.setups, 0);          /* only when asked */
  assert_true (jq_pgconn_ensure (conn, &link, 0));
  assert_int_equal (fake.setups, 1);
  assert_int_equal (fake.backs, 1);
  assert_false (link.down);
  assert_true (jq_pgconn_ensure (conn, &link, 0));
  assert_int_equal (fake.setups, 1);

  jq_pgconn_unlink (&link);
  jq_pgconn_forget (conn);
  PQfinish (conn);
  close (db);
  fake_close (&fake);
}

static void
test_silent_database_given_up_at_the_deadline (void **state)
{
  Fake fake;
  JqPgLink link;
  fake_open (&fake);
  PGconn *conn = lost_connection (&fake, &link);

  assert_false (jq_pgconn_ensure (conn, &link, 0));
  assert_non_null (link.connecting);
  /* The kernel accepts the connection; nobody ever answers it. */
  while (link.connecting != NULL)
    g_main_context_iteration (NULL, TRUE);
  assert_false (link.handshaken);
  assert_int_not_equal (PQstatus (conn), CONNECTION_OK);
  assert_int_equal (link.connect_watch, 0);
  assert_int_equal (fake.backs, 0);
  assert_int_equal (fake.losses, 1);     /* said once */
  g_autofree char *text = jq_pgconn_error_text (conn, NULL);
  assert_non_null (strstr (text, "within 2000 ms"));
  /* The next attempt starts at once: the last began 2 s ago. */
  assert_false (jq_pgconn_ensure (conn, &link, 0));
  assert_non_null (link.connecting);

  jq_pgconn_unlink (&link);
  jq_pgconn_forget (conn);
  PQfinish (conn);
  fake_close (&fake);
}

/* The database, in a thread: answers the first connection's startup
 * message at once. */
static gpointer
answer_one (gpointer data)
{
  Fake *fake = data;
  int db = accept (fake->listener, NULL, NULL);
  guint8 startup[512];
  if (db >= 0 && read (db, startup, sizeof startup) >= 8)
    {
      static const guint8 answer[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0,
                                       'Z', 0, 0, 0, 5, 'I' };
      if (write (db, answer, sizeof answer) != sizeof answer)
        close (db);
    }
  return GINT_TO_POINTER (db);
}

/* The journal's calls wait for the handshake as long as for one of
 * their statements: the call that finds the database back succeeds. */
static void
test_wait_for_a_database_that_answers (void **state)
{
  Fake fake;
  JqPgLink link;
  fake_open (&fake);
  PGconn *conn = lost_connection (&fake, &link);
  GThread *db = g_thread_new ("db", answer_one, &fake);
  assert_true (jq_pgconn_ensure (conn, &link, 60000));
  assert_int_equal (fake.setups, 1);
  assert_int_equal (fake.backs, 1);
  assert_int_equal (link.connect_watch, 0);
  close (GPOINTER_TO_INT (g_thread_join (db)));
  jq_pgconn_unlink (&link);
  jq_pgconn_forget (conn);
  PQfinish (conn);
  fake_close (&fake);
}

/* A connection finished while its reconnect is under way leaves no
 * watch behind. */
static void
test_unlink_ends_the_attempt (void **state)
{
  Fake fake;
  JqPgLink link;
  fake_open (&fake);
  PGconn *conn = lost_connection (&fake, &link);
  assert_false (jq_pgconn_ensure (conn, &link, 0));
  guint watch = link.connect_watch;
  assert_int_not_equal (watch, 0);
  jq_pgconn_unlink (&link);
  assert_null (g_main_context_find_source_by_id (NULL, watch));
  assert_null (link.connecting);
  jq_pgconn_forget (conn);
  PQfinish (conn);
  fake_close (&fake);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_reconnect_goes_on_while_the_loop_runs),
    cmocka_unit_test (test_silent_database_given_up_at_the_deadline),
    cmocka_unit_test (test_unlink_ends_the_attempt),
    cmocka_unit_test (test_wait_for_a_database_that_answers),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
