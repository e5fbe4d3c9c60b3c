/* The HTTP server: see http.h.
 *
 * Threading model: Abyss serves each connection on a thread of its own,
 * started from ServerRun() on a thread of ours per port (run again if it
 * ends by a failed accept); a gate thread (gate.h) refuses connections
 * over the limit.  jq_http_listen() and jq_http_stop() run on the loop
 * thread; everything else here runs on the connection threads.  We build
 * the Abyss server from its parts (ServerCreateSwitch, ServerAddHandler3,
 * ServerRun) rather than with xmlrpc_server_abyss_create(), because that
 * one installs signal handlers and GLib owns SIGCHLD.
 *
 * Replies are corked into one TCP segment: Abyss writes every header line
 * with a send() of its own, which wakes a keep-alive client up to eight
 * times per answer (measured: 20% of the throughput at 16 connections).
 *
 * Bodies are counted against the body budget from their first byte, as
 * their bytes arrive (500 clients each sending 1 MiB slowly held 511 MiB
 * while the bodies were counted only once whole), until their answer is
 * produced: parsing costs several times the body, so this bounds both.
 * Answers built whole are counted against the answer budget while they
 * are written: a client that does not read keeps its answer (20 such
 * clients asking listjobs of 60 MB held 1.2 GB); an answer that does not
 * fit gets HTTP 503 at once (waiting would keep it built). */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "gate.h"

/* A body must have arrived this long after the headers' end: Abyss's
 * time-out (10 s) is per read, so a body sent one byte every few seconds
 * held its connection for days, and 30 of them every connection a
 * descriptor limit of 128 allows.  HTTP 408 and the connection closed. */
#define BODY_DEADLINE_SECONDS 20
/* A client that takes nothing of its answer for this long is dropped, and
 * the answer freed (SO_SNDTIMEO on the connection's socket). */
#define ANSWER_SEND_SECONDS 30
/* Answers from this size on are written with the send time-out. */
#define ANSWER_BIG (64 * 1024)
/* After ServerRun() returned by failure, before it runs again. */
#define ACCEPT_RETRY_MS 100
/* At most this long for answers being written when stopping. */
#define STOP_WAIT_MS 2000

typedef struct {
  JqHttp      *http;
  JqHttpPort   port;
  char        *what;
  TServer      server;
  TChanSwitch *chan_switch;
  gboolean     created;        /* server is to be freed */
  GThread     *thread;         /* runs Abyss's accept loop */
  JqGate      *gate;           /* nullable */
} Port;

struct _JqHttp {
  JqLog       *log;
  JqMetrics   *metrics;        /* nullable */
  GPtrArray   *ports;          /* Port, owned */
  GMutex       budget_lock;    /* guards the three counts below */
  GCond        body_cond;      /* body_bytes went down */
  guint        body_waiters;   /* threads waiting on body_cond */
  gsize        body_bytes;     /* of requests being read or parsed */
  gsize        big_bytes;      /* of those, bodies over BODY_SMALL */
  gsize        answer_bytes;   /* of answers being written */
  gsize        body_budget;    /* JQ_HTTP_BODY_BUDGET but in tests */
  gsize        big_share;
  guint        wait_seconds;
  gsize        answer_budget;
  gint         ending;         /* atomic: jq_http_stop() was called */
  gint         in_flight;      /* atomic: requests being answered */
};

/* ---------------------------------------------------------- sockets */

/* The socket of the connection this Abyss thread serves.  Abyss does not
 * expose it, but tells the peer's address: the one socket of ours with
 * that peer is the connection.  Looked up once per connection. */
static __thread int cork_fd = -1;
static __thread struct sockaddr cork_peer;
static __thread gboolean cork_peer_known;

