/* The connection gate: see gate.h.
 *
 * The gate thread refuses with HTTP 503 what Abyss cannot take.  At its
 * limit Abyss stops accepting (it looks again every 2 s), and new
 * clients would wait in the listen queue for as long as the idle
 * connections last.  When a connection waits in the queue, the gate
 * counts the connections the process holds (Abyss does not say; the
 * connected sockets on our port in /proc/self/fd are exact), and
 * accepts and refuses the newcomer only when all are taken.  Below the
 * limit it leaves the queue to Abyss.
 *
 * When all are taken, a user holding more than its share of them
 * (share.h; half by default; root and the server's own user, as whom
 * cron runs, have none) loses the connections beyond it, its longest
 * idle ones: shutdown() of their sockets ends them in Abyss, and
 * Abyss, which looks for room every 2 s, takes the waiting connection.
 * One user holding every connection made cron's bots-job2queue fail
 * with HTTP 503 in 3 to 4 of 6 tries. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "gate.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"
#include "peer.h"
#include "share.h"

/* A refused connection is read, and what it sends dropped, for this long
 * or this much before it is closed: a close with unread request bytes
 * resets the connection, and a client still sending its call (Python's
 * xmlrpc.client sends it all before it reads) then got EPIPE or a reset
 * instead of the 503.  At most LINGER_MAX at once, the oldest closed
 * for a newer one: their descriptors come out of the server's margin
 * (fdbudget.h).  The byte bound is four times the largest call the
 * server takes (methods.h), read in a few milliseconds. */
#define LINGER_MAX 4
#define LINGER_MS 2000
#define LINGER_BYTES (4 * 1024 * 1024)

typedef struct {
  int    fd;
  gint64 until_us;
  gsize  read;
} Lingering;

struct _JqGate {
  int       listen_fd;       /* borrowed */
  int       stop_fd;         /* eventfd: the gate is to end */
  guint     max_conn;
  guint     share_percent;   /* a user's share of max_conn, percent */
  JqLog    *log;
  GThread  *thread;
  gint64    share_logged_us; /* last "closed" line */
  guint     share_unlogged;  /* cuts since, not logged */
  Lingering lingering[LINGER_MAX];   /* refused, read to their end */
  guint     n_lingering;
};

/* How long a connection may wait in the listen queue before the gate
 * looks at it: Abyss takes one within microseconds when it can. */
#define GATE_GRACE_MS 1
/* Between two looks while a connection waits and Abyss has room. */
#define GATE_SAMPLE_MS 10
/* Between two counts of the connections near the limit, and when far
 * from it. */
#define GATE_CHECK_MS 100
#define GATE_IDLE_MS 1000
/* When not even a refusal can be accepted (no descriptor or memory). */
#define SHORTAGE_MS 100

#define BUSY_TEXT "Too many connections to the job queue; try again.\n"
static const char busy_answer[] =
  "HTTP/1.1 503 Service Unavailable\r\n"
  "Content-Type: text/plain\r\nContent-Length: "
  G_STRINGIFY (50) "\r\n"
  "Connection: close\r\nRetry-After: 1\r\n\r\n" BUSY_TEXT;
/* The length above is written out: a change of the text must change it. */
G_STATIC_ASSERT (sizeof BUSY_TEXT - 1 == 50);

/* TRUE when the listen queue holds a connection now. */
static gboolean
queue_pending (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Reads and drops what the refused connection @l has sent so far.  FALSE
 * once it is done with: the client ended or failed, or it has sent its
 * allowance. */
static gboolean
drain (Lingering *l)
{
  char sink[16384];
  for (;;)
    {
      ssize_t n = recv (l->fd, sink, sizeof sink, MSG_DONTWAIT);
      if (n > 0 && (l->read += (gsize) n) < LINGER_BYTES)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK
                       || errno == EINTR);
    }
}

static void
linger_drop (JqGate *gate, guint i)
{
  close (gate->lingering[i].fd);
  gate->lingering[i] = gate->lingering[--gate->n_lingering];
}

/* Keeps the refused connection @fd, answered and shut for writing, read
 * until its client ends (see LINGER_MS). */
static void
linger (JqGate *gate, int fd)
{
  Lingering l = { fd, g_get_monotonic_time () + LINGER_MS * 1000, 0 };
  if (!drain (&l))
    {
      close (fd);
      return;
    }
  if (gate->n_lingering == LINGER_MAX)
    {
      guint oldest = 0;
      for (guint i = 1; i < gate->n_lingering; i++)
        if (gate->lingering[i].until_us < gate->lingering[oldest].until_us)
          oldest = i;
      drain (&gate->lingering[oldest]);
      linger_drop (gate, oldest);
    }
  gate->lingering[gate->n_lingering++] = l;
}

/* Reads the lingering connections @ready says have something (or all),
 * and closes those done with or past their time. */
