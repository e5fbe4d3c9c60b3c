/* XML-RPC over HTTP for the Bots job queue: the HTTP side.
 *
 * Threading model: Abyss serves each connection on a thread of its own,
 * started from ServerRun() on a thread of ours (run again if it ends by a
 * failed accept); a gate thread of ours refuses connections over the
 * limit (see "connections" below).  Everything in this file but
 * jq_rpc_listen() and jq_rpc_stop() (the loop's) runs on those threads:
 * reading the body and handing it to methods.c, whose door
 * calls are the only code that touches the scheduler.  We build the
 * Abyss server from its parts (ServerCreateSwitch, ServerAddHandler3,
 * ServerRun) rather than with xmlrpc_server_abyss_create(), because that
 * one installs signal handlers and GLib owns SIGCHLD.
 *
 * Replies are corked into one TCP segment: Abyss writes every header line
 * with a send() of its own, which wakes a keep-alive client up to eight
 * times per answer (measured: 20% of the throughput at 16 connections).
 *
 * A body is at most 1 MiB, and the bodies being received, parsed and
 * answered at once at most BODY_BUDGET bytes in all, counted from their
 * first byte: a request whose bytes do not fit waits for room, and gets
 * HTTP 503 after BODY_WAIT_SECONDS.
 *
 * A GET of the status paths (status.h) is answered before any of that;
 * with [jobqueue] status_listen a second Abyss server serves those GETs,
 * and nothing else, on a port of its own. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "rpc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xmlrpc-c/abyss.h>
#include <xmlrpc-c/base.h>
#include <arpa/inet.h>

#include "error.h"
#include "gate.h"
#include "methods.h"
#include "peer.h"
#include "share.h"
#include "status.h"

/* Bytes of request bodies being received, parsed and answered at once.
 * A body counts from its first byte, as its bytes arrive (500 clients
 * each sending 1 MiB slowly held 511 MiB while the bodies were counted
 * only once whole), until its answer is produced.  Parsing costs several
 * times the body, so this bounds both parts whatever the clients do.  A
 * request whose next bytes do not fit waits for room, and gets HTTP 503
 * after BODY_WAIT_SECONDS. */
#define BODY_BUDGET (8 * 1024 * 1024)
/* Bodies over BODY_SMALL (Bots' own calls are a few hundred bytes) may
 * hold at most BODY_BIG_SHARE of it in all: slow large bodies cannot
 * take the room ordinary calls need. */
#define BODY_SMALL (64 * 1024)
#define BODY_BIG_SHARE (6 * 1024 * 1024)
/* How long a request waits for room in BODY_BUDGET before its 503. */
#define BODY_WAIT_SECONDS 10
/* A body must have arrived this long after the headers' end: Abyss's
 * time-out (10 s) is per read, so a body sent one byte every few seconds
 * held its connection for days, and 30 of them every connection a
 * descriptor limit of 128 allows.  HTTP 408 and the connection closed. */
#define BODY_DEADLINE_SECONDS 20
/* Bytes of answers built whole being written at once: a client that
 * does not read keeps its answer (20 such clients asking listjobs of
 * 60 MB held 1.2 GB).  listjobs and history are streamed (see
 * "streaming" below) and hold one piece; what is still built whole is
 * small (other methods, faults) or bounded (status.json, the metrics,
 * the page).  An answer that does not fit beside those being written
 * gets HTTP 503 at once (waiting would keep it built); one answer alone
 * always fits. */
#define ANSWER_BUDGET (64 * 1024 * 1024)
/* A client that takes nothing of its answer for this long is dropped, and
 * the answer freed (SO_SNDTIMEO on the connection's socket). */
#define ANSWER_SEND_SECONDS 30
/* Answers from this size on are written with the send time-out. */
#define ANSWER_BIG (64 * 1024)

struct _JqRpc {
  JqScheduler *scheduler;
  JqDoor      *door;
  JqLog       *log;
  JqMethods   *methods;
  GMutex       body_lock;      /* guards body_bytes, big_bytes and
                                * answer_bytes */
  GCond        body_cond;      /* body_bytes went down */
  gsize        body_bytes;     /* of requests being read or parsed */
  gsize        big_bytes;      /* of those, bodies over BODY_SMALL */
  gsize        answer_bytes;   /* of answers being written; body_lock */
  TServer      server;
  TChanSwitch *chan_switch;
  gboolean     server_created;
  GThread     *thread;         /* runs Abyss's accept loop */
  JqGate      *gate;           /* refuses what Abyss cannot take */
  int          listen_fd;
  guint        max_conn;
  guint        share_percent;  /* a user's share of max_conn, percent */
  gint         ending;         /* atomic: jq_rpc_stop() was called */
  gint         in_flight;      /* atomic: requests being answered */
  JqStatus    *status;         /* nullable: GET pages and metrics */
  TServer      status_server;  /* the status-only port, when configured */
  TChanSwitch *status_switch;
  gboolean     status_created;
  GThread     *status_thread;
  char        *bind_address;   /* the XML-RPC port's, for the Host rule */
  const JqAdmins *admins;      /* nullable: root and our own user only */
  struct sockaddr_in own_v4;   /* the XML-RPC port's address when bound to
                                * one IPv4 address; sin_family 0 if not */
};