int
jq_http_connection_socket (TSession *session)
{
  struct abyss_unix_chaninfo *info = NULL;
  SessionGetChannelInfo (session, (void **) &info);
  if (info == NULL)
    return -1;
  gsize n = MIN (info->peerAddrLen, sizeof info->peerAddr);
  if (cork_peer_known && memcmp (&cork_peer, &info->peerAddr, n) == 0)
    return cork_fd;

  cork_peer = info->peerAddr;
  cork_peer_known = TRUE;
  cork_fd = -1;
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      struct sockaddr_storage peer;
      socklen_t len = sizeof peer;
      int fd = atoi (name);
      if (getpeername (fd, (struct sockaddr *) &peer, &len) == 0
          && len >= n && memcmp (&peer, &info->peerAddr, n) == 0)
        {
          cork_fd = fd;
          break;
        }
    }
  return cork_fd;
}

/* While corked, the header lines and the body leave as one segment. */
static void
set_cork (int fd, gboolean on)
{
  int value = on;
  if (fd >= 0)
    setsockopt (fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

/* A write to a client that reads nothing fails after @seconds (0: never),
 * so that its connection ends and its answer is freed. */
static void
set_send_timeout (int fd, int seconds)
{
  struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
  if (fd >= 0)
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Abyss hands the request out as const, but decides from its keepalive
 * flag whether the connection goes on after the answer. */
static void
end_connection_after (TSession *session)
{
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  ((TRequestInfo *) info)->keepalive = FALSE;
}

/* ---------------------------------------------------------- refusals */

void
jq_http_error (JqHttp *http, TSession *session, guint16 status,
               const char *explanation)
{
  if (http->metrics != NULL)
    {
      JqRefused why = status == 405 || status == 403 || status == 415
                    ? JQ_REFUSED_METHOD
                    : status == 413 ? JQ_REFUSED_TOO_LARGE
                    : status == 404 ? JQ_REFUSED_NOT_FOUND
                    : JQ_REFUSED_LENGTH;
      jq_metrics_count_refused (http->metrics, why);
    }
  ResponseStatus (session, status);
  ResponseError2 (session, explanation);
}

void
jq_http_busy (JqHttp *http, TSession *session)
{
  ResponseAddField (session, "Retry-After", "1");
  jq_http_error (http, session, 503, "The server is busy; try again.");
}

/* ---------------------------------------------------------- bodies */

/* Takes @n bytes of the body budget (and of the big share for a @big
 * body), waiting until @deadline for room.  FALSE when there was none. */
static gboolean
body_charge (JqHttp *http, gsize n, gboolean big, gint64 deadline)
{
  gboolean ok = TRUE;
  g_mutex_lock (&http->budget_lock);
  while (ok && (http->body_bytes + n > http->body_budget
                || (big && http->big_bytes + n > http->big_share)))
    {
      http->body_waiters++;
      ok = g_cond_wait_until (&http->body_cond, &http->budget_lock,
                              deadline);
      http->body_waiters--;
    }
  if (ok)
    {
      http->body_bytes += n;
      http->big_bytes += big ? n : 0;
    }
  g_mutex_unlock (&http->budget_lock);
  return ok;
}

static void
body_release (JqHttp *http, gsize n, gboolean big)
{
  g_mutex_lock (&http->budget_lock);
  http->body_bytes -= n;
  http->big_bytes -= big ? n : 0;
  /* GLib's broadcast is a futex system call even when nobody waits: one
   * per request (4% of the server's CPU at 16 connections, issue 23). */
  if (http->body_waiters > 0)
    g_cond_broadcast (&http->body_cond);
  g_mutex_unlock (&http->budget_lock);
}

typedef enum {
  BODY_READ,      /* all there */
  BODY_GONE,      /* the client went away or stalled: nothing to answer */
  BODY_LATE,      /* not there by BODY_DEADLINE_SECONDS */
  BODY_BUSY,      /* no room in the budget in time */
} BodyEnd;

/* Reads exactly @len body bytes into @buf, each charged to the budget
 * before it is stored; with @buf NULL they are read and dropped, which
 * costs nothing.  When the budget has no room in time, the rest is read
 * and dropped too (BODY_BUSY): the client then gets its 503 on a
 * connection in order, not a reset.  On BODY_READ the caller holds @len
 * bytes of the budget (body_release); otherwise none. */
static BodyEnd
read_body (JqHttp *http, TSession *session, char *buf, gsize len)
{
  gint64 now = g_get_monotonic_time ();
  gint64 deadline = now + BODY_DEADLINE_SECONDS * G_USEC_PER_SEC;
  gint64 room_deadline = now + http->wait_seconds * G_USEC_PER_SEC;
  gboolean big = len > JQ_HTTP_BODY_SMALL, busy = FALSE;
  gsize have = 0;
  BodyEnd end = BODY_READ;
  while (have < len && end == BODY_READ)
    {
      const char *data = NULL;
      size_t n = 0;
      if (g_get_monotonic_time () > deadline)
        {
          end = BODY_LATE;
          break;
        }
      SessionGetReadData (session, len - have, &data, &n);
      if (n == 0)
        end = SessionRefillBuffer (session) ? BODY_READ : BODY_GONE;
      else if (buf != NULL && !body_charge (http, n, big, room_deadline))
        {
          body_release (http, have, big);
          buf = NULL;                   /* the rest is dropped */
          busy = TRUE;
          have += n;
        }
      else
        {
          if (buf != NULL)
            memcpy (buf + have, data, n);
          have += n;
        }
    }
  if (end == BODY_READ && busy)
    end = BODY_BUSY;
  if (end != BODY_READ && buf != NULL && have > 0)
    body_release (http, have, big);
  return end;
}

/* read_body(), and the answer when the body did not come: FALSE when
 * the request is over (answered, or nobody left to answer). */
static gboolean
body_arrived (JqHttp *http, TSession *session, char *buf, gsize len)
{
  BodyEnd end = read_body (http, session, buf, len);
  if (end == BODY_READ || end == BODY_GONE)
    return end == BODY_READ;
  if (end == BODY_BUSY)   /* read to its end: the connection goes on */
    {
      jq_http_busy (http, session);
      return FALSE;
    }
  /* The rest of the body must not be read as a request. */
  end_connection_after (session);
  jq_http_error (http, session, 408, "The request body came too slowly.");
  return FALSE;
}

char *
jq_http_read_body (JqHttp *http, TSession *session, gsize len)
{
  /* Untouched pages cost nothing: a body takes memory as it arrives, and
   * read_body() charges each byte before it is stored. */
  char *body = g_malloc (len + 1);
  if (!body_arrived (http, session, body, len))
    {
      g_free (body);
      return NULL;
    }
  body[len] = '\0';
  return body;
}

guint
jq_http_get_body_waiters (JqHttp *http)
{
  g_mutex_lock (&http->budget_lock);
  guint n = http->body_waiters;
  g_mutex_unlock (&http->budget_lock);
  return n;
}

void
jq_http_body_done (JqHttp *http, char *body, gsize len)
{
  g_free (body);
  body_release (http, len, len > JQ_HTTP_BODY_SMALL);
}

gboolean
jq_http_drain_body (JqHttp *http, TSession *session, gsize max_len)
{
  const char *length = RequestHeaderValue (session, "content-length");
  guint64 len = 0;
  if (length != NULL
      && g_ascii_string_to_unsigned (length, 10, 1, max_len, &len, NULL))
    return body_arrived (http, session, NULL, len);
  return TRUE;
}

void
jq_http_close_if_pipelined (TSession *session)
{
  const char *next = NULL;
  size_t n = 0;
  SessionGetReadData (session, 1, &next, &n);
  if (n > 0)
    end_connection_after (session);
}

/* ---------------------------------------------------------- answers */

/* Takes @len bytes of the answer budget; FALSE when they do not fit
 * beside the answers being written. */
static gboolean
answer_reserve (JqHttp *http, gsize len)
{
  g_mutex_lock (&http->budget_lock);
  gboolean ok = http->answer_bytes == 0
                || http->answer_bytes + len <= http->answer_budget;
  if (ok)
    http->answer_bytes += len;
  g_mutex_unlock (&http->budget_lock);
  return ok;
}

static void
answer_release (JqHttp *http, gsize len)
{
  g_mutex_lock (&http->budget_lock);
  http->answer_bytes -= len;
  g_mutex_unlock (&http->budget_lock);
}

void
jq_http_answer (JqHttp *http, TSession *session, const char *content_type,
                GBytes *body, const char *const *fields)
{
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  gsize size = 0;
  const char *data = g_bytes_get_data (body, &size);
  if (!answer_reserve (http, size))
    {
      g_bytes_unref (body);
      jq_http_busy (http, session);
      return;
    }
  /* Only keep-alive clients wait between segments, and only big answers
   * are worth a send time-out; a small one-shot answer is not worth the
   * look-up. */
  gboolean big = size >= ANSWER_BIG;
  int fd = info->keepalive || big ? jq_http_connection_socket (session) : -1;
  set_cork (fd, TRUE);
  if (big)
    set_send_timeout (fd, ANSWER_SEND_SECONDS);
  ResponseStatus (session, 200);
  ResponseContentType (session, content_type);
  ResponseContentLength (session, size);
  for (gsize i = 0; fields != NULL && fields[i] != NULL; i += 2)
    ResponseAddField (session, fields[i], fields[i + 1]);
  ResponseWriteStart (session);
  /* HEAD: the GET's headers, its Content-Length included, no body. */
  if (info->method != m_head)
    ResponseWriteBody (session, data, (xmlrpc_uint32_t) size);
  ResponseWriteEnd (session);
  if (big)
    set_send_timeout (fd, 0);
  set_cork (fd, FALSE);
  g_bytes_unref (body);
  answer_release (http, size);
}

/* ---------------------------------------------------------- streaming
 * A large answer (listjobs, history) is written as it is produced, in
 * pieces: chunked to an HTTP/1.1 client, to an HTTP/1.0 one (Python 2's
 * xmlrpclib) up to the close.  Each piece is sent before the next is
 * produced, so a connection holds one piece, and a client that reads
 * slowly slows its own answer only; one that takes nothing for
 * ANSWER_SEND_SECONDS is dropped. */

void
jq_http_stream_init (JqHttpStream *stream, TSession *session,
                     const char *content_type)
{
  *stream = (JqHttpStream) { session, content_type, FALSE, FALSE, FALSE,
                             -1 };
}

/* Whether the client surely speaks HTTP/1.1 or later, and so takes a
 * chunked answer on a connection that goes on.  Abyss tells no version
 * (TRequestInfo's requestline holds the method only: it was cut into
 * tokens before being copied), but it starts keepalive TRUE for 1.1 and
 * FALSE for 1.0, and only a Connection header changes that.  With a
 * Connection header the version is not known: the answer then ends with
 * the connection, which is right for either. */
static gboolean
surely_http11 (TSession *session, const TRequestInfo *info)
{
  return info->keepalive && RequestHeaderValue (session, "connection") == NULL;
}

/* Sends all of @iov (@n parts; changed), in as few send()s as the
 * socket takes: FALSE when the client is gone or took nothing for the
 * send time-out. */
static gboolean
send_all (int fd, struct iovec *iov, int n)
{
  while (n > 0)
    {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t) n };
      ssize_t sent = sendmsg (fd, &msg, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR)
        continue;
      if (sent <= 0)
        return FALSE;
      for (; n > 0 && (gsize) sent >= iov->iov_len; iov++, n--)
        sent -= (ssize_t) iov->iov_len;
      if (n > 0)
        {
          iov->iov_base = (char *) iov->iov_base + sent;
          iov->iov_len -= (gsize) sent;
        }
    }
  return TRUE;
}

/* Whether the header block @head announces chunks. */
static gboolean
announces_chunks (const GByteArray *head)
{
  static const char field[] = "\r\ntransfer-encoding: chunked\r\n";
  gsize n = sizeof field - 1;
  for (gsize i = 0; i + n <= head->len; i++)
    if (g_ascii_strncasecmp ((const char *) head->data + i, field, n) == 0)
      return TRUE;
  return FALSE;
}

/* Abyss's headers of this answer, written by ResponseWriteStart() into
 * @head instead of the connection.  Abyss alone decides whether the
 * answer is chunked (from the request's HTTP version, which it does not
 * tell us) and writes each header line with a send() of its own.  So a
 * socket pair stands in for the connection's socket under its number
 * while Abyss writes (only this thread writes to this connection), and
 * the socket is put back before anything else happens; another thread
 * that looks at the number meanwhile (the gate's share cut) finds no TCP
 * connection there and leaves it.  FALSE, with nothing written anywhere,
 * when a descriptor could not be had. */
static gboolean
capture_headers (JqHttpStream *st, GByteArray *head)
{
  int pair[2];
  int flags = fcntl (st->fd, F_GETFD);
  if (flags < 0 || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                               pair) != 0)
    return FALSE;
  int saved = fcntl (st->fd, F_DUPFD_CLOEXEC, 0);
  int cloexec = flags & FD_CLOEXEC ? O_CLOEXEC : 0;
  gboolean ok = saved >= 0 && dup3 (pair[0], st->fd, cloexec) >= 0;
  if (ok)
    {
      ResponseWriteStart (st->session);
      /* The connection's socket back under its number; cannot fail on
       * a number that is open. */
      dup3 (saved, st->fd, cloexec);
    }
  if (saved >= 0)
    close (saved);
  close (pair[0]);
  char buf[4096];
  ssize_t got;
  while (ok && (got = read (pair[1], buf, sizeof buf)) != 0)
    if (got > 0)
      g_byte_array_append (head, (const guint8 *) buf, (guint) got);
    else if (errno != EINTR)
      ok = FALSE;
  close (pair[1]);
  return ok;
}

