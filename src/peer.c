/* Who is calling: the uid behind a TCP connection from this host (see
 * peer.h).
 *
 * One netlink socket serves every look-up, under a lock: a look-up is one
 * send and one receive of about 200 bytes, and a socket per Abyss thread
 * would cost a descriptor per connection that the descriptor budget
 * (fdbudget.h) does not pay for. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "peer.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A netlink answer that does not come within this long is given up on
 * (it always comes; this only keeps a kernel oddity from hanging a
 * connection's thread). */
#define DIAG_TIMEOUT_MS 1000

gboolean
jq_peer_tuple_of_socket (int fd, JqPeerTuple *tuple)
{
  socklen_t own = sizeof tuple->server, peer = sizeof tuple->client;
  memset (tuple, 0, sizeof *tuple);
  if (getsockname (fd, (struct sockaddr *) &tuple->server, &own) != 0
      || getpeername (fd, (struct sockaddr *) &tuple->client, &peer) != 0)
    return FALSE;
  int family = tuple->server.ss_family;
  return (family == AF_INET || family == AF_INET6)
         && tuple->client.ss_family == family;
}

static void
unmap_one (struct sockaddr_storage *ss)
{
  struct sockaddr_in6 six = *(struct sockaddr_in6 *) ss;
  struct sockaddr_in *four = (struct sockaddr_in *) ss;
  memset (ss, 0, sizeof *ss);
  four->sin_family = AF_INET;
  four->sin_port = six.sin6_port;
  memcpy (&four->sin_addr, &six.sin6_addr.s6_addr[12], 4);
}

void
jq_peer_tuple_unmap (JqPeerTuple *tuple)
{
  const struct sockaddr_in6 *c = (const struct sockaddr_in6 *) &tuple->client;
  const struct sockaddr_in6 *s = (const struct sockaddr_in6 *) &tuple->server;
  if (tuple->client.ss_family != AF_INET6
      || tuple->server.ss_family != AF_INET6
      || !IN6_IS_ADDR_V4MAPPED (&c->sin6_addr)
      || !IN6_IS_ADDR_V4MAPPED (&s->sin6_addr))
    return;
  unmap_one (&tuple->client);
  unmap_one (&tuple->server);
}

/* The port (network order) and address bytes of @ss. */
static const void *
address_of (const struct sockaddr_storage *ss, guint16 *port, gsize *len)
{
  if (ss->ss_family == AF_INET)
    {
      const struct sockaddr_in *a = (const struct sockaddr_in *) ss;
      *port = a->sin_port;
      *len = 4;
      return &a->sin_addr;
    }
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;
  *port = a->sin6_port;
  *len = 16;
  return &a->sin6_addr;
}

gsize
jq_peer_diag_request (const JqPeerTuple *tuple, guint32 seq, guint8 *buf)
{
  struct {
    struct nlmsghdr         header;
    struct inet_diag_req_v2 req;
  } msg;
  G_STATIC_ASSERT (sizeof msg <= JQ_PEER_REQUEST_MAX);
  memset (&msg, 0, sizeof msg);
  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST;
  msg.header.nlmsg_seq = seq;
  msg.req.sdiag_family = tuple->client.ss_family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  /* The kernel looks the socket up as it would for a packet arriving
   * at src:sport from dst:dport: src is the caller's own end. */
  gsize len = 0;
  const void *a = address_of (&tuple->client, &msg.req.id.idiag_sport, &len);
  memcpy (msg.req.id.idiag_src, a, len);
  a = address_of (&tuple->server, &msg.req.id.idiag_dport, &len);
  memcpy (msg.req.id.idiag_dst, a, len);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  memcpy (buf, &msg, sizeof msg);
  return sizeof msg;
}

gboolean
jq_peer_diag_answer (const guint8 *buf, gsize len, guint32 seq, uid_t *uid)
{
  struct nlmsghdr header;
  if (len < sizeof header)
    return FALSE;
  memcpy (&header, buf, sizeof header);
  if (header.nlmsg_len < sizeof header || header.nlmsg_len > len
      || header.nlmsg_seq != seq || header.nlmsg_type != SOCK_DIAG_BY_FAMILY
      || header.nlmsg_len < NLMSG_LENGTH (sizeof (struct inet_diag_msg)))
    return FALSE;   /* NLMSG_ERROR: no such socket */
  struct inet_diag_msg msg;
  memcpy (&msg, buf + NLMSG_HDRLEN, sizeof msg);
  /* A socket no process holds any more (the caller closed it: orphaned,
   * or a TIME-WAIT or FIN-WAIT-2 remnant) has inode 0, and the kernel
   * reports uid 0 for a remnant: that is no caller, and surely not
   * root.  A client that closed its end right after sending was taken
   * for root. */
  if (msg.idiag_inode == 0)
    return FALSE;
  *uid = (uid_t) msg.idiag_uid;
  return TRUE;
}

/* Parses @n hexadecimal 32-bit words as /proc/net/tcp prints an address
 * (each word is the kernel's in-memory value, printed as a number), into
 * the address bytes @out.  Returns the text after them, or NULL. */
static const char *
parse_words (const char *p, guint n, guint8 *out)
{
  for (guint i = 0; i < n; i++)
    {
      char word[9];
      for (int k = 0; k < 8; k++)
        if (!g_ascii_isxdigit (p[k]))
          return NULL;
      memcpy (word, p, 8);
      word[8] = '\0';
      guint32 value = (guint32) strtoul (word, NULL, 16);
      memcpy (out + 4 * i, &value, 4);
      p += 8;
    }
  return p;
}

