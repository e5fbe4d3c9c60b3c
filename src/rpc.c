/* XML-RPC over HTTP for the Bots job queue: what each request is, and who
 * may send it.  http.c serves the ports (Abyss, budgets, corking); here
 * are their handlers: on the XML-RPC port a GET of a status path is
 * answered from status.c and everything else must be an XML-RPC POST
 * that the browser rules let through, whose body goes to methods.c; the
 * optional status-only port ([jobqueue] status_listen) serves those GETs
 * and nothing else.
 *
 * The handlers run on Abyss's connection threads, many at once;
 * jq_rpc_listen*() and jq_rpc_stop() on the loop thread.  methods.c's
 * door calls are the only code behind them that touches the scheduler. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "rpc.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <xmlrpc-c/abyss.h>
#include <arpa/inet.h>

#include "http.h"
#include "peer.h"
#include "share.h"

struct _JqRpc {
  JqMethods   *methods;        /* borrowed */
  JqStatus    *status;         /* borrowed, nullable: GET pages, metrics */
  JqLog       *log;
  JqHttp      *http;           /* both ports */
  guint        max_conn;
  guint        share_percent;  /* a user's share of max_conn, percent */
  guint        max_status_conn;  /* on the status-only port */
  char        *bind_address;   /* the XML-RPC port's, for the Host rule */
  const JqAdmins *admins;      /* nullable: root and our own user only */
  struct sockaddr_in own_v4;   /* the XML-RPC port's address when bound to
                                * one IPv4 address; sin_family 0 if not */
};

/* ---------------------------------------------------------- callers */

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
  int fd = jq_http_connection_socket (session);
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

/* ---------------------------------------------------------- XML-RPC */

static gboolean xml_content_type (const char *type);

/* The headers of an XML-RPC POST: its body's length, or FALSE when the
 * request was refused. */
static gboolean
post_length (JqRpc *rpc, TSession *session, const TRequestInfo *info,
             gsize *len)
{
  if (info->method != m_post)
    {
      ResponseAddField (session, "Allow", "POST");
      jq_http_error (rpc->http, session, 405,
                     "XML-RPC requests are sent with POST.");
      return FALSE;
    }
  if (!xml_content_type (RequestHeaderValue (session, "content-type")))
    {
      if (jq_http_drain_body (rpc->http, session, JQ_RPC_MAX_BODY))
        jq_http_error (rpc->http, session, 415, "XML-RPC requests are sent "
                       "with Content-Type: text/xml.");
      return FALSE;
    }
  const char *encoding = RequestHeaderValue (session, "transfer-encoding");
  const char *length = RequestHeaderValue (session, "content-length");
  guint64 n = 0;
  const char *why = NULL;
  guint16 status = 400;
  if (encoding != NULL || length == NULL)
    why = "A Content-Length header is required.", status = 411;
  else if (!g_ascii_string_to_unsigned (length, 10, 0, G_MAXUINT64, &n,
                                        NULL))
    why = "Content-Length is not a number.";
  else if (n > JQ_RPC_MAX_BODY)
    why = "The request body is too large.", status = 413;
  if (why != NULL)
    {
      jq_http_error (rpc->http, session, status, why);
      return FALSE;
    }
  *len = n;
  return TRUE;
}

/* An XML-RPC call: its body to methods.c, the answer back, whole or
 * streamed. */
static void
serve_call (JqRpc *rpc, TSession *session, const TRequestInfo *info)
{
  gsize len = 0;
  if (!post_length (rpc, session, info, &len))
    return;
  char *body = jq_http_read_body (rpc->http, session, len);
  if (body == NULL)
    return;
  jq_http_close_if_pipelined (session);

  JqHttpStream stream;
  jq_http_stream_init (&stream, session, "text/xml");
  gboolean broken = FALSE;
  GBytes *response = jq_methods_process_streamed (
      rpc->methods, connection_caller (rpc, session), body, len,
      jq_http_stream_piece, &stream, &broken);
  jq_http_body_done (rpc->http, body, len);
  if (response == NULL)
    jq_http_stream_end (&stream, broken);
  else
    jq_http_answer (rpc->http, session, "text/xml", response, NULL);
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
  if (jq_http_drain_body (rpc->http, session, JQ_RPC_MAX_BODY))
    jq_http_error (rpc->http, session, 403, why);
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
      jq_http_error (rpc->http, session, 400, "A GET request has no body.");
      return TRUE;
    }
  g_autoptr (GError) error = NULL;
  const char *type = NULL;
  GBytes *body = jq_status_answer (rpc->status, what, &type, &error);
  if (body == NULL)
    {
      jq_http_error (rpc->http, session, 503, error->message);
      return TRUE;
    }
  const char *fields[] = {
    "Cache-Control", "no-store",
    "X-Content-Type-Options", "nosniff",
    /* Nothing but the page's own inline script and style, and its JSON. */
    what == JQ_STATUS_PAGE ? "Content-Security-Policy" : NULL,
    jq_status_page_csp (),
    NULL,
  };
  jq_http_answer (rpc->http, session, type, body, fields);
  return TRUE;
}