/* One piece on the connection's socket in one sendmsg(), after @head (the
 * headers, for the first piece): Abyss writes a chunk's size line, its
 * bytes and its CRLF with a send() and a poll() each.  Abyss keeps no
 * output buffer, so its own last chunk (ResponseWriteEnd) follows in
 * order. */
static gboolean
send_piece (const JqHttpStream *st, const GByteArray *head, const char *data,
            gsize len)
{
  char size_line[24];
  int n = g_snprintf (size_line, sizeof size_line,
                      "%" G_GSIZE_MODIFIER "x\r\n", len);
  struct iovec iov[4];
  int parts = 0;
  if (head != NULL)
    iov[parts++] = (struct iovec) { head->data, head->len };
  if (st->chunked)
    iov[parts++] = (struct iovec) { size_line, (gsize) n };
  iov[parts++] = (struct iovec) { (char *) data, len };
  if (st->chunked)
    iov[parts++] = (struct iovec) { (char *) "\r\n", 2 };
  return send_all (st->fd, iov, parts);
}

/* The headers and the first piece: sent together by us when the headers
 * could be captured, else through Abyss, corked (a client with a small
 * window would get a piece per 200 ms, the kernel's cork timer, if the
 * cork stayed on: the rest goes uncorked). */
static gboolean
start_stream (JqHttpStream *st, const char *data, gsize len)
{
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (st->session, &info);
  st->started = TRUE;
  st->fd = jq_http_connection_socket (st->session);
  set_send_timeout (st->fd, ANSWER_SEND_SECONDS);
  ResponseStatus (st->session, 200);
  ResponseContentType (st->session, st->content_type);
  if (!surely_http11 (st->session, info))   /* it ends with the connection */
    end_connection_after (st->session);
  ResponseChunked (st->session);
  g_autoptr (GByteArray) head = g_byte_array_new ();
  if (st->fd >= 0 && capture_headers (st, head))
    {
      st->direct = TRUE;
      st->chunked = announces_chunks (head);
      return send_piece (st, head, data, len);
    }
  set_cork (st->fd, TRUE);
  ResponseWriteStart (st->session);
  gboolean ok = ResponseWriteBody (st->session, data, (xmlrpc_uint32_t) len);
  set_cork (st->fd, FALSE);
  return ok;
}

