/* Tests of who is calling: the parsing of the kernel's answers (pure),
 * and one look-up of a real loopback connection of this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"
#include "peer.h"

static void
set_v4 (struct sockaddr_storage *ss, const char *ip, guint16 port)
{
  struct sockaddr_in *a = (struct sockaddr_in *) ss;
  memset (ss, 0, sizeof *ss);
  a->sin_family = AF_INET;
  a->sin_port = htons (port);
  inet_pton (AF_INET, ip, &a->sin_addr);
}

static void
set_v6 (struct sockaddr_storage *ss, const char *ip, guint16 port)
{
  struct sockaddr_in6 *a = (struct sockaddr_in6 *) ss;
  memset (ss, 0, sizeof *ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons (port);
  inet_pton (AF_INET6, ip, &a->sin6_addr);
}

/* Rows as the kernel prints them on a little-endian machine: the client
 * 127.0.0.1:51234 (0xC822) calling 127.0.0.1:28082 (0x6DB2), uid 1001;
 * the server's own end of it, uid 0; a listening socket. */
static const char proc_tcp[] =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
  "retrnsmt   uid  timeout inode\n"
  "   0: 0100007F:6DB2 00000000:0000 0A 00000000:00000000 00:00000000 "
  "00000000     0        0 1001 1 0000000000000000 100 0 0 10 0\n"
  "   1: 0100007F:6DB2 0100007F:C822 01 00000000:00000000 00:00000000 "
  "00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1\n"
  "   2: 0100007F:C822 0100007F:6DB2 01 00000000:00000000 00:00000000 "
  "00000000  1001        0 1003 1 0000000000000000 20 4 30 10 -1\n"
  "   3: 0100007F:C823 0100007F:6DB2 06 00000000:00000000 03:00000F9A "
  "00000000     0        0 0 3 0000000000000000\n";

static void
test_proc_net_tcp (void **state)
{
  if (htonl (1) == 1)
    skip ();   /* the rows above are a little-endian machine's */
  JqPeerTuple t;
  set_v4 (&t.client, "127.0.0.1", 51234);
  set_v4 (&t.server, "127.0.0.1", 28082);
  uid_t uid = 0;
  assert_true (jq_peer_proc_net_find (proc_tcp, &t, &uid));
  assert_int_equal (uid, 1001);
  /* The server's own end is not the caller's socket; a port that is not
   * there finds nothing. */
  set_v4 (&t.client, "127.0.0.1", 51235);
  assert_false (jq_peer_proc_net_find (proc_tcp, &t, &uid));
  set_v4 (&t.client, "127.0.0.2", 51234);
  assert_false (jq_peer_proc_net_find (proc_tcp, &t, &uid));
  /* Cut and odd text: nothing found, nothing read past the end. */
  for (gsize n = 0; n < sizeof proc_tcp - 1; n += 7)
    {
      g_autofree char *cut = g_strndup (proc_tcp, n);
      set_v4 (&t.client, "127.0.0.1", 51234);
      uid_t u = 0;
      if (jq_peer_proc_net_find (cut, &t, &u))
        assert_int_equal (u, 1001);
    }
  /* A closed caller's remnant (TIME-WAIT, uid 0, inode 0): no caller. */
  set_v4 (&t.client, "127.0.0.1", 51235);
  assert_false (jq_peer_proc_net_find (proc_tcp, &t, &uid));
  assert_false (jq_peer_proc_net_find ("", &t, &uid));
  assert_false (jq_peer_proc_net_find ("x\n 0: zz:1 0:0\n", &t, &uid));
}

static const char proc_tcp6[] =
  "  sl  local_address                         remote_address"
  "                        st tx_queue rx_queue tr tm->when retrnsmt"
  "   uid  timeout inode\n"
  "   0: 00000000000000000000000001000000:C822 "
  "00000000000000000000000001000000:6DB2 01 00000000:00000000 "
  "00:00000000 00000000   999        0 2001 1 0 20 4 30 10 -1\n";

static void
test_proc_net_tcp6 (void **state)
{
  if (htonl (1) == 1)
    skip ();
  JqPeerTuple t;
  set_v6 (&t.client, "::1", 51234);
  set_v6 (&t.server, "::1", 28082);
  uid_t uid = 0;
  assert_true (jq_peer_proc_net_find (proc_tcp6, &t, &uid));
  assert_int_equal (uid, 999);
}

static void
test_unmap (void **state)
{
  JqPeerTuple t;
  set_v6 (&t.client, "::ffff:127.0.0.1", 51234);
  set_v6 (&t.server, "::ffff:127.0.0.2", 28082);
  jq_peer_tuple_unmap (&t);
  assert_int_equal (t.client.ss_family, AF_INET);
  assert_int_equal (ntohs (((struct sockaddr_in *) &t.server)->sin_port),
                    28082);
  assert_int_equal (ntohl (((struct sockaddr_in *) &t.server)->sin_addr.s_addr),
                    0x7f000002);
  /* A real IPv6 pair stays. */
  set_v6 (&t.client, "::1", 1);
  set_v6 (&t.server, "::ffff:127.0.0.1", 2);
  jq_peer_tuple_unmap (&t);
  assert_int_equal (t.client.ss_family, AF_INET6);
  assert_int_equal (t.server.ss_family, AF_INET6);
}

