/* The journal in PostgreSQL, shared by the servers of a cluster.
 *
 * Schema bots_jobqueue (meta row schema_version = JQ_PGJOURNAL_VERSION):
 *   jobs(number, priority, argv bytea, task, queued_us, state, at_head,
 *        started_us, pid)          -- waiting and running jobs
 *   history(...)                   -- as in the SQLite journal
 *   meta(key, value bigint)        -- next_number, paused, queue_id,
 *                                     version (bumped by every writing
 *                                     transaction)
 *   lease, members                 -- leadership (src/cluster.c)
 * argv is stored as in the SQLite journal: NUL-terminated strings back to
 * back, exact bytes.
 *
 * Why a lock and a version rather than queries per call: the scheduler
 * keeps judging Bots' rules on its queue in memory (queue.c), as with
 * SQLite.  Every transaction first takes one transaction-level advisory
 * lock, so transactions of all servers run one after the other, and reads
 * the version: when another server wrote since this one last looked, the
 * reload hook reads the waiting jobs again before the batch runs.  addjob
 * on two hosts at the same moment is thus judged on the same waiting set,
 * atomically, and job numbers (meta next_number, under the same lock)
 * stay unique, gapless and increasing cluster-wide.  A server that did
 * the last write reads nothing again: one server alone is as fast as its
 * round trips.
 *
 * libpq calls block the main loop.  They are short (local statements, a
 * statement_timeout of a quarter lease); while the database is
 * unreachable a reconnect is tried at most once a second and calls fail
 * at once. */
#include "build-config.h"

#include "pgjournal.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pgconn.h"
#include "task.h"

/* pg_advisory_xact_lock (LOCK_CLASS, LOCK_QUEUE): "Bots", 1 */
#define LOCK_CLASS "1114599283"
#define LOCK_QUEUE "1"
#define LOCK_SCHEMA "0"
/* A reconnect at most this often while the database is away. */
#define RECONNECT_US (1 * G_USEC_PER_SEC)

typedef struct {
  JqJournal *journal;        /* the JqJournal wrapping us (journal.c) */
  PGconn    *conn;
  char      *dsn;            /* holds the password: never logged */
  char      *description;    /* for the log: no password */
  char      *member;         /* the NOTIFY payload */
  guint      lease_ms;       /* the cluster's lease: sets the time-outs */
  JqLog     *log;
  guint      depth;          /* begin/commit nesting */
  GError    *pending_error;  /* first failure of this transaction */
  gboolean   wrote;          /* this transaction changed the queue */
  gboolean   moved_job;      /* ... started, ended or requeued a job */
  gboolean   lost_move;      /* the last failed one had moved_job */
  gboolean   stale;          /* another server wrote, and we did not reload */
  gint64     known_version;  /* meta version our queue reflects; -1: none */
  gint64     version_at_begin;
  gint64     sync_since;     /* during a reload: the version read before */
  gboolean   down;           /* connection lost; said once in the log */
  gint64     down_since_us;  /* monotonic */
  gint64     last_attempt_us;
} PgJournal;

char *
jq_pgjournal_describe_dsn (const char *dsn)
{
  char *message = NULL;
  PQconninfoOption *opts = PQconninfoParse (dsn, &message);
  if (opts == NULL)
    {
      PQfreemem (message);
      return g_strdup ("PostgreSQL (connection string not readable)");
    }
  GString *out = g_string_new ("PostgreSQL");
  static const char *const shown[] = { "host", "hostaddr", "port", "dbname",
                                       "user" };
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
    for (gsize i = 0; i < G_N_ELEMENTS (shown); i++)
      if (o->val != NULL && o->val[0] != '\0'
          && strcmp (o->keyword, shown[i]) == 0)
        g_string_append_printf (out, " %s=%s", o->keyword, o->val);
  PQconninfoFree (opts);
  return g_string_free (out, FALSE);
}

PGconn *
jq_pgjournal_connect (const char *dsn, const char *application,
                      guint lease_ms)
{
  /* Ours first, the connection string last: what it sets wins (libpq
   * processes the keywords in order).  A silent network must not hold
   * the main loop for long: keepalives and tcp_user_timeout end a dead
   * TCP connection within about a quarter lease (doc/durability.md). */
  g_autofree char *user_timeout = g_strdup_printf ("%u",
                                                   MAX (lease_ms / 4, 250));
  const char *const keys[] = { "connect_timeout", "application_name",
                               "keepalives_idle", "keepalives_interval",
                               "keepalives_count", "tcp_user_timeout",
                               "dbname", NULL };
  const char *const values[] = { "2", application, "1", "1", "2",
                                 user_timeout, dsn, NULL };
  PGconn *conn = PQconnectdbParams (keys, values, 1);
  if (conn != NULL)
    jq_pgconn_quiet (conn);
  return conn;
}