/* ---------------------------------------------------------- HTTP */

/* The socket of the connection this Abyss thread serves.  Abyss does not
 * expose it, but tells the peer's address: the one socket of ours with
 * that peer is the connection.  Looked up once per connection. */
static __thread int cork_fd = -1;
static __thread struct sockaddr cork_peer;
static __thread gboolean cork_peer_known;

static int
connection_socket (TSession *session)
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

/* The rpc object of the request this Abyss thread serves. */
static __thread JqRpc *serving;

/* The caller behind the connection this Abyss thread serves: Abyss
 * serves a connection on a thread of its own, so this is looked up once
 * per connection (peer.h), on its first request. */
static __thread JqCaller conn_caller;
static __thread struct sockaddr conn_caller_peer;
static __thread gboolean conn_caller_set;

/* The connection's two ends.  Bound to one IPv4 address, they are that
 * address and the peer Abyss tells; otherwise (an IPv6 peer does not fit
 * in Abyss's struct sockaddr, and bound to every address our own end is
 * not known) the connection's socket says. */
static gboolean
connection_tuple (JqRpc *rpc, TSession *session,
                  const struct abyss_unix_chaninfo *info, JqPeerTuple *tuple)
{
  if (rpc->own_v4.sin_family == AF_INET
      && info->peerAddr.sa_family == AF_INET)
    {
      memset (tuple, 0, sizeof *tuple);
      memcpy (&tuple->client, &info->peerAddr, sizeof (struct sockaddr_in));
      memcpy (&tuple->server, &rpc->own_v4, sizeof rpc->own_v4);
      return TRUE;
    }
  int fd = connection_socket (session);
  return fd >= 0 && jq_peer_tuple_of_socket (fd, tuple);
}

static const JqCaller *
connection_caller (JqRpc *rpc, TSession *session)
{
  struct abyss_unix_chaninfo *info = NULL;
  SessionGetChannelInfo (session, (void **) &info);
  if (info == NULL)
    {
      jq_caller_init (&conn_caller, FALSE, 0, NULL);
      return &conn_caller;
    }
  gsize n = MIN (info->peerAddrLen, sizeof info->peerAddr);
  if (conn_caller_set && memcmp (&conn_caller_peer, &info->peerAddr, n) == 0)
    return &conn_caller;
  JqPeerTuple tuple;
  uid_t uid = 0;
  gboolean have = connection_tuple (rpc, session, info, &tuple);
  gboolean known = have && jq_peer_uid (&tuple, &uid);
  char address[INET6_ADDRSTRLEN] = "";
  if (have)
    {
      const struct sockaddr_storage *c = &tuple.client;
      inet_ntop (c->ss_family, c->ss_family == AF_INET
                   ? (const void *) &((const struct sockaddr_in *) c)->sin_addr
                   : (const void *) &((const struct sockaddr_in6 *) c)->sin6_addr,
                 address, sizeof address);
    }
  jq_caller_init (&conn_caller, known, uid, address[0] ? address : NULL);
  if (known && !conn_caller.admin && jq_admins_include (rpc->admins, uid))
    conn_caller.admin = TRUE;
  conn_caller_peer = info->peerAddr;
  conn_caller_set = TRUE;
  return &conn_caller;
}

static void count_refusal (guint16 status);
static gboolean drain_body (TSession *session);
static gboolean xml_content_type (const char *type);

static void
http_error (TSession *session, guint16 status, const char *explanation)
{
  count_refusal (status);
  ResponseStatus (session, status);
  ResponseError2 (session, explanation);
}

/* Takes @n bytes of BODY_BUDGET (and of BODY_BIG_SHARE for a @big
 * body), waiting until @deadline for room.  FALSE when there was none. */
static gboolean
body_charge (JqRpc *rpc, gsize n, gboolean big, gint64 deadline)
{
  gboolean ok = TRUE;
  g_mutex_lock (&rpc->body_lock);
  while (ok && (rpc->body_bytes + n > BODY_BUDGET
                || (big && rpc->big_bytes + n > BODY_BIG_SHARE)))
    ok = g_cond_wait_until (&rpc->body_cond, &rpc->body_lock, deadline);
  if (ok)
    {
      rpc->body_bytes += n;
      rpc->big_bytes += big ? n : 0;
    }
  g_mutex_unlock (&rpc->body_lock);
  return ok;
}

static void
body_release (JqRpc *rpc, gsize n, gboolean big)
{
  g_mutex_lock (&rpc->body_lock);
  rpc->body_bytes -= n;
  rpc->big_bytes -= big ? n : 0;
  g_cond_broadcast (&rpc->body_cond);
  g_mutex_unlock (&rpc->body_lock);
}