gboolean
jq_http_stream_piece (const char *data, gsize len, gpointer stream)
{
  JqHttpStream *st = stream;
  if (!st->started)
    return start_stream (st, data, len);
  if (st->direct)
    return send_piece (st, NULL, data, len);
  return ResponseWriteBody (st->session, data, (xmlrpc_uint32_t) len);
}

/* A client must not take a part for the whole: cut short, the connection
 * ends without the answer's end. */
void
jq_http_stream_end (JqHttpStream *st, gboolean broken)
{
  if (broken)
    {
      end_connection_after (st->session);
      if (st->fd >= 0)
        shutdown (st->fd, SHUT_RDWR);
    }
  else
    ResponseWriteEnd (st->session);
  set_send_timeout (st->fd, 0);
}

/* ---------------------------------------------------------- serving
 *
 * Abyss's accept loop (ServerRun) returns for good when one accept fails:
 * at about 340 idle connections under a limit of 1,024 descriptors the
 * pipe() each Abyss channel needs failed, the loop ended, and the process
 * lived on with the port listening and clients hanging.  So the server
 * gives us a connection limit that its descriptor budget can pay for;
 * run_server() runs ServerRun() again, after a pause, whenever it
 * returns without being told to stop, and logs it once per episode; and
 * the gate (gate.h) refuses with HTTP 503 what Abyss cannot take. */