/* Settings of each session: no statement holds the main loop for more
 * than a quarter lease (the lease's own beats must go on), not even one
 * waiting for the queue's lock, which others hold for milliseconds. */
static gboolean
setup_session (PGconn *conn, guint lease_ms, char **why)
{
  guint limit = MAX (lease_ms / 4, 500);
  g_autofree char *sql = g_strdup_printf (
      "SET statement_timeout = %u; SET lock_timeout = %u; "
      "SET idle_in_transaction_session_timeout = 30000; "
      "SET client_min_messages = warning", limit, limit);
  PGresult *r = PQexec (conn, sql);
  gboolean ok = PQresultStatus (r) == PGRES_COMMAND_OK;
  if (!ok && why != NULL)
    *why = jq_pgconn_error_text (conn, r);
  PQclear (r);
  return ok;
}

static void
set_error (PgJournal *p, GError **error, const char *what, PGresult *r)
{
  g_autofree char *text = jq_pgconn_error_text (p->conn, r);
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL, "%s journal (%s): %s",
               p->description, what, text);
}

/* A lost connection is said once, when it is noticed. */
static void
check_connection (PgJournal *p)
{
  if (PQstatus (p->conn) == CONNECTION_OK || p->down)
    return;
  p->down = TRUE;
  p->down_since_us = g_get_monotonic_time ();
  p->last_attempt_us = p->down_since_us;
  g_autofree char *text = jq_pgconn_error_text (p->conn, NULL);
  /* Later: the failing batch's own lines are dropped with it. */
  jq_log_write_later (p->log, JQ_LOG_ERROR,
                      "Connection to the %s journal lost (%s); calls are answered "
                      "with a fault until it is back; reconnecting.",
                      p->description, text);
}

static void
note_error (PgJournal *p, const char *what, PGresult *r)
{
  if (p->pending_error == NULL)
    set_error (p, &p->pending_error, what, r);
  check_connection (p);
}

static gboolean
ensure_connected (PgJournal *p)
{
  if (PQstatus (p->conn) == CONNECTION_OK)
    return TRUE;
  check_connection (p);
  gint64 now = g_get_monotonic_time ();
  if (now - p->last_attempt_us < RECONNECT_US)
    return FALSE;
  p->last_attempt_us = now;
  PQreset (p->conn);
  jq_pgconn_quiet (p->conn);
  if (PQstatus (p->conn) != CONNECTION_OK
      || !setup_session (p->conn, p->lease_ms, NULL))
    return FALSE;
  p->down = FALSE;
  p->known_version = -1;
  jq_log_write_later (p->log, JQ_LOG_WARNING,
                      "Connected to the %s journal again after %.1f s.",
                      p->description,
                      (double) (now - p->down_since_us) / G_USEC_PER_SEC);
  return TRUE;
}

/* Runs @sql with text parameters, except those whose @lengths is not -1,
 * which are binary. */
static PGresult *
exec_params (PgJournal *p, const char *sql, int n,
             const char *const *values, const int *lengths)
{
  int formats[12] = { 0 };
  g_assert (n <= 12);
  for (int i = 0; i < n; i++)
    formats[i] = lengths != NULL && lengths[i] >= 0;
  return PQexecParams (p->conn, sql, n, NULL, values, lengths, formats, 0);
}

static gboolean
result_ok (PGresult *r)
{
  ExecStatusType st = PQresultStatus (r);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Opens the transaction: the queue's lock, then the version; @reload
 * says whether the reload hook may run (not for a lone write). */
static void
open_transaction (PgJournal *p, gboolean reload)
{
  p->wrote = FALSE;
  p->moved_job = FALSE;
  p->stale = FALSE;
  g_clear_error (&p->pending_error);
  if (!ensure_connected (p))
    {
      g_set_error (&p->pending_error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "the %s journal cannot be reached; nothing was changed",
                   p->description);
      return;
    }
  PGresult *r = PQexec (p->conn,
      "BEGIN; SELECT pg_advisory_xact_lock (" LOCK_CLASS ", " LOCK_QUEUE ");"
      "SELECT value FROM bots_jobqueue.meta WHERE key = 'version'");
  if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1)
    {
      note_error (p, "begin", r);
      PQclear (r);
      return;
    }
  p->version_at_begin = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  PQclear (r);
  if (p->version_at_begin != p->known_version)
    {
      if (reload)
        {
          p->sync_since = p->known_version;
          p->known_version = p->version_at_begin;
          jq_journal_reload (p->journal, p->sync_since < 0);
          if (p->pending_error != NULL)
            p->known_version = -1;
        }
      else
        p->stale = TRUE;
    }
}