typedef enum {
  BODY_READ,      /* all there */
  BODY_GONE,      /* the client went away or stalled: nothing to answer */
  BODY_LATE,      /* not there by BODY_DEADLINE_SECONDS */
  BODY_BUSY,      /* no room in BODY_BUDGET within BODY_WAIT_SECONDS */
} BodyEnd;

/* Reads exactly @len body bytes into @buf, each charged to BODY_BUDGET
 * before it is stored; with @buf NULL they are read and dropped, which
 * costs nothing.  When the budget has no room within BODY_WAIT_SECONDS,
 * the rest is read and dropped too (BODY_BUSY): the client then gets its
 * 503 on a connection in order, not a reset.  On BODY_READ the caller
 * holds @len bytes of the budget (body_release); otherwise none. */
static BodyEnd
read_body (JqRpc *rpc, TSession *session, char *buf, gsize len)
{
  gint64 now = g_get_monotonic_time ();
  gint64 deadline = now + BODY_DEADLINE_SECONDS * G_USEC_PER_SEC;
  gint64 room_deadline = now + BODY_WAIT_SECONDS * G_USEC_PER_SEC;
  gboolean big = len > BODY_SMALL, busy = FALSE;
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
      else if (buf != NULL && !body_charge (rpc, n, big, room_deadline))
        {
          body_release (rpc, have, big);
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
    body_release (rpc, have, big);
  return end;
}

/* read_body(), and the answer when the body did not come: FALSE when
 * the request is over (answered, or nobody left to answer). */
static gboolean
body_arrived (JqRpc *rpc, TSession *session, char *buf, gsize len)
{
  BodyEnd end = read_body (rpc, session, buf, len);
  if (end == BODY_READ || end == BODY_GONE)
    return end == BODY_READ;
  if (end == BODY_BUSY)   /* read to its end: the connection goes on */
    {
      ResponseAddField (session, "Retry-After", "1");
      http_error (session, 503, "The server is busy; try again.");
      return FALSE;
    }
  /* The rest of the body must not be read as a request. */
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  ((TRequestInfo *) info)->keepalive = FALSE;
  http_error (session, 408, "The request body came too slowly.");
  return FALSE;
}

/* Takes @len bytes of ANSWER_BUDGET; FALSE when they do not fit beside
 * the answers being written. */
static gboolean
answer_reserve (JqRpc *rpc, gsize len)
{
  g_mutex_lock (&rpc->body_lock);
  gboolean ok = rpc->answer_bytes == 0
                || rpc->answer_bytes + len <= ANSWER_BUDGET;
  if (ok)
    rpc->answer_bytes += len;
  g_mutex_unlock (&rpc->body_lock);
  return ok;
}

static void
answer_release (JqRpc *rpc, gsize len)
{
  g_mutex_lock (&rpc->body_lock);
  rpc->answer_bytes -= len;
  g_mutex_unlock (&rpc->body_lock);
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

/* Abyss drops whatever it has read past the current request when that
 * request is answered, so a request pipelined behind it would never be
 * answered and its client would hang.  When such bytes are there, the
 * answer says "Connection: close" and the connection ends after it: the
 * client sees the close and sends the rest again.  Abyss decides this
 * from the request's keepalive flag, which it hands out as const. */
static void
close_if_pipelined (TSession *session, const TRequestInfo *info)
{
  const char *next = NULL;
  size_t n = 0;
  SessionGetReadData (session, 1, &next, &n);
  if (n > 0)
    ((TRequestInfo *) info)->keepalive = FALSE;
}

/* ---------------------------------------------------------- streaming
 * A large answer (listjobs, history) is written as it is produced, in
 * pieces of JQ_MESSAGE_FLUSH_BYTES (methods.h): chunked to an HTTP/1.1
 * client, to an HTTP/1.0 one (Python 2's xmlrpclib) up to the close.
 * Each piece is sent before the next is produced, so a connection holds
 * one piece, and a client that reads slowly slows its own answer only;
 * one that takes nothing for ANSWER_SEND_SECONDS is dropped. */

typedef struct {
  TSession *session;
  gboolean  started;    /* the headers went out */
  int       fd;         /* the connection's socket, corked; -1: unknown */
} Stream;

/* Whether the request line ends in HTTP/1.0 (or 0.9): no chunks. */
static gboolean
before_http11 (const TRequestInfo *info)
{
  const char *line = info->requestline;
  const char *version = line != NULL ? strrchr (line, '/') : NULL;
  return version == NULL || strncmp (version, "/1.0", 4) == 0
         || strncmp (version, "/0.", 3) == 0;
}

static gboolean
stream_piece (const char *data, gsize len, gpointer user_data)
{
  Stream *st = user_data;
  if (!st->started)
    {
      const TRequestInfo *info = NULL;
      SessionGetRequestInfo (st->session, &info);
      st->started = TRUE;
      st->fd = connection_socket (st->session);
      set_cork (st->fd, TRUE);
      set_send_timeout (st->fd, ANSWER_SEND_SECONDS);
      ResponseStatus (st->session, 200);
      ResponseContentType (st->session, "text/xml");
      if (before_http11 (info))   /* the answer ends with the connection */
        ((TRequestInfo *) info)->keepalive = FALSE;
      ResponseChunked (st->session);
      ResponseWriteStart (st->session);
      gboolean ok = ResponseWriteBody (st->session, data,
                                       (xmlrpc_uint32_t) len);
      /* Corked, a client with a small window would get a piece per
       * 200 ms (the kernel's cork timer): the headers and the first
       * piece together, the rest as it comes. */
      set_cork (st->fd, FALSE);
      return ok;
    }
  return ResponseWriteBody (st->session, data, (xmlrpc_uint32_t) len);
}

/* After the last piece: the answer's end, or, when it was cut short, a
 * close without it (a client must not take a part for the whole). */
static void
stream_end (Stream *st, gboolean broken)
{
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (st->session, &info);
  if (broken)
    {
      ((TRequestInfo *) info)->keepalive = FALSE;
      if (st->fd >= 0)
        shutdown (st->fd, SHUT_RDWR);
    }
  else
    ResponseWriteEnd (st->session);
  set_send_timeout (st->fd, 0);
}

/* Writes an answer built whole (@response, which it takes), under the
 * answer budget. */
static void
write_whole (JqRpc *rpc, TSession *session, const TRequestInfo *info,
             GBytes *response)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (response, &size);
  if (!answer_reserve (rpc, size))
    {
      g_bytes_unref (response);
      ResponseAddField (session, "Retry-After", "1");
      http_error (session, 503, "The server is busy; try again.");
      return;
    }
  /* Only keep-alive clients wait between segments, and only big answers
   * are worth a send time-out; a small one-shot answer is not worth the
   * look-up. */
  gboolean big = size >= ANSWER_BIG;
  int fd = info->keepalive || big ? connection_socket (session) : -1;
  set_cork (fd, TRUE);
  if (big)
    set_send_timeout (fd, ANSWER_SEND_SECONDS);
  ResponseStatus (session, 200);
  ResponseContentType (session, "text/xml");
  ResponseContentLength (session, size);
  ResponseWriteStart (session);
  ResponseWriteBody (session, data, (xmlrpc_uint32_t) size);
  ResponseWriteEnd (session);
  if (big)
    set_send_timeout (fd, 0);
  set_cork (fd, FALSE);
  g_bytes_unref (response);
  answer_release (rpc, size);
}

static void
handle_http (void *user_data, TSession *session, abyss_bool *handled)
{
  JqRpc *rpc = user_data;
  const TRequestInfo *info = NULL;

  *handled = TRUE;
  SessionGetRequestInfo (session, &info);
  if (info->method != m_post)
    {
      ResponseAddField (session, "Allow", "POST");
      http_error (session, 405, "XML-RPC requests are sent with POST.");
      return;
    }
  if (!xml_content_type (RequestHeaderValue (session, "content-type")))
    {
      if (drain_body (session))
        http_error (session, 415, "XML-RPC requests are sent with "
                    "Content-Type: text/xml.");
      return;
    }
  const char *encoding = RequestHeaderValue (session, "transfer-encoding");
  const char *length = RequestHeaderValue (session, "content-length");
  if (encoding != NULL || length == NULL)
    {
      http_error (session, 411, "A Content-Length header is required.");
      return;
    }
  guint64 len = 0;
  if (!g_ascii_string_to_unsigned (length, 10, 0, G_MAXUINT64, &len, NULL))
    {
      http_error (session, 400, "Content-Length is not a number.");
      return;
    }
  if (len > JQ_RPC_MAX_BODY)
    {
      http_error (session, 413, "The request body is too large.");
      return;
    }

  /* Untouched pages cost nothing: a body takes memory as it arrives, and
   * read_body() charges each byte before it is stored. */
  g_autofree char *body = g_malloc (len + 1);
  if (!body_arrived (rpc, session, body, len))
    return;
  body[len] = '\0';
  close_if_pipelined (session, info);

  Stream stream = { session, FALSE, -1 };
  gboolean broken = FALSE;
  g_autoptr (GBytes) response = jq_methods_process_streamed (
      rpc->methods, connection_caller (rpc, session), body, len, stream_piece, &stream, &broken);
  g_clear_pointer (&body, g_free);
  body_release (rpc, len, len > BODY_SMALL);
  if (response == NULL)
    {
      stream_end (&stream, broken);
      return;
    }
  write_whole (rpc, session, info, g_steal_pointer (&response));
}

/* ---------------------------------------------------------- browsers
 * A web page on another origin can make the user's browser POST to
 * 127.0.0.1:28082 (a "simple" request: text/plain, a form, a Blob with no
 * type; no preflight), and a DNS-rebinding page can even read answers,
 * its own host name resolving to 127.0.0.1.  Either could queue jobs,
 * pause or clear the queue.  XML-RPC clients (Python's xmlrpc.client and
 * xmlrpclib, xmlrpc-c's curl transport, Bots) send text/xml, no Origin,
 * and a Host that names the address they connected to; browsers cannot
 * send a cross-origin text/xml POST without a preflight we never answer,
 * and always send the Host of the page's own name.  So the XML-RPC port
 * refuses (doc/configuration.md, "Browsers"):
 * - a Host that is not a loopback IP literal, "localhost" or the
 *   configured bind address (any port; bound to 0.0.0.0 or ::, any IP
 *   literal): 403;
 * - an Origin other than http://<that Host>: 403;
 * - a POST whose Content-Type is not text/xml or application/xml: 415.
 * The status-only port is meant for other hosts and serves only GETs that
 * change nothing: it keeps no Host rule. */

/* Whether @host (a Host header: name or [v6], optional :port) names this
 * server. */
static gboolean
host_allowed (const JqRpc *rpc, const char *host)
{
  g_autofree char *name = NULL;
  const char *port = NULL;
  if (host[0] == '[')
    {
      const char *close = strchr (host, ']');
      if (close == NULL)
        return FALSE;
      name = g_strndup (host + 1, close - host - 1);
      port = close[1] == ':' ? close + 2 : close[1] == '\0' ? "" : NULL;
    }
  else
    {
      const char *colon = strchr (host, ':');
      name = colon ? g_strndup (host, colon - host) : g_strdup (host);
      port = colon ? colon + 1 : "";
      if (colon != NULL && strchr (colon + 1, ':') != NULL)
        return FALSE;
    }
  if (port == NULL || strspn (port, "0123456789") != strlen (port)
      || strlen (port) > 5)
    return FALSE;
  if (g_ascii_strcasecmp (name, "localhost") == 0)
    return TRUE;
  if (rpc->bind_address != NULL
      && g_ascii_strcasecmp (name, rpc->bind_address) == 0)
    return TRUE;
  struct in_addr v4;
  struct in6_addr v6;
  gboolean is_v4 = inet_pton (AF_INET, name, &v4) == 1;
  gboolean is_v6 = !is_v4 && inet_pton (AF_INET6, name, &v6) == 1;
  /* Bound to every address, the server is any of the machine's: an IP
   * literal cannot be rebound by DNS, a name can. */
  if ((is_v4 || is_v6) && rpc->bind_address != NULL
      && (strcmp (rpc->bind_address, "0.0.0.0") == 0
          || strcmp (rpc->bind_address, "::") == 0))
    return TRUE;
  if (is_v4)
    return (ntohl (v4.s_addr) >> 24) == 127;
  return is_v6
         && (IN6_IS_ADDR_LOOPBACK (&v6)
             || (IN6_IS_ADDR_V4MAPPED (&v6) && v6.s6_addr[12] == 127));
}

/* Reads a small announced body, so that the client gets the answer
 * rather than a reset.  FALSE when the client went away, or was answered
 * 408 because the body came too slowly. */
static gboolean
drain_body (TSession *session)
{
  const char *length = RequestHeaderValue (session, "content-length");
  guint64 len = 0;
  if (length != NULL
      && g_ascii_string_to_unsigned (length, 10, 1, JQ_RPC_MAX_BODY, &len,
                                     NULL))
    return body_arrived (serving, session, NULL, len);
  return TRUE;
}

/* The Host and Origin rules.  FALSE when the request was refused. */
static gboolean
from_this_host (JqRpc *rpc, TSession *session)
{
  const char *host = RequestHeaderValue (session, "host");
  const char *origin = RequestHeaderValue (session, "origin");
  const char *why = NULL;
  if (host != NULL && !host_allowed (rpc, host))
    why = "The Host header does not name this server (a loopback address, "
          "localhost or its bind address); refused against DNS rebinding.";
  else if (origin != NULL
           && (host == NULL || !g_str_has_prefix (origin, "http://")
               || g_ascii_strcasecmp (origin + 7, host) != 0))
    why = "Requests from web pages of other origins are refused.";
  if (why == NULL)
    return TRUE;
  if (drain_body (session))
    http_error (session, 403, why);
  return FALSE;
}

/* text/xml or application/xml, parameters (charset) allowed. */
static gboolean
xml_content_type (const char *type)
{
  if (type == NULL)
    return FALSE;
  gsize n = strcspn (type, ";");
  g_autofree char *media = g_strstrip (g_strndup (type, n));
  return g_ascii_strcasecmp (media, "text/xml") == 0
         || g_ascii_strcasecmp (media, "application/xml") == 0;
}

/* ---------------------------------------------------------- status
 * GET of the status page, its JSON and the metrics (status.c builds
 * them); on the XML-RPC port and, when configured, on a port of their
 * own that serves nothing else. */


static void
count_refusal (guint16 status)
{
  if (serving == NULL || serving->status == NULL)
    return;
  JqRefused why = status == 405 || status == 403 || status == 415
                ? JQ_REFUSED_METHOD
                : status == 413 ? JQ_REFUSED_TOO_LARGE
                : status == 404 ? JQ_REFUSED_NOT_FOUND : JQ_REFUSED_LENGTH;
  jq_metrics_count_refused (jq_status_get_metrics (serving->status), why);
}

/* Answers a GET of a status path; FALSE (nothing sent) for other paths. */
static gboolean
serve_status (JqRpc *rpc, TSession *session, const TRequestInfo *info)
{
  JqStatusPath what = jq_status_match (info->uri);
  if (what == JQ_STATUS_NONE)
    return FALSE;
  /* A GET has no body; one that claims one would be read as the next
   * request of the connection. */
  const char *length = RequestHeaderValue (session, "content-length");
  if (RequestHeaderValue (session, "transfer-encoding") != NULL
      || (length != NULL && strcmp (length, "0") != 0))
    {
      http_error (session, 400, "A GET request has no body.");
      return TRUE;
    }
  g_autoptr (GError) error = NULL;
  const char *type = NULL;
  g_autoptr (GBytes) body = jq_status_answer (rpc->status, what, &type,
                                              &error);
  if (body == NULL)
    {
      http_error (session, 503, error->message);
      return TRUE;
    }
  gsize size = 0;
  const char *data = g_bytes_get_data (body, &size);
  if (!answer_reserve (rpc, size))
    {
      ResponseAddField (session, "Retry-After", "1");
      http_error (session, 503, "The server is busy; try again.");
      return TRUE;
    }
  gboolean big = size >= ANSWER_BIG;
  int fd = info->keepalive || big ? connection_socket (session) : -1;
  set_cork (fd, TRUE);
  if (big)
    set_send_timeout (fd, ANSWER_SEND_SECONDS);
  ResponseStatus (session, 200);
  ResponseContentType (session, type);
  ResponseContentLength (session, size);
  ResponseAddField (session, "Cache-Control", "no-store");
  ResponseAddField (session, "X-Content-Type-Options", "nosniff");
  if (what == JQ_STATUS_PAGE)
    /* Nothing but the page's own inline script and style, and its JSON. */
    ResponseAddField (session, "Content-Security-Policy",
                      jq_status_page_csp ());
  ResponseWriteStart (session);
  /* HEAD: the GET's headers, its Content-Length included, no body. */
  if (info->method != m_head)
    ResponseWriteBody (session, data, (xmlrpc_uint32_t) size);
  ResponseWriteEnd (session);
  if (big)
    set_send_timeout (fd, 0);
  set_cork (fd, FALSE);
  answer_release (rpc, size);
  return TRUE;
}

/* The XML-RPC port: GET of a status path, else XML-RPC as before. */
static void
handle_request (void *user_data, TSession *session, abyss_bool *handled)
{
  JqRpc *rpc = user_data;
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  serving = rpc;
  *handled = TRUE;
  if (!from_this_host (rpc, session))
    return;
  if ((info->method == m_get || info->method == m_head)
      && rpc->status != NULL && serve_status (rpc, session, info))
    return;
  handle_http (user_data, session, handled);
}

/* The status-only port: never XML-RPC. */
static void
handle_status_only (void *user_data, TSession *session, abyss_bool *handled)
{
  JqRpc *rpc = user_data;
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  serving = rpc;
  *handled = TRUE;
  if (info->method != m_get && info->method != m_head)
    {
      if (!drain_body (session))
        return;
      ResponseAddField (session, "Allow", "GET, HEAD");
      http_error (session, 405, "This port serves only GET of the status "
                  "page and the metrics.");
    }
  else if (!serve_status (rpc, session, info))
    http_error (session, 404, "This port serves /, /status.json and "
                "/metrics only.");
}

void
jq_rpc_set_status (JqRpc *rpc, JqStatus *status)
{
  rpc->status = status;
  jq_methods_set_status (rpc->methods, status);
}

void
jq_rpc_set_admins (JqRpc *rpc, const JqAdmins *admins)
{
  rpc->admins = admins;
}

JqMethods *
jq_rpc_get_methods (JqRpc *rpc)
{
  return rpc->methods;
}

void
jq_rpc_set_bots3_answers (JqRpc *rpc, gboolean bots3)
{
  jq_methods_set_bots3_answers (rpc->methods, bots3);
}

GBytes *
jq_rpc_process (JqRpc *rpc, const char *body, gsize len)
{
  JqCaller self;
  jq_caller_init_self (&self);
  return jq_methods_process (rpc->methods, &self, body, len);
}

JqRpc *
jq_rpc_new (JqScheduler *scheduler, JqDoor *door, JqLog *log)
{
  JqRpc *rpc = g_new0 (JqRpc, 1);
  rpc->scheduler = scheduler;
  rpc->door = door;
  rpc->log = log;
  g_mutex_init (&rpc->body_lock);
  g_cond_init (&rpc->body_cond);
  rpc->methods = jq_methods_new (scheduler, door, log);
  rpc->listen_fd = -1;
  rpc->max_conn = JQ_RPC_MAX_CONN;
  rpc->share_percent = JQ_SHARE_DEFAULT_PERCENT;
  jq_methods_set_max_blocked_waits (rpc->methods,
                                    rpc->max_conn / JQ_RPC_WAIT_SHARE);
  return rpc;
}

int
jq_rpc_bind (const char *address, guint port, GError **error)
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

/* Bound by jq_rpc_bind(), listened on only now: until the server
 * serves, a connection is refused, not left waiting in the backlog. */
static gboolean
start_listening (int fd, const char *address, GError **error)
{
  if (listen (fd, 128) == 0)
    return TRUE;
  int saved = errno;
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot listen on %s: %s",
               address, g_strerror (saved));
  close (fd);
  return FALSE;
}