static void
linger_check (JqGate *gate, const struct pollfd *ready)
{
  gint64 now = g_get_monotonic_time ();
  for (guint i = gate->n_lingering; i-- > 0;)
    {
      Lingering *l = &gate->lingering[i];
      gboolean more = (ready != NULL && ready[i].revents == 0) || drain (l);
      if (!more || now >= l->until_us)
        linger_drop (gate, i);
    }
}

/* Refuses one waiting connection with a 503, if one is still there. */
static void
refuse_one (JqGate *gate)
{
  int fd = accept4 (gate->listen_fd, NULL, NULL,
                    SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
          || errno == ENOMEM)
        g_usleep (SHORTAGE_MS * 1000);   /* not even for a refusal */
      return;
    }
  (void) !send (fd, busy_answer, sizeof busy_answer - 1, MSG_NOSIGNAL);
  shutdown (fd, SHUT_WR);
  linger (gate, fd);
}

/* The connections this process holds on the listening port: its
 * connected sockets with that local port, ESTABLISHED (one being ended
 * no longer counts), each with its descriptor and idle time; uids not
 * filled.  NULL when they cannot be counted (no descriptor left even for
 * /proc/self/fd). */
static GArray *
held_connections (JqGate *gate)
{
  struct sockaddr_storage own;
  socklen_t own_len = sizeof own;
  if (getsockname (gate->listen_fd, (struct sockaddr *) &own, &own_len) != 0)
    return NULL;
  in_port_t port = own.ss_family == AF_INET6
                     ? ((struct sockaddr_in6 *) &own)->sin6_port
                     : ((struct sockaddr_in *) &own)->sin_port;
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  if (dir == NULL)
    return NULL;
  GArray *held = g_array_new (FALSE, FALSE, sizeof (JqShareConn));
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      int fd = atoi (name);
      struct sockaddr_storage a;
      struct tcp_info tcp;
      socklen_t len = sizeof a, tcp_len = sizeof tcp;
      if (fd == gate->listen_fd
          || getsockname (fd, (struct sockaddr *) &a, &len) != 0
          || a.ss_family != own.ss_family)
        continue;
      in_port_t p = a.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *) &a)->sin6_port
                      : ((struct sockaddr_in *) &a)->sin_port;
      if (p == port
          && getsockopt (fd, IPPROTO_TCP, TCP_INFO, &tcp, &tcp_len) == 0
          && tcp.tcpi_state == TCP_ESTABLISHED)
        {
          JqShareConn c = { G_MAXUINT32, tcp.tcpi_last_data_recv, fd, FALSE };
          g_array_append_val (held, c);
        }
    }
  return held;
}

/* The uid of the caller on our socket @fd; G_MAXUINT32 when unknown. */
static guint32
socket_uid (int fd)
{
  JqPeerTuple tuple;
  uid_t uid = 0;
  if (jq_peer_tuple_of_socket (fd, &tuple) && jq_peer_uid (&tuple, &uid)
      && uid < G_MAXUINT32)
    return (guint32) uid;
  return G_MAXUINT32;
}

/* Ends the connections of @held beyond their user's share (share.h),
 * taking those of users without a share out of @held.  FALSE when no
 * user holds more than its share. */
static gboolean
share_out (JqGate *gate, GArray *held)
{
  /* Root and the server's own user (cron's bots-job2queue runs as it)
   * have no share to keep: the share keeps others from crowding them. */
  guint32 own = (guint32) geteuid ();
  for (guint i = 0; i < held->len;)
    {
      JqShareConn *c = &g_array_index (held, JqShareConn, i);
      c->uid = socket_uid (c->fd);
      if (c->uid == 0 || c->uid == own)
        g_array_remove_index_fast (held, i);
      else
        i++;
    }
  JqShareConn *conns = (JqShareConn *) (void *) held->data;
  guint32 most = G_MAXUINT32;
  guint per_user = jq_share_per_user (gate->max_conn, gate->share_percent);
  if (jq_share_plan (conns, held->len, per_user, &most) == 0)
    return FALSE;
  guint cut = 0;
  for (guint i = 0; i < held->len; i++)
    /* Asked again: Abyss may have closed the descriptor meanwhile, and
     * another connection have got its number. */
    if (conns[i].cut && socket_uid (conns[i].fd) == conns[i].uid
        && shutdown (conns[i].fd, SHUT_RDWR) == 0)
      cut++;
  gate->share_unlogged += cut;
  gint64 now = g_get_monotonic_time ();
  if (gate->share_unlogged > 0
      && (gate->share_logged_us == 0
          || now - gate->share_logged_us > 60 * G_USEC_PER_SEC))
    {
      JqCaller who;
      jq_caller_init (&who, most != G_MAXUINT32, most, NULL);
      jq_log_write (gate->log, JQ_LOG_WARNING,
                    "All %u connections were taken: %u connection(s) "
                    "beyond a user's share (%u) were closed, the longest "
                    "idle first, most of them of %s.",
                    gate->max_conn, gate->share_unlogged, per_user,
                    who.label);
      gate->share_logged_us = now;
      gate->share_unlogged = 0;
    }
  return TRUE;
}