static void
pg_begin (gpointer impl)
{
  PgJournal *p = impl;
  if (p->depth++ == 0)
    open_transaction (p, TRUE);
}

static void
pg_abort (gpointer impl, const GError *why)
{
  PgJournal *p = impl;
  if (p->pending_error == NULL)
    p->pending_error = g_error_copy (why);
}

static gboolean
close_transaction (PgJournal *p, gboolean *wrote, GError **error)
{
  if (p->pending_error == NULL)
    {
      PGresult *r;
      if (p->wrote)
        {
          g_autofree char *payload = NULL;
          char *quoted = PQescapeLiteral (p->conn, p->member,
                                          strlen (p->member));
          payload = g_strdup_printf (
              "UPDATE bots_jobqueue.meta SET value = value + 1 "
              "WHERE key = 'version'; NOTIFY " JQ_PGJOURNAL_CHANNEL ", %s; "
              "COMMIT", quoted ? quoted : "''");
          PQfreemem (quoted);
          r = PQexec (p->conn, payload);
        }
      else
        r = PQexec (p->conn, "COMMIT");
      /* COMMIT of a failed transaction answers ROLLBACK. */
      if (PQresultStatus (r) == PGRES_COMMAND_OK
          && strcmp (PQcmdStatus (r), "COMMIT") == 0)
        {
          PQclear (r);
          if (p->stale)
            p->known_version = -1;
          else
            p->known_version = p->version_at_begin + (p->wrote ? 1 : 0);
          if (wrote != NULL)
            *wrote = p->wrote;
          return TRUE;
        }
      note_error (p, "commit", r);
      PQclear (r);
    }
  if (PQstatus (p->conn) == CONNECTION_OK
      && PQtransactionStatus (p->conn) != PQTRANS_IDLE)
    PQclear (PQexec (p->conn, "ROLLBACK"));
  /* What the queue in memory holds is not what the database holds. */
  p->known_version = -1;
  p->lost_move = p->moved_job;
  g_propagate_error (error, g_steal_pointer (&p->pending_error));
  return FALSE;
}

static gboolean
pg_commit (gpointer impl, gboolean *wrote, GError **error)
{
  PgJournal *p = impl;
  g_return_val_if_fail (p->depth > 0, FALSE);
  if (--p->depth > 0)
    return TRUE;
  return close_transaction (p, wrote, error);
}

/* One write: in the open transaction, or alone in its own. */
static void
write_op (PgJournal *p, const char *what, const char *sql, int n,
          const char *const *values, const int *lengths)
{
  gboolean single = p->depth == 0;
  if (single)
    open_transaction (p, FALSE);
  if (p->pending_error == NULL)
    {
      PGresult *r = exec_params (p, sql, n, values, lengths);
      if (!result_ok (r))
        note_error (p, what, r);
      else
        p->wrote = TRUE;
      PQclear (r);
    }
  if (single)
    {
      g_autoptr (GError) error = NULL;
      if (!close_transaction (p, NULL, &error))
        jq_log_write (p->log, JQ_LOG_ERROR, "%s", error->message);
    }
}

static GBytes *
argv_pack (const char *const *argv)
{
  GByteArray *b = g_byte_array_new ();
  for (gsize i = 0; argv[i] != NULL; i++)
    g_byte_array_append (b, (const guint8 *) argv[i], strlen (argv[i]) + 1);
  return g_byte_array_free_to_bytes (b);
}

/* @text is bytea in its text output (hex). */
static char **
argv_unpack (const char *text, gsize *stored)
{
  size_t len = 0;
  unsigned char *data = PQunescapeBytea ((const unsigned char *) text, &len);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const char *p = (const char *) data, *end = p + (data ? len : 0);
  while (p < end)
    {
      const char *nul = memchr (p, '\0', end - p);
      gsize n = nul ? (gsize) (nul - p) : (gsize) (end - p);
      g_autofree char *arg = g_strndup (p, n);
      g_strv_builder_add (b, arg);
      p += n + 1;
    }
  if (stored != NULL)
    *stored = len;
  PQfreemem (data);
  return g_strv_builder_end (b);
}

/* The task as Python prints it, for people reading the table; the
 * database wants UTF-8, argv may hold any bytes. */
static char *
task_text (const char *const *argv)
{
  g_autofree char *repr = jq_task_repr (argv);
  return g_utf8_make_valid (repr, -1);
}