JqHttp *
jq_http_new (JqLog *log)
{
  JqHttp *http = g_new0 (JqHttp, 1);
  http->log = log;
  http->ports = g_ptr_array_new ();
  g_mutex_init (&http->budget_lock);
  g_cond_init (&http->body_cond);
  http->body_budget = JQ_HTTP_BODY_BUDGET;
  http->big_share = JQ_HTTP_BODY_BIG_SHARE;
  http->wait_seconds = JQ_HTTP_BODY_WAIT_SECONDS;
  http->answer_budget = JQ_HTTP_ANSWER_BUDGET;
  return http;
}

void
jq_http_set_metrics (JqHttp *http, JqMetrics *metrics)
{
  http->metrics = metrics;
}

void
jq_http_set_budgets (JqHttp *http, gsize body, gsize big_share,
                     guint wait_seconds, gsize answer)
{
  http->body_budget = body;
  http->big_share = big_share;
  http->wait_seconds = wait_seconds;
  http->answer_budget = answer;
}

int
jq_http_bind (const char *address, guint port, GError **error)
{
  struct addrinfo hints = { 0 }, *found = NULL;
  char service[16];
  int one = 1;

  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  g_snprintf (service, sizeof service, "%u", port);
  int rc = getaddrinfo (address, service, &hints, &found);
  if (rc != 0)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "cannot listen on \"%s\": not a numeric IP address (%s)",
                   address, gai_strerror (rc));
      return -1;
    }
  int fd = socket (found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind (fd, found->ai_addr, found->ai_addrlen) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot listen on %s port %u: %s%s", address, port,
                   g_strerror (saved),
                   saved == EADDRINUSE
                     ? " (is another job queue server running?)" : "");
      if (fd >= 0)
        close (fd);
      fd = -1;
    }
  freeaddrinfo (found);
  return fd;
}