/* A connection waits in the listen queue and Abyss has not taken it:
 * Abyss's turn while there is room; else a user over its share loses
 * connections; else the newcomer gets a 503. */
static void
gate_pending (JqGate *gate, gboolean *refusing)
{
  g_autoptr (GArray) held = held_connections (gate);
  if (held != NULL && held->len < gate->max_conn)
    {
      if (*refusing)
        jq_log_write (gate->log, JQ_LOG_INFO, "Connections are taken again.");
      *refusing = FALSE;
      g_usleep (GATE_SAMPLE_MS * 1000);   /* Abyss's turn */
      return;
    }
  if (held != NULL && share_out (gate, held))
    {
      g_usleep (GATE_SAMPLE_MS * 1000);   /* Abyss's turn */
      return;
    }
  if (!*refusing)
    jq_log_write (gate->log, JQ_LOG_WARNING,
                  "All %u connections are taken; new ones are refused "
                  "(HTTP 503) until one ends.", gate->max_conn);
  *refusing = TRUE;
  refuse_one (gate);
}

/* Counts the connections: at the limit, a user over its share loses
 * those beyond it (share_out), so that Abyss has room again at once.
 * Abyss at its limit still accepts one more connection and then waits,
 * looking for room every 2 s: that one is in no listen queue, so only a
 * count tells.  Returns the count (0 when it cannot be made). */
static guint
gate_count (JqGate *gate)
{
  g_autoptr (GArray) held = held_connections (gate);
  if (held == NULL)
    return 0;
  guint count = held->len;
  if (count >= gate->max_conn)
    share_out (gate, held);     /* takes the exempt ones out of @held */
  return count;
}

static gpointer
run_gate (gpointer data)
{
  JqGate *gate = data;
  /* the listen socket, the stop eventfd, then the lingering refusals */
  struct pollfd fds[2 + LINGER_MAX] = {
    { .fd = gate->listen_fd, .events = POLLIN },
    { .fd = gate->stop_fd, .events = POLLIN },
  };
  gboolean refusing = FALSE;
  guint counted = 0;
  gint64 next_count = 0;

  for (;;)
    {
      /* Near the limit every GATE_CHECK_MS, else every GATE_IDLE_MS: a
       * connection Abyss takes at once may never show in poll(). */
      gboolean near = counted + gate->max_conn / 8 + 1 >= gate->max_conn;
      gint64 now = g_get_monotonic_time ();
      gint64 wait_ms = (next_count - now) / 1000
                       + (near ? 0 : GATE_IDLE_MS - GATE_CHECK_MS);
      guint lingering = gate->n_lingering;
      for (guint i = 0; i < lingering; i++)
        {
          fds[2 + i] = (struct pollfd) { .fd = gate->lingering[i].fd,
                                         .events = POLLIN };
          wait_ms = MIN (wait_ms, (gate->lingering[i].until_us - now) / 1000
                                  + 1);
        }
      fds[0].revents = fds[1].revents = 0;
      int polled = poll (fds, 2 + lingering,
                         (int) CLAMP (wait_ms, 0, GATE_IDLE_MS));
      if (polled < 0 && errno != EINTR)
        g_usleep (GATE_SAMPLE_MS * 1000);
      if (fds[1].revents != 0)
        break;
      if (lingering > 0)
        linger_check (gate, polled < 0 ? NULL : fds + 2);
      if (fds[0].revents & POLLIN)
        {
          g_usleep (GATE_GRACE_MS * 1000);
          if (queue_pending (gate->listen_fd))
            {
              gate_pending (gate, &refusing);
              continue;
            }
        }
      if (g_get_monotonic_time () >= next_count)
        {
          counted = gate_count (gate);
          next_count = g_get_monotonic_time () + GATE_CHECK_MS * 1000;
        }
    }
  return NULL;
}

JqGate *
jq_gate_start (int listen_fd, guint max_conn, guint share_percent,
               JqLog *log)
{
  int stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0)
    return NULL;
  JqGate *gate = g_new0 (JqGate, 1);
  gate->listen_fd = listen_fd;
  gate->stop_fd = stop_fd;
  gate->max_conn = MAX (max_conn, 1);
  gate->share_percent = CLAMP (share_percent, 1, 100);
  gate->log = log;
  gate->thread = g_thread_new ("jq-gate", run_gate, gate);
  return gate;
}

void
jq_gate_stop (JqGate *gate)
{
  if (gate == NULL)
    return;
  eventfd_write (gate->stop_fd, 1);
  g_thread_join (gate->thread);
  while (gate->n_lingering > 0)
    linger_drop (gate, gate->n_lingering - 1);
  close (gate->stop_fd);
  g_free (gate);
}