/* The version this transaction writes: rows carry it, so that the other
 * servers read only what changed (pg_sync).  Under the queue's lock the
 * stored version is the one read at begin. */
#define CHANGED "(SELECT value + 1 FROM bots_jobqueue.meta " \
  "WHERE key = 'version')"

#define I64(buf, v) (g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, \
                                 (gint64) (v)), buf)

static void
pg_add (gpointer impl, JqJob *job)
{
  PgJournal *p = impl;
  char number[24], priority[24], queued[24];
  g_autoptr (GBytes) packed = argv_pack (jq_job_get_argv (job));
  g_autofree char *task = task_text (jq_job_get_argv (job));
  gsize size;
  const char *data = g_bytes_get_data (packed, &size);
  const char *values[] = { I64 (number, jq_job_get_number (job)),
                           I64 (priority, jq_job_get_priority (job)),
                           data, task,
                           I64 (queued, jq_job_get_queued_us (job)) };
  const int lengths[] = { -1, -1, (int) size, -1, -1 };
  write_op (p, "add",
            "INSERT INTO bots_jobqueue.jobs (number, priority, argv, task, "
            "queued_us, state, at_head, changed) "
            "VALUES ($1, $2, $3, $4, $5, 'waiting', false, " CHANGED ")", 5, values,
            lengths);
}

static void
pg_set_priority (gpointer impl, guint64 number, int priority)
{
  char n[24], pr[24];
  const char *values[] = { I64 (pr, priority), I64 (n, number) };
  write_op (impl, "priority",
            "UPDATE bots_jobqueue.jobs SET priority = $1, changed = " CHANGED
            " WHERE number = $2",
            2, values, NULL);
}

static void
pg_start (gpointer impl, guint64 number, gint64 started_us, int pid)
{
  char n[24], st[24], pd[24];
  const char *values[] = { I64 (st, started_us), I64 (pd, pid),
                           I64 (n, number) };
  ((PgJournal *) impl)->moved_job = TRUE;
  write_op (impl, "start",
            "UPDATE bots_jobqueue.jobs SET state = 'running', "
            "started_us = $1, pid = $2, changed = " CHANGED
            " WHERE number = $3", 3, values, NULL);
}

static void
pg_remove (gpointer impl, guint64 number)
{
  char n[24];
  const char *values[] = { I64 (n, number) };
  write_op (impl, "remove",
            "DELETE FROM bots_jobqueue.jobs WHERE number = $1", 1, values,
            NULL);
}

static void
pg_clear_waiting (gpointer impl)
{
  write_op (impl, "clear",
            "DELETE FROM bots_jobqueue.jobs WHERE state = 'waiting'", 0,
            NULL, NULL);
}

static void
pg_set_meta (gpointer impl, const char *key, gint64 value)
{
  char v[24];
  const char *values[] = { key, I64 (v, value) };
  write_op (impl, key,
            "INSERT INTO bots_jobqueue.meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", 2,
            values, NULL);
}

static gint64
pg_get_meta (gpointer impl, const char *key, gint64 fallback)
{
  PgJournal *p = impl;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return fallback;
  const char *values[] = { key };
  PGresult *r = exec_params (p, "SELECT value FROM bots_jobqueue.meta "
                             "WHERE key = $1", 1, values, NULL);
  gint64 value = fallback;
  if (PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1)
    value = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  else if (PQresultStatus (r) != PGRES_TUPLES_OK && p->depth > 0)
    note_error (p, key, r);
  PQclear (r);
  return value;
}

static void
pg_finish (gpointer impl, const JqFinished *f)
{
  PgJournal *p = impl;
  gboolean single = p->depth == 0;
  if (single)
    {
      p->depth++;
      open_transaction (p, FALSE);
    }
  p->moved_job = TRUE;
  pg_remove (p, f->number);
  char number[24], priority[24], queued[24], started[24], ended[24],
       code[24], sig[24];
  g_autoptr (GBytes) packed = argv_pack (f->argv);
  g_autofree char *task = task_text (f->argv);
  g_autofree char *start_error = f->start_error
    ? g_utf8_make_valid (f->start_error, -1) : NULL;
  gsize size;
  const char *data = g_bytes_get_data (packed, &size);
  const char *values[] = {
    I64 (number, f->number), I64 (priority, f->priority), data, task,
    I64 (queued, f->queued_us),
    f->started_us != 0 ? I64 (started, f->started_us) : NULL,
    I64 (ended, f->ended_us),
    f->start_error == NULL ? I64 (code, f->exit_code) : NULL,
    f->term_signal != 0 ? I64 (sig, f->term_signal) : NULL,
    f->hit_maxruntime ? "true" : "false", start_error,
  };
  const int lengths[] = { -1, -1, (int) size, -1, -1, -1, -1, -1, -1, -1,
                          -1 };
  write_op (p, "history",
      "INSERT INTO bots_jobqueue.history (number, priority, argv, task, "
      "queued_us, started_us, ended_us, exit_code, signal, "
      "maxruntime_hit, start_error) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
      "ON CONFLICT (number) DO UPDATE SET priority = excluded.priority, "
      "argv = excluded.argv, task = excluded.task, "
      "queued_us = excluded.queued_us, started_us = excluded.started_us, "
      "ended_us = excluded.ended_us, exit_code = excluded.exit_code, "
      "signal = excluded.signal, maxruntime_hit = excluded.maxruntime_hit, "
      "start_error = excluded.start_error", 11, values, lengths);
  if (single)
    {
      g_autoptr (GError) error = NULL;
      if (!pg_commit (p, NULL, &error))
        jq_log_write (p->log, JQ_LOG_ERROR, "%s", error->message);
    }
}