/* Counts the requests being answered, so that stopping lets each one
 * finish writing its answer before Abyss's connections are interrupted. */
static void
handle_http_counted (void *user_data, TSession *session, abyss_bool *handled)
{
  JqRpc *rpc = user_data;
  g_atomic_int_inc (&rpc->in_flight);
  handle_request (user_data, session, handled);
  g_atomic_int_dec_and_test (&rpc->in_flight);
}

/* ---------------------------------------------------------- connections
 *
 * Abyss's accept loop (ServerRun) returns for good when one accept fails:
 * at about 340 idle connections under a limit of 1,024 descriptors the
 * pipe() each Abyss channel needs failed, the loop ended, and the process
 * lived on with the port listening and clients hanging.  So the server
 * gives us a connection limit that its descriptor budget can pay for
 * (jq_rpc_set_max_connections); run_server() runs ServerRun() again,
 * after a pause, whenever it returns without being told to stop, and
 * logs it once per episode; and the gate (gate.h) refuses with HTTP 503
 * what Abyss cannot take. */

/* After ServerRun() returned by failure, before it runs again. */
#define ACCEPT_RETRY_MS 100
/* At most this long for answers being written when stopping. */
#define STOP_WAIT_MS 2000

static gpointer
run_server (gpointer data)
{
  JqRpc *rpc = data;
  gboolean failing = FALSE;
  for (;;)
    {
      gint64 started = g_get_monotonic_time ();
      ServerRun (&rpc->server);
      if (g_atomic_int_get (&rpc->ending))
        break;
      /* It ran for a while: this is a new episode, worth a line. */
      if (g_get_monotonic_time () - started > G_USEC_PER_SEC)
        failing = FALSE;
      if (!failing)
        jq_log_write (rpc->log, JQ_LOG_ERROR,
                      "The HTTP server could not accept a connection "
                      "(descriptors or memory short?); it tries again "
                      "every %d ms.", ACCEPT_RETRY_MS);
      failing = TRUE;
      g_usleep (ACCEPT_RETRY_MS * 1000);
    }
  return NULL;
}