/* Counts the requests being answered, so that stopping lets each one
 * finish writing its answer before Abyss's connections are interrupted. */
static void
handle_counted (void *user_data, TSession *session, abyss_bool *handled)
{
  Port *p = user_data;
  g_atomic_int_inc (&p->http->in_flight);
  *handled = TRUE;
  p->port.handler (p->http, session, p->port.user_data);
  g_atomic_int_dec_and_test (&p->http->in_flight);
}

static gpointer
run_server (gpointer data)
{
  Port *p = data;
  gboolean failing = FALSE;
  for (;;)
    {
      gint64 started = g_get_monotonic_time ();
      ServerRun (&p->server);
      if (g_atomic_int_get (&p->http->ending))
        break;
      /* It ran for a while: this is a new episode, worth a line. */
      if (g_get_monotonic_time () - started > G_USEC_PER_SEC)
        failing = FALSE;
      if (!failing)
        jq_log_write (p->http->log, JQ_LOG_ERROR,
                      "The HTTP server could not accept a connection "
                      "(descriptors or memory short?); it tries again "
                      "every %d ms.", ACCEPT_RETRY_MS);
      failing = TRUE;
      g_usleep (ACCEPT_RETRY_MS * 1000);
    }
  return NULL;
}

/* Abyss's settings: one handler, at most max_conn connections.  Abyss's
 * defaults (15 connections, 15 s keep-alive) let a handful of idle
 * clients lock everyone else out; see doc/design.md.  NULL, or Abyss's
 * failure (to be freed with free()). */