static JqJob *
row_job (PGresult *r, int i)
{
  g_auto (GStrv) argv = argv_unpack (PQgetvalue (r, i, 2), NULL);
  if (argv[0] == NULL)
    return NULL;          /* only a hand-made row can be empty */
  return jq_job_new (g_ascii_strtoull (PQgetvalue (r, i, 0), NULL, 10),
                     atoi (PQgetvalue (r, i, 1)), (const char *const *) argv,
                     g_ascii_strtoll (PQgetvalue (r, i, 3), NULL, 10));
}

static gboolean
query_failed (PgJournal *p, PGresult *r, const char *what, GError **error)
{
  if (PQresultStatus (r) == PGRES_TUPLES_OK)
    return FALSE;
  set_error (p, error, what, r);
  if (p->depth > 0)
    note_error (p, what, r);
  PQclear (r);
  return TRUE;
}

/* The next number (never below the highest row), the pause flag and the
 * count of waiting jobs, in one round trip. */
static gboolean
read_state (PgJournal *p, JqSyncState *state, GError **error)
{
  PGresult *r = PQexec (p->conn,
      "SELECT (SELECT value FROM bots_jobqueue.meta WHERE key = 'next_number'),"
      " (SELECT value FROM bots_jobqueue.meta WHERE key = 'paused'),"
      " (SELECT count(*) FROM bots_jobqueue.jobs WHERE state = 'waiting'),"
      " (SELECT max(number) FROM bots_jobqueue.jobs)");
  if (query_failed (p, r, "read", error))
    return FALSE;
  guint64 next = g_ascii_strtoull (PQgetvalue (r, 0, 0), NULL, 10);
  guint64 highest = g_ascii_strtoull (PQgetvalue (r, 0, 3), NULL, 10);
  /* Numbers never go back, even past jobs that are gone from every table. */
  state->next_number = MAX (MAX (next, highest + 1), 1);
  state->paused = g_ascii_strtoll (PQgetvalue (r, 0, 1), NULL, 10) != 0;
  state->waiting = (guint) g_ascii_strtoull (PQgetvalue (r, 0, 2), NULL, 10);
  PQclear (r);
  return TRUE;
}

static gboolean
pg_load (gpointer impl, JqJournalJobFunc func, gpointer user_data,
         guint64 *next_number, GError **error)
{
  PgJournal *p = impl;
  *next_number = 1;
  PGresult *r = PQexec (p->conn,
      "SELECT number, priority, argv, queued_us, state, at_head, pid, "
      "started_us FROM bots_jobqueue.jobs ORDER BY number");
  if (query_failed (p, r, "load", error))
    return FALSE;
  for (int i = 0; i < PQntuples (r); i++)
    {
      g_autoptr (JqJob) job = row_job (r, i);
      gboolean running = strcmp (PQgetvalue (r, i, 4), "running") == 0
                         /* requeued before: keep it at the head */
                         || strcmp (PQgetvalue (r, i, 5), "t") == 0;
      if (job != NULL)
        func (job, running, running ? atoi (PQgetvalue (r, i, 6)) : 0,
              running ? g_ascii_strtoll (PQgetvalue (r, i, 7), NULL, 10)
                      : 0, user_data);
    }
  PQclear (r);
  JqSyncState state;
  if (!read_state (p, &state, error))
    return FALSE;
  *next_number = state.next_number;
  return TRUE;
}