void
jq_rpc_set_max_connections (JqRpc *rpc, guint max_conn)
{
  rpc->max_conn = MAX (max_conn, 1);
  jq_methods_set_max_blocked_waits (rpc->methods,
                                    rpc->max_conn / JQ_RPC_WAIT_SHARE);
}

void
jq_rpc_set_user_share (JqRpc *rpc, guint percent)
{
  rpc->share_percent = CLAMP (percent, 1, 100);
}

/* Both ports' Abyss settings: @handle for every request, at most
 * @max_conn connections.  Abyss's defaults (15 connections, 15 s
 * keep-alive) let a handful of idle clients lock everyone else out; see
 * doc/design.md.  FALSE when the handler could not be added; *@abyss_error
 * is Abyss's own failure. */
static abyss_bool
set_up_server (TServer *server,
               void (*handle) (void *, TSession *, abyss_bool *),
               JqRpc *rpc, guint max_conn, const char **abyss_error)
{
  struct ServerReqHandler3 handler = {
    .handleReq = handle,
    .userdata = rpc,
    .handleReqStackSize = 256 * 1024,
  };
  abyss_bool ok = FALSE;
  ServerAddHandler3 (server, &handler, &ok);
  ServerSetMaxConn (server, max_conn);
  ServerSetMaxConnBacklog (server, 128);
  ServerSetKeepaliveTimeout (server, 15);
  ServerSetKeepaliveMaxConn (server, 1000000);
  ServerSetTimeout (server, 10);
  ServerSetAdvertise (server, FALSE);
  ServerInit2 (server, abyss_error);
  return ok;
}

