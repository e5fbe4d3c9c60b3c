/* The HTTP server: xmlrpc-c's Abyss, assembled once for every port we
 * serve (the XML-RPC port and the optional status-only port), with the
 * accept loop run again when it fails, the connection gate, corked
 * answers, answers streamed piece by piece, and the budgets of request
 * bodies and of answers.  It knows nothing of XML-RPC nor of the status
 * page: each port has a handler (rpc.c) that routes its requests and
 * answers them with the functions below.  The only module besides rpc.c
 * that knows xmlrpc-c's server types. */
#pragma once

#include <glib.h>
#include <xmlrpc-c/abyss.h>

#include "log.h"
#include "metrics.h"

/* Bytes of request bodies being received, parsed and answered at once,
 * counted from a body's first byte until its answer is produced: a
 * request whose next bytes do not fit waits for room, and gets HTTP 503
 * after JQ_HTTP_BODY_WAIT_SECONDS. */
#define JQ_HTTP_BODY_BUDGET (8 * 1024 * 1024)
/* Bodies over JQ_HTTP_BODY_SMALL (Bots' own calls are a few hundred
 * bytes) hold at most JQ_HTTP_BODY_BIG_SHARE of it in all: slow large
 * bodies cannot take the room ordinary calls need. */
#define JQ_HTTP_BODY_SMALL (64 * 1024)
#define JQ_HTTP_BODY_BIG_SHARE (6 * 1024 * 1024)
#define JQ_HTTP_BODY_WAIT_SECONDS 10
/* Bytes of answers built whole being written at once; one answer alone
 * always fits. */
#define JQ_HTTP_ANSWER_BUDGET (64 * 1024 * 1024)

typedef struct _JqHttp JqHttp;

/* Answers the request of @session (on an Abyss connection thread; many
 * at once).  It must answer it, with jq_http_answer(), jq_http_error()
 * or a stream, or leave it unanswered when the client went away. */
typedef void (*JqHttpHandler) (JqHttp *http, TSession *session,
                               gpointer user_data);

typedef struct {
  const char   *address;        /* the bound address, for messages */
  const char   *what;           /* "the HTTP server", for messages */
  guint         max_conn;       /* connections at once */
  guint         share_percent;  /* a user's share of them when all are
                                 * taken (gate.h); 0: no gate */
  JqHttpHandler handler;
  gpointer      user_data;      /* borrowed: outlives the server */
} JqHttpPort;

/* @log (borrowed) gets the accept loop's and the gate's lines. */
JqHttp *jq_http_new (JqLog *log);

/* Refused requests (jq_http_error) are counted into @metrics (borrowed,
 * nullable).  Call before listening. */
void jq_http_set_metrics (JqHttp *http, JqMetrics *metrics);

/* The budgets above, smaller (tests): @body bytes of bodies, of which
 * bodies over JQ_HTTP_BODY_SMALL hold @big_share, waiting @wait_seconds
 * for room; @answer bytes of answers.  Call before listening. */
void jq_http_set_budgets (JqHttp *http, gsize body, gsize big_share,
                          guint wait_seconds, gsize answer);

/* Binds @address:@port: the descriptor, or -1 and sets @error (a numeric
 * address is needed; the port may be taken).  Separate from serving so
 * that a server started as root binds a low port before it gives up root
 * (src/privdrop.h); it listens only once it serves, so connections are
 * refused until then. */
int jq_http_bind (const char *address, guint port, GError **error);

/* Serves @fd, a socket of jq_http_bind() (taken, closed on failure), as
 * @port says: Abyss's accept loop on a thread of ours (run again should
 * it end by a failed accept), a thread per connection, and the gate's
 * thread when @port has a share.  FALSE and @error when Abyss cannot
 * start.  Loop thread; may be called once per port. */
gboolean jq_http_listen (JqHttp *http, int fd, const JqHttpPort *port,
                         GError **error);

/* Stops every port: requests being answered may finish writing (up to
 * 2 s), then Abyss's threads and the gates are ended and joined. */
void jq_http_stop (JqHttp *http);

/* Stops, and frees. */
void jq_http_free (JqHttp *http);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqHttp, jq_http_free)

/* ------------------------------------------------ answering a request
 * On the connection's thread, inside the handler. */

/* Answers @status (4xx, 5xx) with @explanation, and counts it into the
 * metrics as a refusal. */
void jq_http_error (JqHttp *http, TSession *session, guint16 status,
                    const char *explanation);

/* HTTP 503 with Retry-After: 1. */
void jq_http_busy (JqHttp *http, TSession *session);

/* Reads the request's body of @len bytes, each byte charged to the body
 * budget before it is stored.  Returns it (with a NUL after), holding
 * @len bytes of the budget until jq_http_body_done(); NULL when the
 * request is over: the client went away, or got its 408 (too slow; the
 * connection ends) or 503 (no room in time; the connection goes on). */
char *jq_http_read_body (JqHttp *http, TSession *session, gsize len);

/* How many requests wait for room in the body budget now (tests). */
guint jq_http_get_body_waiters (JqHttp *http);

/* Frees @body of jq_http_read_body() and gives its bytes back. */
void jq_http_body_done (JqHttp *http, char *body, gsize len);

/* Reads and drops the small body a refused request announced (1 MiB at
 * most), so that the client gets its answer rather than a reset.
 * FALSE when the client went away, or was answered 408. */
gboolean jq_http_drain_body (JqHttp *http, TSession *session,
                             gsize max_len);

/* Abyss drops whatever it read past the current request, so a request
 * pipelined behind it would never be answered: when there is one, the
 * answer ends the connection ("Connection: close"). */
void jq_http_close_if_pipelined (TSession *session);

/* The request's answer: 200, @content_type, @body (taken) with its
 * Content-Length, and the @fields (name, value, ..., NULL; nullable);
 * no body for HEAD.  Under the answer budget: 503 when it does not fit
 * beside the answers being written. */
void jq_http_answer (JqHttp *http, TSession *session,
                     const char *content_type, GBytes *body,
                     const char *const *fields);

/* An answer written as it is produced: chunked to an HTTP/1.1 client,
 * up to the connection's close to an HTTP/1.0 one. */
typedef struct {
  TSession   *session;
  const char *content_type;
  gboolean    started;    /* the headers went out */
  gboolean    direct;     /* pieces are sent on @fd, not through Abyss */
  gboolean    chunked;    /* direct: each piece is a chunk (HTTP/1.1) */
  int         fd;         /* the connection's socket; -1: unknown */
} JqHttpStream;

void jq_http_stream_init (JqHttpStream *stream, TSession *session,
                          const char *content_type);

/* Sends one piece (a JqMessageFlush): FALSE when the client is gone or
 * took nothing for 30 s. */
gboolean jq_http_stream_piece (const char *data, gsize len,
                               gpointer stream);

/* After the last piece: the answer's end or, when it was cut short
 * (@broken), the connection's end without it. */
void jq_http_stream_end (JqHttpStream *stream, gboolean broken);

/* The socket of the connection @session is served on, or -1.  Looked up
 * once per connection (Abyss does not tell it). */
int jq_http_connection_socket (TSession *session);