static gboolean
pg_sync (gpointer impl, gboolean full, JqJournalSyncFunc func,
         gpointer user_data, JqSyncState *state, GError **error)
{
  PgJournal *p = impl;
  char since[24];
  const char *values[] = { I64 (since, p->sync_since) };
  PGresult *r = full || p->sync_since < 0
    ? PQexec (p->conn,
        "SELECT number, priority, argv, queued_us, state, at_head "
        "FROM bots_jobqueue.jobs WHERE state = 'waiting' ORDER BY number")
    : exec_params (p,
        "SELECT number, priority, argv, queued_us, state, at_head "
        "FROM bots_jobqueue.jobs WHERE changed > $1 ORDER BY number", 1,
        values, NULL);
  if (query_failed (p, r, "read", error))
    return FALSE;
  for (int i = 0; i < PQntuples (r); i++)
    {
      guint64 number = g_ascii_strtoull (PQgetvalue (r, i, 0), NULL, 10);
      g_autoptr (JqJob) job = NULL;
      if (strcmp (PQgetvalue (r, i, 4), "waiting") == 0)
        job = row_job (r, i);
      func (job ? JQ_SYNC_WAITING : JQ_SYNC_GONE, number, job,
            strcmp (PQgetvalue (r, i, 5), "t") == 0, user_data);
    }
  PQclear (r);
  return read_state (p, state, error);
}

static gboolean
pg_list_running (gpointer impl, GPtrArray *jobs, GArray *pids,
                 GArray *started_us)
{
  PgJournal *p = impl;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return FALSE;
  PGresult *r = PQexec (p->conn,
      "SELECT number, priority, argv, queued_us, pid, started_us "
      "FROM bots_jobqueue.jobs WHERE state = 'running' ORDER BY number");
  if (query_failed (p, r, "read", NULL))
    return FALSE;
  for (int i = 0; i < PQntuples (r); i++)
    {
      JqJob *job = row_job (r, i);
      if (job == NULL)
        continue;
      g_ptr_array_add (jobs, job);
      if (pids != NULL)
        {
          GPid pid = atoi (PQgetvalue (r, i, 4));
          g_array_append_val (pids, pid);
        }
      if (started_us != NULL)
        {
          gint64 t = g_ascii_strtoll (PQgetvalue (r, i, 5), NULL, 10);
          g_array_append_val (started_us, t);
        }
    }
  PQclear (r);
  return TRUE;
}

static JqRecordState
pg_find_job (gpointer impl, guint64 number)
{
  PgJournal *p = impl;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return JQ_RECORD_NONE;
  char n[24];
  const char *values[] = { I64 (n, number) };
  PGresult *r = exec_params (p,
      "SELECT state FROM bots_jobqueue.jobs WHERE number = $1", 1, values,
      NULL);
  if (query_failed (p, r, "read", NULL))
    return JQ_RECORD_NONE;
  JqRecordState state = PQntuples (r) == 0 ? JQ_RECORD_NONE
    : strcmp (PQgetvalue (r, 0, 0), "running") == 0 ? JQ_RECORD_RUNNING
    : JQ_RECORD_WAITING;
  PQclear (r);
  return state;
}

static void
pg_requeue_at_head (gpointer impl, guint64 number)
{
  char n[24];
  const char *values[] = { I64 (n, number) };
  ((PgJournal *) impl)->moved_job = TRUE;
  write_op (impl, "requeue",
            "UPDATE bots_jobqueue.jobs SET state = 'waiting', at_head = true, "
            "changed = " CHANGED " WHERE number = $1", 1, values, NULL);
}

static guint
pg_prune_history (gpointer impl, gint64 before_us, guint max_rows)
{
  PgJournal *p = impl;
  if (p->depth > 0 || PQstatus (p->conn) != CONNECTION_OK)
    return 0;
  char b[24], m[24];
  const char *values[] = { I64 (b, before_us), I64 (m, max_rows) };
  PGresult *r = exec_params (p,
      "DELETE FROM bots_jobqueue.history WHERE number IN (SELECT number "
      "FROM bots_jobqueue.history WHERE ended_us < $1 ORDER BY ended_us "
      "LIMIT $2)", 2, values, NULL);
  guint gone = result_ok (r) ? (guint) atoi (PQcmdTuples (r)) : 0;
  PQclear (r);
  return gone;
}

#define HISTORY_COLUMNS "number, priority, argv, queued_us, started_us, " \
  "ended_us, exit_code, signal, maxruntime_hit, start_error"

/* Row @i of a SELECT HISTORY_COLUMNS, owning its strings; *@stored gets
 * the bytes of its argv as stored. */