gboolean
jq_rpc_listen (JqRpc *rpc, const char *address, int fd, GError **error)
{
  const char *abyss_error = NULL;
  if (!start_listening (fd, address, error))
    return FALSE;
  g_free (rpc->bind_address);
  rpc->bind_address = g_strdup (address);

  AbyssInit (&abyss_error);
  if (abyss_error == NULL)
    ChanSwitchUnixCreateFd (fd, &rpc->chan_switch, &abyss_error);
  if (abyss_error == NULL)
    ServerCreateSwitch (&rpc->server, rpc->chan_switch, &abyss_error);
  if (abyss_error != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot start the HTTP server: %s", abyss_error);
      free ((void *) abyss_error);  /* Abyss allocates it with malloc */
      if (rpc->chan_switch != NULL)
        ChanSwitchDestroy (rpc->chan_switch);
      rpc->chan_switch = NULL;
      close (fd);
      return FALSE;
    }
  rpc->server_created = TRUE;

  abyss_bool ok = set_up_server (&rpc->server, handle_http_counted, rpc,
                                 rpc->max_conn, &abyss_error);
  if (!ok || abyss_error != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot start the HTTP server: %s",
                   abyss_error ? abyss_error : "no handler");
      if (abyss_error)
        free ((void *) abyss_error);  /* Abyss allocates it with malloc */
      return FALSE;
    }
  rpc->listen_fd = fd;
  struct sockaddr_storage own;
  socklen_t own_len = sizeof own;
  if (getsockname (fd, (struct sockaddr *) &own, &own_len) == 0
      && own.ss_family == AF_INET
      && ((struct sockaddr_in *) &own)->sin_addr.s_addr != htonl (INADDR_ANY))
    memcpy (&rpc->own_v4, &own, sizeof rpc->own_v4);
  rpc->thread = g_thread_new ("jq-http", run_server, rpc);
  rpc->gate = jq_gate_start (fd, rpc->max_conn, rpc->share_percent,
                             rpc->log);
  return TRUE;
}