/* The XML-RPC port: GET of a status path, else XML-RPC. */
static void
handle_request (JqHttp *http, TSession *session, gpointer user_data)
{
  JqRpc *rpc = user_data;
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  if (!from_this_host (rpc, session))
    return;
  if ((info->method == m_get || info->method == m_head)
      && rpc->status != NULL && serve_status (rpc, session, info))
    return;
  serve_call (rpc, session, info);
}

/* The status-only port: never XML-RPC. */
static void
handle_status_only (JqHttp *http, TSession *session, gpointer user_data)
{
  JqRpc *rpc = user_data;
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  if (info->method != m_get && info->method != m_head)
    {
      if (!jq_http_drain_body (http, session, JQ_RPC_MAX_BODY))
        return;
      ResponseAddField (session, "Allow", "GET, HEAD");
      jq_http_error (http, session, 405, "This port serves only GET of the "
                     "status page and the metrics.");
    }
  else if (!serve_status (rpc, session, info))
    jq_http_error (http, session, 404, "This port serves /, /status.json "
                   "and /metrics only.");
}

/* ---------------------------------------------------------- the object */

JqRpc *
jq_rpc_new (JqMethods *methods, JqStatus *status, JqLog *log)
{
  JqRpc *rpc = g_new0 (JqRpc, 1);
  rpc->methods = methods;
  rpc->status = status;
  rpc->log = log;
  rpc->http = jq_http_new (log);
  if (status != NULL)
    jq_http_set_metrics (rpc->http, jq_status_get_metrics (status));
  rpc->max_conn = JQ_RPC_MAX_CONN;
  rpc->max_status_conn = JQ_RPC_MAX_STATUS_CONN;
  rpc->share_percent = JQ_SHARE_DEFAULT_PERCENT;
  return rpc;
}

void
jq_rpc_set_admins (JqRpc *rpc, const JqAdmins *admins)
{
  rpc->admins = admins;
}

void
jq_rpc_set_max_connections (JqRpc *rpc, guint max_conn)
{
  rpc->max_conn = MAX (max_conn, 1);
}

void
jq_rpc_set_max_status_connections (JqRpc *rpc, guint max_conn)
{
  rpc->max_status_conn = CLAMP (max_conn, 1, JQ_RPC_MAX_STATUS_CONN);
}

void
jq_rpc_set_user_share (JqRpc *rpc, guint percent)
{
  rpc->share_percent = CLAMP (percent, 1, 100);
}

JqHttp *
jq_rpc_get_http (JqRpc *rpc)
{
  return rpc->http;
}

GBytes *
jq_rpc_process (JqRpc *rpc, const char *body, gsize len)
{
  JqCaller self;
  jq_caller_init_self (&self);
  return jq_methods_process (rpc->methods, &self, body, len);
}

gboolean
jq_rpc_listen (JqRpc *rpc, const char *address, int fd, GError **error)
{
  g_free (rpc->bind_address);
  rpc->bind_address = g_strdup (address);
  struct sockaddr_storage own;
  socklen_t own_len = sizeof own;
  if (getsockname (fd, (struct sockaddr *) &own, &own_len) == 0
      && own.ss_family == AF_INET
      && ((struct sockaddr_in *) &own)->sin_addr.s_addr != htonl (INADDR_ANY))
    memcpy (&rpc->own_v4, &own, sizeof rpc->own_v4);
  JqHttpPort port = {
    .address = address, .what = "the HTTP server",
    .max_conn = rpc->max_conn, .share_percent = rpc->share_percent,
    .handler = handle_request, .user_data = rpc,
  };
  return jq_http_listen (rpc->http, fd, &port, error);
}

gboolean
jq_rpc_listen_status (JqRpc *rpc, const char *address, guint port,
                      int fd, GError **error)
{
  g_return_val_if_fail (rpc->status != NULL, FALSE);
  g_autofree char *what = g_strdup_printf ("the status HTTP server on %s "
                                           "port %u", address, port);
  /* Fewer connections: its clients are browsers and scrapers. */
  JqHttpPort status_port = {
    .address = address, .what = what,
    .max_conn = rpc->max_status_conn, .share_percent = 0,
    .handler = handle_status_only, .user_data = rpc,
  };
  return jq_http_listen (rpc->http, fd, &status_port, error);
}

void
jq_rpc_stop (JqRpc *rpc)
{
  /* wait() calls give their answer now rather than hold Abyss up. */
  jq_methods_stop (rpc->methods);
  jq_http_stop (rpc->http);
}

void
jq_rpc_free (JqRpc *rpc)
{
  if (rpc == NULL)
    return;
  jq_rpc_stop (rpc);
  jq_http_free (rpc->http);
  g_free (rpc->bind_address);
  g_free (rpc);
}