static JqFinished
row_finished (PGresult *r, int i, gsize *stored)
{
  return (JqFinished) {
    .number = g_ascii_strtoull (PQgetvalue (r, i, 0), NULL, 10),
    .priority = atoi (PQgetvalue (r, i, 1)),
    .argv = (const char *const *) argv_unpack (PQgetvalue (r, i, 2), stored),
    .queued_us = g_ascii_strtoll (PQgetvalue (r, i, 3), NULL, 10),
    .started_us = g_ascii_strtoll (PQgetvalue (r, i, 4), NULL, 10),
    .ended_us = g_ascii_strtoll (PQgetvalue (r, i, 5), NULL, 10),
    .exit_code = atoi (PQgetvalue (r, i, 6)),
    .term_signal = atoi (PQgetvalue (r, i, 7)),
    .hit_maxruntime = strcmp (PQgetvalue (r, i, 8), "t") == 0,
    .start_error = PQgetisnull (r, i, 9)
      ? NULL : g_strdup (PQgetvalue (r, i, 9)),
  };
}

static GArray *
pg_history (gpointer impl, guint limit, gsize max_bytes)
{
  PgJournal *p = impl;
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (JqFinished));
  g_array_set_clear_func (rows, jq_finished_clear);
  if (PQstatus (p->conn) != CONNECTION_OK)
    return rows;
  char l[24];
  const char *values[] = { I64 (l, MIN (limit, (guint) G_MAXINT)) };
  PGresult *r = exec_params (p,
      "SELECT " HISTORY_COLUMNS " FROM bots_jobqueue.history "
      "ORDER BY number DESC LIMIT $1", 1, values, NULL);
  if (PQresultStatus (r) != PGRES_TUPLES_OK && p->depth > 0)
    note_error (p, "history", r);
  gsize bytes = 0;
  for (int i = 0; PQresultStatus (r) == PGRES_TUPLES_OK
                  && i < PQntuples (r); i++)
    {
      /* the texts, as stored; checked before they are kept */
      gsize stored = 0;
      JqFinished f = row_finished (r, i, &stored);
      bytes += stored + (gsize) PQgetlength (r, i, 9);
      if (rows->len > 0 && bytes > max_bytes)
        {
          jq_finished_clear (&f);
          break;
        }
      g_array_append_val (rows, f);
    }
  PQclear (r);
  return rows;
}

static JqFinished *
pg_find_finished (gpointer impl, guint64 number)
{
  PgJournal *p = impl;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return NULL;
  char n[24];
  const char *values[] = { I64 (n, number) };
  PGresult *r = exec_params (p,
      "SELECT " HISTORY_COLUMNS " FROM bots_jobqueue.history "
      "WHERE number = $1", 1, values, NULL);
  JqFinished *found = NULL;
  if (PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1)
    {
      found = g_new (JqFinished, 1);
      *found = row_finished (r, 0, NULL);
    }
  else if (PQresultStatus (r) != PGRES_TUPLES_OK && p->depth > 0)
    note_error (p, "history", r);
  PQclear (r);
  return found;
}

static guint
pg_count_history (gpointer impl)
{
  PgJournal *p = impl;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return 0;
  PGresult *r = PQexec (p->conn, "SELECT count(*) FROM bots_jobqueue.history");
  guint n = PQresultStatus (r) == PGRES_TUPLES_OK
            ? (guint) atoi (PQgetvalue (r, 0, 0)) : 0;
  PQclear (r);
  return n;
}

static const char *
pg_describe (gpointer impl)
{
  PgJournal *p = impl;
  return p->description;
}

static void
pg_close (gpointer impl)
{
  PgJournal *p = impl;
  PQfinish (p->conn);
  g_clear_error (&p->pending_error);
  g_free (p->dsn);
  g_free (p->description);
  g_free (p->member);
  g_free (p);
}

static const JqJournalBackend pg_backend = {
  .close = pg_close,
  .describe = pg_describe,
  .begin = pg_begin,
  .abort = pg_abort,
  .commit = pg_commit,
  .add = pg_add,
  .set_priority = pg_set_priority,
  .start = pg_start,
  .remove = pg_remove,
  .clear_waiting = pg_clear_waiting,
  .set_meta = pg_set_meta,
  .get_meta = pg_get_meta,
  .finish = pg_finish,
  .load = pg_load,
  .sync = pg_sync,
  .list_running = pg_list_running,
  .find_job = pg_find_job,
  .find_finished = pg_find_finished,
  .requeue_at_head = pg_requeue_at_head,
  .prune_history = pg_prune_history,
  .history = pg_history,
  .count_history = pg_count_history,
};

/* Made by whichever server comes first; the schema lock keeps two first
 * servers from creating the same tables at once. */