static gpointer
run_status_server (gpointer data)
{
  JqRpc *rpc = data;
  ServerRun (&rpc->status_server);
  return NULL;
}

gboolean
jq_rpc_listen_status (JqRpc *rpc, const char *address, guint port,
                      int fd, GError **error)
{
  const char *abyss_error = NULL;
  abyss_bool ok = FALSE;
  g_return_val_if_fail (rpc->status != NULL, FALSE);
  if (!start_listening (fd, address, error))
    return FALSE;
  AbyssInit (&abyss_error);
  if (abyss_error == NULL)
    ChanSwitchUnixCreateFd (fd, &rpc->status_switch, &abyss_error);
  if (abyss_error == NULL)
    ServerCreateSwitch (&rpc->status_server, rpc->status_switch,
                        &abyss_error);
  if (abyss_error == NULL)
    {
      rpc->status_created = TRUE;
      /* Fewer connections: its clients are browsers and scrapers. */
      ok = set_up_server (&rpc->status_server, handle_status_only, rpc,
                          JQ_RPC_MAX_STATUS_CONN, &abyss_error);
    }
  else if (rpc->status_switch == NULL)
    close (fd);
  if (!ok || abyss_error != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot start the status HTTP server on %s port %u: %s",
                   address, port, abyss_error ? abyss_error : "no handler");
      if (abyss_error)
        free ((void *) abyss_error);  /* Abyss allocates it with malloc */
      return FALSE;
    }
  rpc->status_thread = g_thread_new ("jq-status-http", run_status_server,
                                     rpc);
  return TRUE;
}

