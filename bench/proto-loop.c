/* A measuring prototype, not a server: what the XML-RPC port would cost
 * if it were read by one event loop instead of Abyss's thread per
 * connection (doc/performance.md, "The ceiling without Abyss").
 *
 * One thread, epoll, non-blocking keep-alive connections.  Each loop turn
 * reads what every ready connection sent, parses each complete request's
 * call with xmlrpc-c (as the server does), and then, as one group commit,
 * with "full": appends a record per call to a file and fdatasync()s it
 * once; with "none": nothing.  Every call of the turn is then answered
 * "0" with one send() of the header and the body serialized by xmlrpc-c.
 * No job queue, no validation, no budgets: it shows the floor of the
 * transport and the commit, which the real server can only approach.
 *
 * Usage: proto-loop PORT none|full|pipelined FILE    (runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xmlrpc-c/base.h>

#define MAX_CONNS 1024
#define BUF_SIZE 16384
#define WAL_SIZE (4 << 20)

typedef struct {
  int    fd;
  size_t len;
  int    answers;      /* calls parsed this turn, answered after the commit */
  char   buf[BUF_SIZE];
} Conn;

static Conn *conns[MAX_CONNS];

/* "pipelined": a thread syncs while the loop goes on reading and writing
 * the next turns' records; a turn's calls are answered once a sync that
 * began after their records were written has returned. */
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_wanted = PTHREAD_COND_INITIALIZER;
static unsigned long written_turn, synced_turn;
static int sync_fd, synced_event;

static void *
syncer (void *unused)
{
  (void) unused;
  pthread_mutex_lock (&sync_lock);
  for (;;)
    {
      while (written_turn == synced_turn)
        pthread_cond_wait (&sync_wanted, &sync_lock);
      unsigned long covers = written_turn;
      pthread_mutex_unlock (&sync_lock);
      fdatasync (sync_fd);
      pthread_mutex_lock (&sync_lock);
      synced_turn = covers;
      eventfd_write (synced_event, 1);
    }
  return NULL;
}

/* Parses every complete request in @c's buffer; counts them. */
static int
take_requests (Conn *c)
{
  int taken = 0;
  for (;;)
    {
      char *end = memmem (c->buf, c->len, "\r\n\r\n", 4);
      if (end == NULL)
        return taken;
      *end = '\0';
      char *cl = strcasestr (c->buf, "content-length:");
      size_t head = (size_t) (end + 4 - c->buf);
      size_t body = cl != NULL ? strtoul (cl + 15, NULL, 10) : 0;
      *end = '\r';
      if (head + body > c->len)
        return taken;
      xmlrpc_env env;
      xmlrpc_env_init (&env);
      const char *method = NULL;
      xmlrpc_value *params = NULL;
      xmlrpc_parse_call (&env, c->buf + head, body, &method, &params);
      if (!env.fault_occurred)
        {
          xmlrpc_DECREF (params);
          free ((void *) method);
          taken++;
        }
      xmlrpc_env_clean (&env);
      memmove (c->buf, c->buf + head + body, c->len - head - body);
      c->len -= head + body;
    }
}

