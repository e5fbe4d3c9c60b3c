/* Tests of the HTTP side over a loopback socket: http.c with a fake
 * handler (answers whole and streamed, the body budget, pipelining,
 * refusals counted), and rpc.c's routing and browser rules in front of
 * the real methods and status page.  A client thread speaks raw HTTP;
 * the test thread owns the main loop and runs it while it waits, so that
 * the door calls behind the handlers are answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "rpc.h"

/* ---------------------------------------------------------- the client */

typedef struct {
  int      status;
  GString *head;      /* the header lines, lower-cased */
  GString *body;
  gboolean chunked;
} Response;

static void
response_clear (Response *r)
{
  if (r->head != NULL)
    g_string_free (r->head, TRUE);
  if (r->body != NULL)
    g_string_free (r->body, TRUE);
  memset (r, 0, sizeof *r);
}

typedef struct {
  int      fd;
  GString *in;        /* read, not yet taken */
} Conn;

/* More bytes into @c->in; FALSE at the end of the connection.  The
 * receive time-out only keeps a broken server from hanging the suite. */
static gboolean
fill (Conn *c)
{
  char buf[4096];
  ssize_t n = recv (c->fd, buf, sizeof buf, 0);
  if (n <= 0)
    return FALSE;
  g_string_append_len (c->in, buf, n);
  return TRUE;
}

/* Takes the first @n bytes of @c->in (reading more as needed) into
 * @out; FALSE when the connection ended first. */
static gboolean
take (Conn *c, gsize n, GString *out)
{
  while (c->in->len < n)
    if (!fill (c))
      return FALSE;
  g_string_append_len (out, c->in->str, n);
  g_string_erase (c->in, 0, n);
  return TRUE;
}

/* One line, without its CRLF. */
static char *
take_line (Conn *c)
{
  char *end;
  while ((end = strstr (c->in->str, "\r\n")) == NULL)
    if (!fill (c))
      return NULL;
  char *line = g_strndup (c->in->str, end - c->in->str);
  g_string_erase (c->in, 0, end - c->in->str + 2);
  return line;
}

static void
read_chunks (Conn *c, Response *r)
{
  for (;;)
    {
      g_autofree char *size = take_line (c);
      assert_non_null (size);
      gsize n = strtoul (size, NULL, 16);
      if (n == 0)
        {
          g_autofree char *last = take_line (c);
          return;
        }
      assert_true (take (c, n, r->body));
      g_autofree char *crlf = take_line (c);
    }
}

/* Reads one response; @head_only for the answer to a HEAD.  The status
 * is 0 when the connection ended before a status line. */
static void
read_response (Conn *c, Response *r, gboolean head_only)
{
  r->head = g_string_new (NULL);
  r->body = g_string_new (NULL);
  g_autofree char *status = take_line (c);
  if (status == NULL)
    return;
  r->status = atoi (status + strlen ("HTTP/1.1 "));
  gint64 length = -1;
  for (;;)
    {
      g_autofree char *line = take_line (c);
      assert_non_null (line);
      if (line[0] == '\0')
        break;
      g_autofree char *lower = g_ascii_strdown (line, -1);
      g_string_append_printf (r->head, "%s\n", lower);
      if (g_str_has_prefix (lower, "content-length:"))
        length = g_ascii_strtoll (lower + 15, NULL, 10);
      if (strcmp (lower, "transfer-encoding: chunked") == 0)
        r->chunked = TRUE;
    }
  if (head_only)
    return;
  if (r->chunked)
    read_chunks (c, r);
  else if (length >= 0)
    assert_true (take (c, length, r->body));
  else
    while (fill (c))
      ;
  if (!r->chunked && length < 0)
    {
      g_string_append_len (r->body, c->in->str, c->in->len);
      g_string_truncate (c->in, 0);
    }
}

typedef struct {
  guint16   port;
  char     *request;       /* sent at once */
  char     *second;        /* nullable: sent after the first answer */
  gboolean  head_only;
  gboolean  see_close;     /* find out whether the server closes */
  Response  got[2];
  gboolean  closed;        /* the server ended the connection after */
  gint      done;
} Exchange;