void
jq_rpc_stop (JqRpc *rpc)
{
  if (rpc->status_thread != NULL)
    {
      ServerTerminate (&rpc->status_server);
      g_thread_join (g_steal_pointer (&rpc->status_thread));
    }
  /* wait() calls give their answer now rather than hold Abyss up. */
  jq_methods_stop (rpc->methods);
  if (rpc->thread == NULL)
    return;
  g_atomic_int_set (&rpc->ending, TRUE);
  /* The door is closed: every request inside has its answer or gets the
   * "shutting down" fault at once.  Let them write it (bounded: a client
   * that does not read is cut off by Abyss's own time-out anyway). */
  for (int waited = 0; g_atomic_int_get (&rpc->in_flight) > 0
                       && waited < STOP_WAIT_MS; waited++)
    g_usleep (1000);
  g_clear_pointer (&rpc->gate, jq_gate_stop);
  ServerTerminate (&rpc->server);
  g_thread_join (g_steal_pointer (&rpc->thread));
}

void
jq_rpc_free (JqRpc *rpc)
{
  if (rpc == NULL)
    return;
  jq_rpc_stop (rpc);
  if (rpc->server_created)
    ServerFree (&rpc->server);
  if (rpc->chan_switch != NULL)
    ChanSwitchDestroy (rpc->chan_switch);
  if (rpc->status_created)
    ServerFree (&rpc->status_server);
  if (rpc->status_switch != NULL)
    ChanSwitchDestroy (rpc->status_switch);
  g_mutex_clear (&rpc->body_lock);
  g_cond_clear (&rpc->body_cond);
  jq_methods_free (rpc->methods);
  g_free (rpc->bind_address);
  g_free (rpc);
}