static const char *
assemble (Port *p, int fd)
{
  const char *abyss_error = NULL;
  AbyssInit (&abyss_error);
  if (abyss_error == NULL)
    ChanSwitchUnixCreateFd (fd, &p->chan_switch, &abyss_error);
  if (abyss_error == NULL)
    ServerCreateSwitch (&p->server, p->chan_switch, &abyss_error);
  if (abyss_error != NULL)
    return abyss_error;
  p->created = TRUE;
  struct ServerReqHandler3 handler = {
    .handleReq = handle_counted,
    .userdata = p,
    .handleReqStackSize = 256 * 1024,
  };
  abyss_bool ok = FALSE;
  ServerAddHandler3 (&p->server, &handler, &ok);
  ServerSetMaxConn (&p->server, p->port.max_conn);
  ServerSetMaxConnBacklog (&p->server, 128);
  ServerSetKeepaliveTimeout (&p->server, 15);
  ServerSetKeepaliveMaxConn (&p->server, 1000000);
  ServerSetTimeout (&p->server, 10);
  ServerSetAdvertise (&p->server, FALSE);
  ServerInit2 (&p->server, &abyss_error);
  if (abyss_error == NULL && !ok)
    abyss_error = strdup ("no handler");
  return abyss_error;
}

static void
port_free (Port *p)
{
  if (p->created)
    ServerFree (&p->server);
  if (p->chan_switch != NULL)
    ChanSwitchDestroy (p->chan_switch);
  g_free (p->what);
  g_free (p);
}

gboolean
jq_http_listen (JqHttp *http, int fd, const JqHttpPort *port,
                GError **error)
{
  /* Bound by jq_http_bind(), listened on only now: until the server
   * serves, a connection is refused, not left waiting in the backlog. */
  if (listen (fd, 128) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot listen on %s: %s",
                   port->address, g_strerror (saved));
      close (fd);
      return FALSE;
    }
  Port *p = g_new0 (Port, 1);
  p->http = http;
  p->port = *port;
  p->port.max_conn = MAX (port->max_conn, 1);
  p->what = g_strdup (port->what);
  const char *abyss_error = assemble (p, fd);
  if (abyss_error != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot start %s: %s",
                   p->what, abyss_error);
      free ((void *) abyss_error);  /* Abyss allocates it with malloc */
      port_free (p);
      close (fd);                   /* the switch does not own it */
      return FALSE;
    }
  g_ptr_array_add (http->ports, p);
  p->thread = g_thread_new ("jq-http", run_server, p);
  if (port->share_percent > 0)
    p->gate = jq_gate_start (fd, p->port.max_conn, port->share_percent,
                             http->log);
  return TRUE;
}

void
jq_http_stop (JqHttp *http)
{
  g_atomic_int_set (&http->ending, TRUE);
  /* Requests inside have their answer or get the "shutting down" fault at
   * once (the door is closed).  Let them write it (bounded: a client that
   * does not read is cut off by Abyss's own time-out anyway). */
  for (int waited = 0; g_atomic_int_get (&http->in_flight) > 0
                       && waited < STOP_WAIT_MS; waited++)
    g_usleep (1000);
  for (guint i = 0; i < http->ports->len; i++)
    {
      Port *p = http->ports->pdata[i];
      g_clear_pointer (&p->gate, jq_gate_stop);
      if (p->thread == NULL)
        continue;
      ServerTerminate (&p->server);
      g_thread_join (g_steal_pointer (&p->thread));
    }
}

void
jq_http_free (JqHttp *http)
{
  if (http == NULL)
    return;
  jq_http_stop (http);
  for (guint i = 0; i < http->ports->len; i++)
    port_free (http->ports->pdata[i]);
  g_ptr_array_unref (http->ports);
  g_mutex_clear (&http->budget_lock);
  g_cond_clear (&http->body_cond);
  g_free (http);
}