static gpointer
run_exchange (gpointer data)
{
  Exchange *x = data;
  Conn c = { socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
             g_string_new (NULL) };
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons (x->port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  struct timeval tv = { .tv_sec = 30 };
  setsockopt (c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect (c.fd, (struct sockaddr *) &to, sizeof to) == 0
      && send (c.fd, x->request, strlen (x->request), MSG_NOSIGNAL) >= 0)
    {
      read_response (&c, &x->got[0], x->head_only);
      if (x->second != NULL)
        {
          send (c.fd, x->second, strlen (x->second), MSG_NOSIGNAL);
          read_response (&c, &x->got[1], FALSE);
        }
      /* A connection kept alive would be waited on to its time-out. */
      if (x->see_close)
        x->closed = c.in->len == 0 && !fill (&c);
    }
  close (c.fd);
  g_string_free (c.in, TRUE);
  g_atomic_int_set (&x->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* Sends @request (and @second after the first answer) on one
 * connection, running the loop until the client is done. */
enum { HEAD_ONLY = 1, SEE_CLOSE = 2 };

static void
exchange_full (Exchange *x, guint16 port, const char *request,
               const char *second, int flags)
{
  memset (x, 0, sizeof *x);
  x->port = port;
  x->head_only = (flags & HEAD_ONLY) != 0;
  x->see_close = (flags & SEE_CLOSE) != 0;
  x->request = g_strdup (request);
  x->second = g_strdup (second);
  GThread *client = g_thread_new ("client", run_exchange, x);
  while (!g_atomic_int_get (&x->done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (client);
}

static void
exchange (Exchange *x, guint16 port, const char *request, const char *second)
{
  exchange_full (x, port, request, second, 0);
}

static void
exchange_clear (Exchange *x)
{
  g_free (x->request);
  g_free (x->second);
  response_clear (&x->got[0]);
  response_clear (&x->got[1]);
}

/* A socket on a free loopback port, and the port. */
static int
bind_loopback (guint16 *port)
{
  g_autoptr (GError) error = NULL;
  int fd = jq_http_bind ("127.0.0.1", 0, &error);
  assert_true (fd >= 0);
  struct sockaddr_in own;
  socklen_t len = sizeof own;
  assert_int_equal (getsockname (fd, (struct sockaddr *) &own, &len), 0);
  *port = ntohs (own.sin_port);
  return fd;
}

/* ---------------------------------------------------------- http.c */

/* /hold keeps its body (and its share of the budget) until released. */
static GMutex hold_lock;
static GCond  hold_cond;
static gboolean hold_held, hold_released;

static void
hold_body (JqHttp *http, TSession *session, char *body, gsize len)
{
  g_mutex_lock (&hold_lock);
  hold_held = TRUE;
  g_cond_broadcast (&hold_cond);
  while (!hold_released)
    g_cond_wait (&hold_cond, &hold_lock);
  g_mutex_unlock (&hold_lock);
  jq_http_body_done (http, body, len);
  jq_http_answer (http, session, "text/plain",
                  g_bytes_new_static ("held", 4), NULL);
}

/* The fake handler: what each path does is what the test checks. */
static void
fake_handler (JqHttp *http, TSession *session, gpointer user_data)
{
  const TRequestInfo *info = NULL;
  SessionGetRequestInfo (session, &info);
  if (strcmp (info->uri, "/echo") == 0 || strcmp (info->uri, "/hold") == 0)
    {
      const char *length = RequestHeaderValue (session, "content-length");
      gsize len = length ? strtoul (length, NULL, 10) : 0;
      char *body = jq_http_read_body (http, session, len);
      if (body == NULL)
        return;
      jq_http_close_if_pipelined (session);
      if (strcmp (info->uri, "/hold") == 0)
        {
          hold_body (http, session, body, len);
          return;
        }
      GBytes *answer = g_bytes_new (body, len);
      jq_http_body_done (http, body, len);
      const char *fields[] = { "X-Fake", "yes", NULL };
      jq_http_answer (http, session, "text/plain", answer, fields);
    }
  else if (strcmp (info->uri, "/fixed") == 0)
    jq_http_answer (http, session, "text/plain",
                    g_bytes_new_static ("fixed answer", 12), NULL);
  else if (g_str_has_prefix (info->uri, "/stream"))
    {
      JqHttpStream stream;
      jq_http_stream_init (&stream, session, "text/plain");
      gboolean ok = jq_http_stream_piece ("one,", 4, &stream)
                    && jq_http_stream_piece ("two,", 4, &stream);
      gboolean broken = strcmp (info->uri, "/stream-broken") == 0;
      if (ok && !broken)
        ok = jq_http_stream_piece ("three", 5, &stream);
      jq_http_stream_end (&stream, broken || !ok);
    }
  else
    jq_http_error (http, session, 404, "Nothing here.");
}

typedef struct {
  JqLog     *log;
  JqMetrics *metrics;
  JqHttp    *http;
  guint16    port;
} HttpFixture;

static int
http_setup (void **state)
{
  HttpFixture *f = g_new0 (HttpFixture, 1);
  f->log = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  f->metrics = jq_metrics_new ();
  f->http = jq_http_new (f->log);
  jq_http_set_metrics (f->http, f->metrics);
  *state = f;
  return 0;
}

static void
http_listen (HttpFixture *f)
{
  g_autoptr (GError) error = NULL;
  int fd = bind_loopback (&f->port);
  JqHttpPort port = { "127.0.0.1", "the test server", 8, 0, fake_handler,
                      NULL };
  assert_true (jq_http_listen (f->http, fd, &port, &error));
}

static int
http_teardown (void **state)
{
  HttpFixture *f = *state;
  jq_http_free (f->http);
  jq_metrics_free (f->metrics);
  jq_log_free (f->log);
  g_free (f);
  return 0;
}

static char *
post_echo (const char *body)
{
  return g_strdup_printf ("POST /echo HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: %zu\r\n\r\n%s", strlen (body),
                          body);
}

/* An answer built whole: its length, type, extra fields and body; the
 * connection stays open for the next request. */
static void
test_answer_whole (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  g_autofree char *first = post_echo ("hello");
  g_autofree char *second = post_echo ("again");
  Exchange x;
  exchange (&x, f->port, first, second);
  assert_int_equal (x.got[0].status, 200);
  assert_string_equal (x.got[0].body->str, "hello");
  assert_non_null (strstr (x.got[0].head->str, "content-length: 5\n"));
  assert_non_null (strstr (x.got[0].head->str, "content-type: text/plain"));
  assert_non_null (strstr (x.got[0].head->str, "x-fake: yes\n"));
  assert_int_equal (x.got[1].status, 200);
  assert_string_equal (x.got[1].body->str, "again");
  exchange_clear (&x);
}

/* HEAD: the headers of the answer, its Content-Length included, and no
 * body (the next bytes would be taken for the body otherwise). */
static void
test_answer_head (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  Exchange x;
  exchange_full (&x, f->port, "HEAD /fixed HTTP/1.1\r\nHost: x\r\n\r\n",
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                 "\r\nok", HEAD_ONLY);
  assert_int_equal (x.got[0].status, 200);
  assert_non_null (strstr (x.got[0].head->str, "content-length: 12\n"));
  assert_int_equal (x.got[1].status, 200);
  assert_string_equal (x.got[1].body->str, "ok");
  exchange_clear (&x);
}

/* A body over the budget waits for room, and without room gets 503 with
 * Retry-After, after its bytes were read to the end (an answer, not a
 * reset); a body that fits is served at once after (nothing was kept). */
static void
test_body_budget_busy (void **state)
{
  HttpFixture *f = *state;
  jq_http_set_budgets (f->http, 16, 16, 0, JQ_HTTP_ANSWER_BUDGET);
  http_listen (f);
  g_autofree char *big = post_echo ("0123456789abcdefghijklmnopqrstuvwxyz");
  g_autofree char *small = post_echo ("tiny");
  Exchange x;
  exchange (&x, f->port, big, NULL);
  assert_int_equal (x.got[0].status, 503);
  assert_non_null (strstr (x.got[0].head->str, "retry-after: 1\n"));
  exchange_clear (&x);
  exchange (&x, f->port, small, NULL);
  assert_int_equal (x.got[0].status, 200);
  assert_string_equal (x.got[0].body->str, "tiny");
  exchange_clear (&x);
}

/* A body that waits for room is let in as soon as another body's bytes
 * are given back, not at the end of its wait (the budget wakes its
 * waiters only when there are some: issue 23). */
static void
test_body_budget_wakes_waiter (void **state)
{
  HttpFixture *f = *state;
  jq_http_set_budgets (f->http, 16, 16, 600, JQ_HTTP_ANSWER_BUDGET);
  http_listen (f);
  hold_held = hold_released = FALSE;
  Exchange a = { .port = f->port }, b = { .port = f->port };
  a.request = g_strdup ("POST /hold HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 12\r\n\r\n0123456789ab");
  b.request = post_echo ("abcdefghijkl");
  GThread *ta = g_thread_new ("a", run_exchange, &a);
  g_mutex_lock (&hold_lock);
  while (!hold_held)
    g_cond_wait (&hold_cond, &hold_lock);
  g_mutex_unlock (&hold_lock);
  /* 12 of 16 bytes held: the second body of 12 must wait. */
  GThread *tb = g_thread_new ("b", run_exchange, &b);
  while (jq_http_get_body_waiters (f->http) == 0)
    g_usleep (1000);   /* polls a condition; orders nothing */
  g_mutex_lock (&hold_lock);
  hold_released = TRUE;
  g_cond_broadcast (&hold_cond);
  g_mutex_unlock (&hold_lock);
  g_thread_join (ta);
  g_thread_join (tb);
  assert_int_equal (a.got[0].status, 200);
  assert_int_equal (b.got[0].status, 200);
  assert_string_equal (b.got[0].body->str, "abcdefghijkl");
  exchange_clear (&a);
  exchange_clear (&b);
}

/* Streamed to an HTTP/1.1 client: chunked, the pieces in order. */
static void
test_stream_chunked (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  Exchange x;
  exchange (&x, f->port, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 200);
  assert_true (x.got[0].chunked);
  assert_string_equal (x.got[0].body->str, "one,two,three");
  exchange_clear (&x);
}

/* Streamed to an HTTP/1.0 client (Python 2's xmlrpclib): no chunks; the
 * answer ends with the connection. */
static void
test_stream_http10 (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  Exchange x;
  exchange_full (&x, f->port, "GET /stream HTTP/1.0\r\n\r\n", NULL,
                 SEE_CLOSE);
  assert_int_equal (x.got[0].status, 200);
  assert_false (x.got[0].chunked);
  assert_string_equal (x.got[0].body->str, "one,two,three");
  assert_true (x.closed);
  exchange_clear (&x);
}

/* A stream cut short ends the connection without the last chunk: the
 * client cannot take the part for the whole. */
static void
test_stream_broken (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  /* read_response would assert on the missing end: read by hand. */
  guint16 port = f->port;
  static const char request[] =
    "GET /stream-broken HTTP/1.1\r\nHost: x\r\n\r\n";
  Conn c = { socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
             g_string_new (NULL) };
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  assert_int_equal (connect (c.fd, (struct sockaddr *) &to, sizeof to), 0);
  assert_true (send (c.fd, request, strlen (request), 0) > 0);
  while (fill (&c))
    ;
  assert_non_null (strstr (c.in->str, "one,"));
  assert_non_null (strstr (c.in->str, "two,"));
  assert_null (strstr (c.in->str, "\r\n0\r\n\r\n"));
  close (c.fd);
  g_string_free (c.in, TRUE);
}

/* A request pipelined behind another would be dropped by Abyss: the
 * first answer says Connection: close and the connection ends. */
static void
test_pipelined_closes (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  g_autofree char *one = post_echo ("a");
  g_autofree char *two = post_echo ("b");
  g_autofree char *both = g_strconcat (one, two, NULL);
  Exchange x;
  exchange_full (&x, f->port, both, NULL, SEE_CLOSE);
  assert_int_equal (x.got[0].status, 200);
  assert_string_equal (x.got[0].body->str, "a");
  assert_non_null (strstr (x.got[0].head->str, "connection: close"));
  assert_true (x.closed);
  exchange_clear (&x);
}

/* Refusals are counted into the metrics by reason. */
static void
test_refusal_counted (void **state)
{
  HttpFixture *f = *state;
  http_listen (f);
  Exchange x;
  exchange (&x, f->port, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 404);
  exchange_clear (&x);
  g_autoptr (GString) text = g_string_new (NULL);
  JqGauges gauges = { 0 };
  jq_metrics_render (f->metrics, &gauges, text);
  assert_non_null (strstr (text->str, "refused_total{reason=\"not_found\"} 1\n"));
}

/* ---------------------------------------------------------- rpc.c */

typedef struct {
  JqConfig    *config;
  JqLog       *log;
  JqDoor      *door;
  JqScheduler *scheduler;
  JqMethods   *methods;
  JqStatus    *status;
  JqRpc       *rpc;
  guint16      port;
  guint16      status_port;
} RpcFixture;

static int
rpc_setup (void **state)
{
  RpcFixture *f = g_new0 (RpcFixture, 1);
  static const char ini_text[] = "[jobqueue]\nenabled = true\n";
  g_autoptr (JqIni) ini = jq_ini_parse (ini_text, sizeof ini_text - 1,
                                        "bots.ini", NULL);
  JqRunnerSettings settings = { 0 };
  f->config = jq_config_from_ini (ini, "/nonexistent/config", NULL);
  f->log = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  assert_true (g_main_context_acquire (g_main_context_default ()));
  f->door = jq_door_new (g_main_context_default ());
  f->scheduler = jq_scheduler_new (f->config, f->log, &settings, NULL);
  jq_scheduler_stop (f->scheduler, NULL, NULL);
  f->methods = jq_methods_new (f->scheduler, f->door, f->log);
  f->status = jq_status_new (f->scheduler, f->door);
  f->rpc = jq_rpc_new (f->methods, f->status, f->log);
  g_autoptr (GError) error = NULL;
  int fd = bind_loopback (&f->status_port);
  assert_true (jq_rpc_listen_status (f->rpc, "127.0.0.1", f->status_port,
                                     fd, &error));
  fd = bind_loopback (&f->port);
  assert_true (jq_rpc_listen (f->rpc, "127.0.0.1", fd, &error));
  *state = f;
  return 0;
}

static int
rpc_teardown (void **state)
{
  RpcFixture *f = *state;
  jq_door_close (f->door);
  jq_rpc_free (f->rpc);
  jq_methods_free (f->methods);
  jq_status_free (f->status);
  jq_scheduler_free (f->scheduler);
  jq_door_free (f->door);
  g_main_context_release (g_main_context_default ());
  jq_log_free (f->log);
  jq_config_free (f->config);
  g_free (f);
  return 0;
}

#define ISUP "<?xml version='1.0'?><methodCall><methodName>isup" \
             "</methodName><params></params></methodCall>"

/* A request to the XML-RPC port with @headers (each ending in CRLF) and
 * the isup call as its body; its answer's status. */
static int
rpc_status_of (RpcFixture *f, const char *method, const char *headers,
               GString *body_out)
{
  g_autofree char *request = g_strdup_printf (
      "%s /RPC2 HTTP/1.1\r\n%sContent-Length: %zu\r\n\r\n%s", method,
      headers, strlen (ISUP), ISUP);
  Exchange x;
  exchange (&x, f->port, request, NULL);
  int status = x.got[0].status;
  if (body_out != NULL)
    g_string_assign (body_out, x.got[0].body->str);
  exchange_clear (&x);
  return status;
}

#define XML "Content-Type: text/xml\r\n"

/* A call as Python's xmlrpc.client sends it is answered. */
static void
test_rpc_call (void **state)
{
  RpcFixture *f = *state;
  g_autoptr (GString) body = g_string_new (NULL);
  assert_int_equal (rpc_status_of (f, "POST", "Host: 127.0.0.1:1\r\n" XML,
                                   body), 200);
  assert_non_null (strstr (body->str, "<methodResponse>"));
  assert_non_null (strstr (body->str, "<i4>0</i4>"));
}

/* The browser rules: Host of another name, Origin of another page, a
 * type a browser can send without asking. */
static void
test_rpc_browser_rules (void **state)
{
  RpcFixture *f = *state;
  assert_int_equal (rpc_status_of (f, "POST", "Host: evil.example\r\n" XML,
                                   NULL), 403);
  assert_int_equal (rpc_status_of (f, "POST", "Host: localhost:28082\r\n"
                                   "Origin: http://evil.example\r\n" XML,
                                   NULL), 403);
  assert_int_equal (rpc_status_of (f, "POST", "Host: localhost:28082\r\n"
                                   "Origin: http://localhost:28082\r\n" XML,
                                   NULL), 200);
  assert_int_equal (rpc_status_of (f, "POST", "Host: [::1]:28082\r\n" XML,
                                   NULL), 200);
  assert_int_equal (rpc_status_of (f, "POST", "Host: [::1\r\n" XML,
                                   NULL), 403);
  assert_int_equal (rpc_status_of (f, "POST", "Host: 10.0.0.1\r\n" XML,
                                   NULL), 403);
  assert_int_equal (rpc_status_of (f, "POST", "Host: localhost\r\n"
                                   "Content-Type: text/plain\r\n", NULL),
                    415);
  assert_int_equal (rpc_status_of (f, "POST", "Host: localhost\r\n"
                                   "Content-Type: application/xml; "
                                   "charset=utf-8\r\n", NULL), 200);
}

/* What is not an XML-RPC POST with a usable length is refused. */
static void
test_rpc_refusals (void **state)
{
  RpcFixture *f = *state;
  assert_int_equal (rpc_status_of (f, "PUT", "Host: localhost\r\n" XML,
                                   NULL), 405);
  Exchange x;
  exchange (&x, f->port, "POST / HTTP/1.1\r\nHost: localhost\r\n" XML
            "\r\n", NULL);
  assert_int_equal (x.got[0].status, 411);
  exchange_clear (&x);
  exchange (&x, f->port, "POST / HTTP/1.1\r\nHost: localhost\r\n" XML
            "Content-Length: 12x\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 400);
  exchange_clear (&x);
  exchange (&x, f->port, "POST / HTTP/1.1\r\nHost: localhost\r\n" XML
            "Content-Length: 1048577\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 413);
  exchange_clear (&x);
}

/* GETs of the status paths on the XML-RPC port; other GETs are not
 * XML-RPC. */
static void
test_rpc_status_get (void **state)
{
  RpcFixture *f = *state;
  Exchange x;
  exchange (&x, f->port, "GET /status.json HTTP/1.1\r\nHost: localhost\r\n"
            "\r\n", NULL);
  assert_int_equal (x.got[0].status, 200);
  assert_non_null (strstr (x.got[0].head->str,
                           "content-type: application/json"));
  assert_non_null (strstr (x.got[0].head->str, "cache-control: no-store"));
  assert_non_null (strstr (x.got[0].body->str, "\"waiting\":0"));
  exchange_clear (&x);
  exchange (&x, f->port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 200);
  assert_non_null (strstr (x.got[0].head->str, "content-security-policy"));
  exchange_clear (&x);
  exchange (&x, f->port, "GET /other HTTP/1.1\r\nHost: localhost\r\n\r\n",
            NULL);
  assert_int_equal (x.got[0].status, 405);
  exchange_clear (&x);
  exchange (&x, f->port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Length: 3\r\n\r\nabc", NULL);
  assert_int_equal (x.got[0].status, 400);
  exchange_clear (&x);
}

/* The status-only port: GETs of the status paths, nothing else, and no
 * Host rule (it is meant for other hosts). */
static void
test_status_port (void **state)
{
  RpcFixture *f = *state;
  Exchange x;
  exchange (&x, f->status_port, "GET /metrics HTTP/1.1\r\n"
            "Host: monitor.example\r\n\r\n", NULL);
  assert_int_equal (x.got[0].status, 200);
  assert_non_null (strstr (x.got[0].body->str, "bots_jobqueue_"));
  exchange_clear (&x);
  g_autofree char *post = g_strdup_printf (
      "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\n" XML
      "Content-Length: %zu\r\n\r\n%s", strlen (ISUP), ISUP);
  exchange (&x, f->status_port, post, NULL);
  assert_int_equal (x.got[0].status, 405);
  assert_non_null (strstr (x.got[0].head->str, "allow: get, head"));
  exchange_clear (&x);
  exchange (&x, f->status_port, "GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n",
            NULL);
  assert_int_equal (x.got[0].status, 404);
  exchange_clear (&x);
}

int
main (void)
{
  /* As the server: a client gone is an error of the write, not death. */
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
#define HTTP_TEST(t) cmocka_unit_test_setup_teardown (t, http_setup, \
                                                      http_teardown)
#define RPC_TEST(t) cmocka_unit_test_setup_teardown (t, rpc_setup, \
                                                     rpc_teardown)
    HTTP_TEST (test_answer_whole),
    HTTP_TEST (test_answer_head),
    HTTP_TEST (test_body_budget_busy),
    HTTP_TEST (test_body_budget_wakes_waiter),
    HTTP_TEST (test_stream_chunked),
    HTTP_TEST (test_stream_http10),
    HTTP_TEST (test_stream_broken),
    HTTP_TEST (test_pipelined_closes),
    HTTP_TEST (test_refusal_counted),
    RPC_TEST (test_rpc_call),
    RPC_TEST (test_rpc_browser_rules),
    RPC_TEST (test_rpc_refusals),
    RPC_TEST (test_rpc_status_get),
    RPC_TEST (test_status_port),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