static void
test_diag_request_and_answer (void **state)
{
  JqPeerTuple t;
  set_v4 (&t.client, "127.0.0.1", 51234);
  set_v4 (&t.server, "127.0.0.3", 28082);
  guint8 buf[JQ_PEER_REQUEST_MAX];
  gsize n = jq_peer_diag_request (&t, 77, buf);
  struct nlmsghdr h;
  struct inet_diag_req_v2 r;
  assert_true (n == sizeof h + sizeof r);
  memcpy (&h, buf, sizeof h);
  memcpy (&r, buf + sizeof h, sizeof r);
  assert_int_equal (h.nlmsg_len, n);
  assert_int_equal (h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  assert_int_equal (h.nlmsg_seq, 77);
  assert_int_equal (r.sdiag_family, AF_INET);
  assert_int_equal (r.sdiag_protocol, IPPROTO_TCP);
  /* The caller's end is the socket's own (src). */
  assert_int_equal (ntohs (r.id.idiag_sport), 51234);
  assert_int_equal (ntohs (r.id.idiag_dport), 28082);
  assert_int_equal (ntohl (r.id.idiag_src[0]), 0x7f000001);
  assert_int_equal (ntohl (r.id.idiag_dst[0]), 0x7f000003);

  /* An answer holding the socket. */
  guint8 answer[NLMSG_SPACE (sizeof (struct inet_diag_msg))];
  memset (answer, 0, sizeof answer);
  struct nlmsghdr *ah = (struct nlmsghdr *) answer;
  ah->nlmsg_len = NLMSG_LENGTH (sizeof (struct inet_diag_msg));
  ah->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  ah->nlmsg_seq = 77;
  struct inet_diag_msg *m = NLMSG_DATA (ah);
  m->idiag_uid = 4242;
  m->idiag_inode = 99;
  uid_t uid = 0;
  assert_true (jq_peer_diag_answer (answer, sizeof answer, 77, &uid));
  assert_int_equal (uid, 4242);
  /* A socket its caller has closed (inode 0; a TIME-WAIT remnant says
   * uid 0): no caller, never root. */
  m->idiag_inode = 0;
  m->idiag_uid = 0;
  uid = 4242;
  assert_false (jq_peer_diag_answer (answer, sizeof answer, 77, &uid));
  assert_int_equal (uid, 4242);
  m->idiag_inode = 99;
  /* Another look-up's, cut, or an error: not found. */
  assert_false (jq_peer_diag_answer (answer, sizeof answer, 78, &uid));
  assert_false (jq_peer_diag_answer (answer, ah->nlmsg_len - 1, 77, &uid));
  assert_false (jq_peer_diag_answer (answer, 3, 77, &uid));
  ah->nlmsg_type = NLMSG_ERROR;
  assert_false (jq_peer_diag_answer (answer, sizeof answer, 77, &uid));
}

/* A real connection of this process to itself: its uid is ours. */
static void
test_lookup_own_connection (void **state)
{
  int listener = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET };
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  assert_int_equal (bind (listener, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (listen (listener, 1), 0);
  getsockname (listener, (struct sockaddr *) &a, &len);
  int client = socket (AF_INET, SOCK_STREAM, 0);
  assert_int_equal (connect (client, (struct sockaddr *) &a, sizeof a), 0);
  int served = accept (listener, NULL, NULL);
  assert_true (served >= 0);

  JqPeerTuple t;
  uid_t uid = (uid_t) -1;
  assert_true (jq_peer_tuple_of_socket (served, &t));
  assert_true (jq_peer_uid (&t, &uid));
  assert_int_equal (uid, geteuid ());
  /* The server's own end, asked as if it were a caller: that socket is
   * the server's, and nobody calls from the listening port. */
  JqPeerTuple swapped = { t.server, t.client };
  assert_true (jq_peer_uid (&swapped, &uid));
  close (client);
  close (served);
  close (listener);
}

static void
test_caller_labels (void **state)
{
  JqCaller c;
  char buf[128];
  jq_caller_init (&c, TRUE, 0, NULL);
  assert_string_equal (c.label, "user root");
  assert_true (c.admin);
  jq_caller_init (&c, TRUE, 4000000, "127.0.0.1");
  assert_string_equal (c.label, "uid 4000000");
  assert_false (c.own);
  assert_string_equal (jq_caller_suffix (&c, TRUE, buf, sizeof buf),
                       " (by uid 4000000)");
  jq_caller_init (&c, FALSE, 0, "192.0.2.7");
  assert_string_equal (c.label, "an unknown caller at 192.0.2.7");
  assert_false (c.admin);
  /* Bots' own lines stay Bots' for the server's own user; ours name it. */
  jq_caller_init_self (&c);
  assert_true (c.own);
  assert_string_equal (jq_caller_suffix (&c, TRUE, buf, sizeof buf), "");
  assert_true (g_str_has_prefix (jq_caller_suffix (&c, FALSE, buf,
                                                   sizeof buf), " (by "));
  assert_string_equal (jq_caller_suffix (NULL, FALSE, buf, sizeof buf), "");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_proc_net_tcp),
    cmocka_unit_test (test_proc_net_tcp6),
    cmocka_unit_test (test_unmap),
    cmocka_unit_test (test_diag_request_and_answer),
    cmocka_unit_test (test_lookup_own_connection),
    cmocka_unit_test (test_caller_labels),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