/* Parses "ADDR:PORT" of /proc/net/tcp(6) and compares it with @ss. */
static const char *
match_endpoint (const char *p, const struct sockaddr_storage *ss,
                gboolean *same)
{
  guint16 port = 0;
  gsize len = 0;
  const void *want = address_of (ss, &port, &len);
  guint8 got[16];
  p = parse_words (p, (guint) len / 4, got);
  if (p == NULL || *p != ':')
    return NULL;
  char *end = NULL;
  gulong got_port = strtoul (p + 1, &end, 16);
  if (end == p + 1 || got_port > 0xffff)
    return NULL;
  *same = memcmp (got, want, len) == 0 && got_port == g_ntohs (port);
  return end;
}

/* One row: "  N: LOCAL REMOTE ST TXQ:RXQ TR:WHEN RETR UID ...". */
static gboolean
row_matches (const char *row, const JqPeerTuple *tuple, uid_t *uid)
{
  const char *p = strchr (row, ':');
  gboolean local = FALSE, remote = FALSE;
  if (p == NULL)
    return FALSE;
  p++;
  while (*p == ' ')
    p++;
  p = match_endpoint (p, &tuple->client, &local);
  if (p == NULL || *p != ' ' || !local)
    return FALSE;
  p++;
  p = match_endpoint (p, &tuple->server, &remote);
  if (p == NULL || !remote)
    return FALSE;
  /* Skip st, tx_queue:rx_queue, tr:tm->when, retrnsmt. */
  for (int field = 0; field < 4; field++)
    {
      while (*p == ' ')
        p++;
      while (*p != ' ' && *p != '\0' && *p != '\n')
        p++;
    }
  while (*p == ' ')
    p++;
  char *end = NULL;
  gulong value = strtoul (p, &end, 10);
  /* More fields follow the uid: a row cut there is not trusted. */
  if (end == p || *end != ' ' || value > G_MAXUINT32)
    return FALSE;
  /* Then timeout and inode: a socket no process holds (inode 0) names
   * no caller (see jq_peer_diag_answer). */
  char *after = NULL;
  (void) strtoul (end, &after, 10);
  if (after == end || *after != ' ')
    return FALSE;
  gulong inode = strtoul (after, &end, 10);
  if (end == after || inode == 0)
    return FALSE;
  *uid = (uid_t) value;
  return TRUE;
}

gboolean
jq_peer_proc_net_find (const char *text, const JqPeerTuple *tuple,
                       uid_t *uid)
{
  const char *line = strchr (text, '\n');    /* past the heading */
  while (line != NULL)
    {
      line++;
      if (row_matches (line, tuple, uid))
        return TRUE;
      line = strchr (line, '\n');
    }
  return FALSE;
}

/* ------------------------------------------------------- the kernel */

static GMutex diag_lock;
static int diag_fd = -1;       /* diag_lock; -1: not open (yet) */
static guint32 diag_seq;       /* diag_lock */
static gboolean diag_missing;  /* diag_lock: no NETLINK_SOCK_DIAG here */

/* The netlink socket, opened the first time.  -1 when there is none. */
static int
diag_socket (void)
{
  if (diag_fd >= 0 || diag_missing)
    return diag_fd;
  diag_fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (diag_fd < 0)
    {
      /* Out of descriptors is passing; an unknown protocol is not. */
      diag_missing = errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT
                     || errno == EACCES || errno == EPERM;
      return -1;
    }
  struct timeval tv = { 0, DIAG_TIMEOUT_MS * 1000 };
  setsockopt (diag_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return diag_fd;
}

/* 1: found; 0: the kernel says there is no such socket; -1: could not
 * ask. */
static int
diag_lookup (const JqPeerTuple *tuple, uid_t *uid)
{
  int found = -1;
  g_mutex_lock (&diag_lock);
  int fd = diag_socket ();
  if (fd >= 0)
    {
      guint8 request[JQ_PEER_REQUEST_MAX];
      guint32 seq = ++diag_seq;
      gsize len = jq_peer_diag_request (tuple, seq, request);
      struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
      if (sendto (fd, request, len, 0, (struct sockaddr *) &kernel,
                  sizeof kernel) == (ssize_t) len)
        {
          guint8 answer[1024];
          ssize_t n;
          /* An answer of an earlier look-up that timed out may still
           * come: skip what is not ours. */
          do
            n = recv (fd, answer, sizeof answer, 0);
          while (n >= (ssize_t) sizeof (struct nlmsghdr)
                 && ((struct nlmsghdr *) answer)->nlmsg_seq != seq);
          if (n > 0)
            found = jq_peer_diag_answer (answer, (gsize) n, seq, uid);
        }
      if (found < 0)      /* the socket is in doubt: a fresh one next */
        {
          close (diag_fd);
          diag_fd = -1;
        }
    }
  g_mutex_unlock (&diag_lock);
  return found;
}

static gboolean
proc_lookup (const JqPeerTuple *tuple, uid_t *uid)
{
  g_autofree char *text = NULL;
  const char *path = tuple->client.ss_family == AF_INET
                     ? "/proc/net/tcp" : "/proc/net/tcp6";
  return g_file_get_contents (path, &text, NULL, NULL)
         && jq_peer_proc_net_find (text, tuple, uid);
}

gboolean
jq_peer_uid (const JqPeerTuple *tuple, uid_t *uid)
{
  JqPeerTuple plain = *tuple;
  jq_peer_tuple_unmap (&plain);
  int found = diag_lookup (&plain, uid);
  if (found >= 0)
    return found == 1;
  return proc_lookup (&plain, uid);
}