static void
answer (Conn *c)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  xmlrpc_mem_block *out = xmlrpc_mem_block_new (&env, 0);
  xmlrpc_value *zero = xmlrpc_int_new (&env, 0);
  xmlrpc_serialize_response (&env, out, zero);
  xmlrpc_DECREF (zero);
  size_t blen = xmlrpc_mem_block_size (out);
  char msg[1024];
  int hlen = snprintf (msg, sizeof msg, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                       "Content-Length: %zu\r\n\r\n", blen);
  memcpy (msg + hlen, xmlrpc_mem_block_contents (out), blen);
  xmlrpc_mem_block_free (out);
  xmlrpc_env_clean (&env);
  for (int i = 0; i < c->answers; i++)
    if (send (c->fd, msg, (size_t) hlen + blen, MSG_NOSIGNAL) < 0)
      break;
  c->answers = 0;
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    return 2;
  int full = strcmp (argv[2], "full") == 0;
  int pipelined = strcmp (argv[2], "pipelined") == 0;
  int journal = open (argv[3], O_WRONLY | O_CREAT, 0600);
  int lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (atoi (argv[1])) };
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (journal < 0 || bind (lfd, (struct sockaddr *) &a, sizeof a) != 0
      || listen (lfd, 128) != 0)
    {
      perror ("proto-loop");
      return 1;
    }
  int ep = epoll_create1 (0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
  epoll_ctl (ep, EPOLL_CTL_ADD, lfd, &ev);
  sync_fd = journal;
  synced_event = eventfd (0, EFD_NONBLOCK);
  struct epoll_event sev = { .events = EPOLLIN, .data.fd = synced_event };
  epoll_ctl (ep, EPOLL_CTL_ADD, synced_event, &sev);
  pthread_t thread;
  pthread_create (&thread, NULL, syncer, NULL);
  /* the calls waiting for a sync, by the turn that wrote them */
  static Conn *waiting[MAX_CONNS];
  static unsigned long waiting_turn[MAX_CONNS];
  int nwaiting = 0;
  static char record[128];
  memset (record, 'r', sizeof record);
  off_t offset = 0;
  for (off_t at = 0; at < WAL_SIZE; at += sizeof record)
    if (pwrite (journal, record, sizeof record, at) < 0)
      return 1;
  fsync (journal);
  for (;;)
    {
      struct epoll_event ready[64];
      int n = epoll_wait (ep, ready, 64, -1);
      int calls = 0;
      Conn *turn[64];
      int turned = 0;
      for (int i = 0; i < n; i++)
        {
          int fd = ready[i].data.fd;
          if (fd == synced_event)
            {
              eventfd_t ignored;
              eventfd_read (synced_event, &ignored);
              pthread_mutex_lock (&sync_lock);
              unsigned long done = synced_turn;
              pthread_mutex_unlock (&sync_lock);
              int kept = 0;
              for (int w = 0; w < nwaiting; w++)
                if (waiting_turn[w] <= done)
                  answer (waiting[w]);
                else
                  {
                    waiting[kept] = waiting[w];
                    waiting_turn[kept++] = waiting_turn[w];
                  }
              nwaiting = kept;
              continue;
            }
          if (fd == lfd)
            {
              int cfd;
              while ((cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
                {
                  if (cfd >= MAX_CONNS)
                    {
                      close (cfd);
                      continue;
                    }
                  setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                  conns[cfd] = calloc (1, sizeof (Conn));
                  conns[cfd]->fd = cfd;
                  struct epoll_event cev = { .events = EPOLLIN, .data.fd = cfd };
                  epoll_ctl (ep, EPOLL_CTL_ADD, cfd, &cev);
                }
              continue;
            }
          Conn *c = conns[fd];
          ssize_t got = recv (fd, c->buf + c->len, BUF_SIZE - c->len, 0);
          if (got <= 0)
            {
              if (got < 0 && errno == EAGAIN)
                continue;
              epoll_ctl (ep, EPOLL_CTL_DEL, fd, NULL);
              close (fd);
              free (c);
              conns[fd] = NULL;
              continue;
            }
          c->len += (size_t) got;
          c->answers += take_requests (c);
          calls += c->answers;
          if (c->answers > 0)
            turn[turned++] = c;
        }
      if (calls > 0 && full)
        {
          /* in place in a file written once before, as SQLite reuses its
           * WAL: the sync then has no size or block allocation to log */
          for (int i = 0; i < calls; i++, offset = (offset + sizeof record) % WAL_SIZE)
            if (pwrite (journal, record, sizeof record, offset) < 0)
              return 1;
          fdatasync (journal);
        }
      if (calls > 0 && pipelined)
        {
          for (int i = 0; i < calls; i++, offset = (offset + sizeof record) % WAL_SIZE)
            if (pwrite (journal, record, sizeof record, offset) < 0)
              return 1;
          pthread_mutex_lock (&sync_lock);
          unsigned long this_turn = ++written_turn;
          pthread_cond_signal (&sync_wanted);
          pthread_mutex_unlock (&sync_lock);
          for (int i = 0; i < turned; i++)
            {
              waiting[nwaiting] = turn[i];
              waiting_turn[nwaiting++] = this_turn;
            }
          continue;
        }
      for (int i = 0; i < turned; i++)
        answer (turn[i]);
    }
}