static gboolean
create_schema (PgJournal *p, GError **error)
{
  guint64 queue_id = jq_journal_new_queue_id ();
  g_autofree char *sql = g_strdup_printf (
    "BEGIN;"
    "SELECT pg_advisory_xact_lock (" LOCK_CLASS ", " LOCK_SCHEMA ");"
    "CREATE SCHEMA IF NOT EXISTS bots_jobqueue;"
    "CREATE TABLE IF NOT EXISTS bots_jobqueue.jobs ("
    "  number bigint PRIMARY KEY, priority integer NOT NULL,"
    "  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,"
    "  state text NOT NULL CHECK (state IN ('waiting', 'running')),"
    "  at_head boolean NOT NULL DEFAULT false, started_us bigint,"
    "  pid integer, changed bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_changed ON bots_jobqueue.jobs (changed);"
    "CREATE TABLE IF NOT EXISTS bots_jobqueue.history ("
    "  number bigint PRIMARY KEY, priority integer NOT NULL,"
    "  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,"
    "  started_us bigint, ended_us bigint NOT NULL, exit_code integer,"
    "  signal integer, maxruntime_hit boolean NOT NULL DEFAULT false,"
    "  start_error text);"
    "CREATE INDEX IF NOT EXISTS history_ended"
    "  ON bots_jobqueue.history (ended_us);"
    "CREATE TABLE IF NOT EXISTS bots_jobqueue.meta ("
    "  key text PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bots_jobqueue.lease ("
    "  id integer PRIMARY KEY CHECK (id = 1), holder text NOT NULL,"
    "  term bigint NOT NULL, expires timestamptz NOT NULL,"
    "  since timestamptz NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bots_jobqueue.members ("
    "  name text PRIMARY KEY, heartbeat timestamptz NOT NULL,"
    "  pid integer, started timestamptz);"
    "INSERT INTO bots_jobqueue.meta (key, value) VALUES"
    "  ('schema_version', %d), ('version', 0), ('next_number', 1),"
    "  ('queue_id', %" G_GINT64_FORMAT ") ON CONFLICT (key) DO NOTHING;"
    "COMMIT", JQ_PGJOURNAL_VERSION, (gint64) queue_id);
  PGresult *r = PQexec (p->conn, sql);
  gboolean ok = PQresultStatus (r) == PGRES_COMMAND_OK;
  if (!ok)
    set_error (p, error, "creating the schema bots_jobqueue", r);
  PQclear (r);
  if (!ok)
    PQclear (PQexec (p->conn, "ROLLBACK"));
  return ok;
}

JqJournal *
jq_pgjournal_open (const char *dsn, const char *member, guint lease_ms,
                   JqLog *log, GError **error)
{
  PgJournal *p = g_new0 (PgJournal, 1);
  p->dsn = g_strdup (dsn);
  p->description = jq_pgjournal_describe_dsn (dsn);
  p->member = g_strdup (member);
  p->lease_ms = lease_ms;
  p->log = log;
  p->known_version = -1;
  p->conn = jq_pgjournal_connect (dsn, "bots-jobqueue", lease_ms);
  g_autofree char *why = NULL;
  if (PQstatus (p->conn) != CONNECTION_OK
      || !setup_session (p->conn, lease_ms, &why))
    {
      g_autofree char *text = why ? g_strdup (why)
                                  : jq_pgconn_error_text (p->conn, NULL);
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot connect to the %s journal: %s", p->description,
                   text);
      pg_close (p);
      return NULL;
    }
  if (!create_schema (p, error))
    {
      pg_close (p);
      return NULL;
    }
  gint64 version = pg_get_meta (p, "schema_version", 0);
  if (version > JQ_PGJOURNAL_VERSION)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "the %s journal was written by a newer bots-jobqueue "
                   "(format %" G_GINT64_FORMAT ", this one knows %d); it was "
                   "left untouched", p->description, version,
                   JQ_PGJOURNAL_VERSION);
      pg_close (p);
      return NULL;
    }
  guint64 queue_id = (guint64) pg_get_meta (p, "queue_id", 0);
  JqJournal *j = jq_journal_new_with_backend (&pg_backend, p, queue_id);
  p->journal = j;
  return j;
}

gboolean
jq_pgjournal_is_healthy (JqJournal *journal)
{
  PgJournal *p = jq_journal_get_backend_data (journal);
  return p != NULL && p->pending_error == NULL
         && PQstatus (p->conn) == CONNECTION_OK;
}

gboolean
jq_pgjournal_lost_a_move (JqJournal *journal)
{
  PgJournal *p = jq_journal_get_backend_data (journal);
  return p != NULL && p->lost_move;
}
