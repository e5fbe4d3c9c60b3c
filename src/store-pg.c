/* The PostgreSQL store, shared by the servers of a cluster.
 *
 * Schema bots_jobqueue (meta row schema_version = JQ_STORE_PG_VERSION):
 *   jobs(number, priority, argv bytea, task, queued_us, state, at_head,
 *        started_us, pid, changed, owner)  -- waiting and running jobs
 *        (owner: the uid that queued it, NULL when unknown; format 2)
 *   history(...)                     -- the columns of store-record.h
 *   meta(key, value bigint)          -- next_number, paused, queue_id,
 *                                       version (bumped by every writing
 *                                       transaction)
 * argv is stored as store-record.h says: exact bytes.  The cluster's
 * tables (lease, members) are cluster.c's, with their own version.  If
 * you change the store's tables, you MUST bump JQ_STORE_PG_VERSION, add
 * the step from the version before to upgrade_steps (run in place, under
 * the schema lock, by the first server of the new version), and add
 * tests/data/pgjournal-vN.sql, dumped from a database the new version
 * wrote, to test_store.c's stored-schema test; the older ones stay.
 *
 * Why a lock and a version rather than queries per call: the scheduler
 * keeps judging Bots' rules on its queue in memory (queue.c), as with
 * SQLite.  Every transaction first takes one transaction-level advisory
 * lock, so transactions of all servers run one after the other, and reads
 * the version: when another server wrote since this one last looked, the
 * store says so (changes) and the scheduler reads the changed jobs (sync)
 * before its batch runs.  addjob on two hosts at the same moment is thus
 * judged on the same waiting set, atomically, and job numbers (meta
 * next_number, under the same lock) stay unique, gapless and increasing
 * cluster-wide.  A server that did the last write reads nothing again:
 * one server alone is as fast as its round trips.
 *
 * libpq calls block the main loop, each for a bounded time
 * (jq_pgconn_exec, pgconn.h's budget): the server cancels a statement,
 * or a wait for the queue's lock, after a quarter lease, ends a session
 * left idle in a transaction that long (a frozen member releases the
 * lock so), and the client drops a connection that has not answered a
 * sixteenth of a lease later.  While the database is unreachable a
 * reconnect is tried at most once a second and calls fail at once. */
#include "build-config.h"

#include "store-pg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pgconn.h"
#include "store-record.h"
#include "task.h"

typedef struct {
  PGconn    *conn;
  char      *description;    /* for the log: no password */
  char      *member;         /* the NOTIFY payload */
  JqPgBudget budget;         /* from the cluster's lease */
  JqLog     *log;
  JqPgLink   link;
  gboolean   wrote;          /* this transaction changed the queue */
  gboolean   stale;          /* another server wrote, not read yet */
  gint64     known_version;  /* meta version our queue reflects; -1: none */
  gint64     version_at_begin;
  gint64     sync_since;     /* the version read before, for sync */
} PgStore;

/* Runs @sql (one or several statements) within the budget. */
static PGresult *
exec_sql (PgStore *p, const char *sql)
{
  return jq_pgconn_exec (p->conn, sql, 0, NULL, NULL, NULL,
                         p->budget.deadline_ms);
}

/* Settings of each session (pgconn.h's budget): no statement holds the
 * main loop for more than a quarter lease (the lease's own beats must go
 * on), not even one waiting for the queue's lock, which others hold for
 * milliseconds; and a member that stops inside a transaction loses its
 * session, and the lock, a quarter lease later. */
static gboolean
setup_session (PGconn *conn, gpointer data)
{
  PgStore *p = data;
  return jq_pgconn_apply_budget (conn, &p->budget, NULL);
}

static void
set_error (PgStore *p, GError **error, const char *what, PGresult *r)
{
  g_autofree char *text = jq_pgconn_error_text (p->conn, r);
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL, "%s journal (%s): %s",
               p->description, what, text);
}

/* A lost connection is said once, when it is noticed; so is its return,
 * after which the whole queue is read again. */
static void
say_link (const JqPgLink *link, gboolean back, gpointer data)
{
  PgStore *p = data;
  if (back)
    {
      p->known_version = -1;
      jq_log_write_later (p->log, JQ_LOG_WARNING,
                          "Connected to the %s journal again after %.1f s.",
                          p->description,
                          (double) (g_get_monotonic_time ()
                                    - link->down_since_us) / G_USEC_PER_SEC);
      return;
    }
  g_autofree char *text = jq_pgconn_error_text (p->conn, NULL);
  /* Later: the failing batch's own lines are dropped with it. */
  jq_log_write_later (p->log, JQ_LOG_ERROR,
                      "Connection to the %s journal lost (%s); calls are answered "
                      "with a fault until it is back; reconnecting.",
                      p->description, text);
}

static void
check_connection (PgStore *p)
{
  jq_pgconn_check (p->conn, &p->link);
}

/* FALSE, with @error, unless @r is a result without error. */
static gboolean
result_ok (PgStore *p, PGresult *r, const char *what, GError **error)
{
  ExecStatusType st = PQresultStatus (r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
    return TRUE;
  set_error (p, error, what, r);
  check_connection (p);
  return FALSE;
}

/* Runs @sql with text parameters, except those whose @lengths is not -1,
 * which are binary. */
static PGresult *
exec_params (PgStore *p, const char *sql, int n,
             const char *const *values, const int *lengths)
{
  int formats[12] = { 0 };
  g_assert (n <= 12);
  for (int i = 0; i < n; i++)
    formats[i] = lengths != NULL && lengths[i] >= 0;
  return jq_pgconn_exec (p->conn, sql, n, values, lengths, formats,
                         p->budget.deadline_ms);
}

/* Opens the transaction: the queue's lock, then the version. */
static gboolean
pg_begin (gpointer store, GError **error)
{
  PgStore *p = store;
  p->wrote = FALSE;
  p->stale = FALSE;
  if (!jq_pgconn_ensure (p->conn, &p->link,
                         p->budget.deadline_ms))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "the %s journal cannot be reached; nothing was changed",
                   p->description);
      return FALSE;
    }
  PGresult *r = exec_sql (p,
      "BEGIN; SELECT pg_advisory_xact_lock (" JQ_PG_LOCK_CLASS ", "
      JQ_PG_LOCK_QUEUE ");"
      "SELECT value FROM bots_jobqueue.meta WHERE key = 'version'");
  gboolean ok = result_ok (p, r, "begin", error) && PQntuples (r) == 1;
  if (ok)
    p->version_at_begin = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  else if (error != NULL && *error == NULL)
    set_error (p, error, "begin", r);
  PQclear (r);
  if (ok && p->version_at_begin != p->known_version)
    {
      p->stale = TRUE;
      p->sync_since = p->known_version;
    }
  return ok;
}

static gboolean
pg_changes (gpointer store, gboolean *full)
{
  PgStore *p = store;
  if (!p->stale)
    return FALSE;
  p->stale = FALSE;
  *full = p->sync_since < 0;
  p->known_version = p->version_at_begin;
  return TRUE;
}

static gboolean
pg_commit (gpointer store, gboolean *wrote, GError **error)
{
  PgStore *p = store;
  PGresult *r;
  if (p->wrote)
    {
      char *quoted = PQescapeLiteral (p->conn, p->member, strlen (p->member));
      g_autofree char *sql = g_strdup_printf (
          "UPDATE bots_jobqueue.meta SET value = value + 1 "
          "WHERE key = 'version'; NOTIFY " JQ_PG_CHANNEL ", %s; COMMIT",
          quoted ? quoted : "''");
      PQfreemem (quoted);
      r = exec_sql (p, sql);
    }
  else
    r = exec_sql (p, "COMMIT");
  /* COMMIT of a failed transaction answers ROLLBACK. */
  gboolean ok = PQresultStatus (r) == PGRES_COMMAND_OK
                && strcmp (PQcmdStatus (r), "COMMIT") == 0;
  if (!ok)
    {
      set_error (p, error, "commit", r);
      check_connection (p);
    }
  PQclear (r);
  if (!ok)
    return FALSE;
  /* Changes of others that nobody read: a write of ours judged on them
   * leaves the queue in memory unknown; otherwise it still reflects the
   * version it did. */
  if (!p->stale)
    p->known_version = p->version_at_begin + (p->wrote ? 1 : 0);
  else if (p->wrote)
    p->known_version = -1;
  *wrote = p->wrote;
  return TRUE;
}

static void
pg_rollback (gpointer store)
{
  PgStore *p = store;
  if (PQstatus (p->conn) == CONNECTION_OK
      && PQtransactionStatus (p->conn) != PQTRANS_IDLE)
    PQclear (exec_sql (p, "ROLLBACK"));
  /* What the queue in memory holds is not what the database holds. */
  p->known_version = -1;
}

/* One write, in the open transaction. */
static gboolean
write_op (PgStore *p, const char *what, const char *sql, int n,
          const char *const *values, const int *lengths, GError **error)
{
  PGresult *r = exec_params (p, sql, n, values, lengths);
  gboolean ok = result_ok (p, r, what, error);
  PQclear (r);
  if (ok)
    p->wrote = TRUE;
  return ok;
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

static gboolean
pg_add (gpointer store, JqJob *job, GError **error)
{
  char number[24], priority[24], queued[24], owner[24];
  gint64 uid;
  g_autoptr (GBytes) packed = jq_record_pack_argv (jq_job_get_argv (job));
  g_autofree char *task = task_text (jq_job_get_argv (job));
  gsize size;
  const char *data = g_bytes_get_data (packed, &size);
  const char *values[] = { I64 (number, jq_job_get_number (job)),
                           I64 (priority, jq_job_get_priority (job)),
                           data, task,
                           I64 (queued, jq_job_get_queued_us (job)),
                           jq_record_owner_value (job, &uid)
                           ? I64 (owner, uid) : NULL };
  const int lengths[] = { -1, -1, (int) size, -1, -1, -1 };
  return write_op (store, "add",
      "INSERT INTO bots_jobqueue.jobs (number, priority, argv, task, "
      "queued_us, state, at_head, changed, owner) "
      "VALUES ($1, $2, $3, $4, $5, 'waiting', false, " CHANGED ", $6)", 6,
      values, lengths, error);
}

static gboolean
pg_set_priority (gpointer store, guint64 number, int priority,
                 GError **error)
{
  char n[24], pr[24];
  const char *values[] = { I64 (pr, priority), I64 (n, number) };
  return write_op (store, "priority",
      "UPDATE bots_jobqueue.jobs SET priority = $1, changed = " CHANGED
      " WHERE number = $2", 2, values, NULL, error);
}

/* changed: the other servers read the job again, its owner with it. */
static gboolean
pg_disown (gpointer store, guint64 number, GError **error)
{
  char n[24];
  const char *values[] = { I64 (n, number) };
  return write_op (store, "disown",
      "UPDATE bots_jobqueue.jobs SET owner = NULL, changed = " CHANGED
      " WHERE number = $1", 1, values, NULL, error);
}

static gboolean
pg_start (gpointer store, guint64 number, gint64 started_us, int pid,
          GError **error)
{
  char n[24], st[24], pd[24];
  const char *values[] = { I64 (st, started_us), I64 (pd, pid),
                           I64 (n, number) };
  return write_op (store, "start",
      "UPDATE bots_jobqueue.jobs SET state = 'running', "
      "started_us = $1, pid = $2, changed = " CHANGED
      " WHERE number = $3", 3, values, NULL, error);
}

static gboolean
pg_remove (gpointer store, guint64 number, GError **error)
{
  char n[24];
  const char *values[] = { I64 (n, number) };
  return write_op (store, "remove",
      "DELETE FROM bots_jobqueue.jobs WHERE number = $1", 1, values, NULL,
      error);
}

static gboolean
pg_requeue_at_head (gpointer store, guint64 number, GError **error)
{
  char n[24];
  const char *values[] = { I64 (n, number) };
  return write_op (store, "requeue",
      "UPDATE bots_jobqueue.jobs SET state = 'waiting', at_head = true, "
      "changed = " CHANGED " WHERE number = $1", 1, values, NULL, error);
}

static gboolean
pg_clear_waiting (gpointer store, GError **error)
{
  return write_op (store, "clear",
      "DELETE FROM bots_jobqueue.jobs WHERE state = 'waiting'", 0, NULL,
      NULL, error);
}

static gboolean
pg_set_meta (gpointer store, const char *key, gint64 value, GError **error)
{
  char v[24];
  const char *values[] = { key, I64 (v, value) };
  return write_op (store, key,
      "INSERT INTO bots_jobqueue.meta (key, value) VALUES ($1, $2) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", 2, values,
      NULL, error);
}

static gint64
pg_get_meta (gpointer store, const char *key, gint64 fallback,
             GError **error)
{
  PgStore *p = store;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return fallback;
  const char *values[] = { key };
  PGresult *r = exec_params (p, "SELECT value FROM bots_jobqueue.meta "
                             "WHERE key = $1", 1, values, NULL);
  gint64 value = fallback;
  if (result_ok (p, r, key, error) && PQntuples (r) == 1)
    value = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  PQclear (r);
  return value;
}

static gboolean
pg_finish (gpointer store, const JqFinished *f, GError **error)
{
  if (!pg_remove (store, f->number, error))
    return FALSE;
  char number[24], priority[24], queued[24], started[24], ended[24],
       code[24], sig[24];
  g_autoptr (GBytes) packed = jq_record_pack_argv (f->argv);
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
  return write_op (store, "history",
      "INSERT INTO bots_jobqueue.history (" JQ_RECORD_HISTORY_INSERT ") "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
      "ON CONFLICT (number) DO UPDATE SET priority = excluded.priority, "
      "argv = excluded.argv, task = excluded.task, "
      "queued_us = excluded.queued_us, started_us = excluded.started_us, "
      "ended_us = excluded.ended_us, exit_code = excluded.exit_code, "
      "signal = excluded.signal, maxruntime_hit = excluded.maxruntime_hit, "
      "start_error = excluded.start_error", 11, values, lengths, error);
}

/* store-record.h's reader on row @i of a result (text format). */
typedef struct {
  PGresult      *r;
  int            i;
  unsigned char *bytes;     /* the last bytea read, unescaped */
} Row;

static gint64
row_integer (gpointer data, int column)
{
  Row *row = data;
  const char *v = PQgetvalue (row->r, row->i, column);
  if (strcmp (v, "t") == 0 || strcmp (v, "f") == 0)
    return v[0] == 't';                /* a boolean */
  return g_ascii_strtoll (v, NULL, 10);
}

static const char *
row_text (gpointer data, int column)
{
  Row *row = data;
  return PQgetisnull (row->r, row->i, column)
         ? NULL : PQgetvalue (row->r, row->i, column);
}

static const void *
row_bytes (gpointer data, int column, gsize *len)
{
  Row *row = data;
  size_t n = 0;
  g_clear_pointer (&row->bytes, PQfreemem);
  row->bytes = PQunescapeBytea (
      (const unsigned char *) PQgetvalue (row->r, row->i, column), &n);
  *len = row->bytes != NULL ? n : 0;
  return row->bytes;
}

static const JqRecordReader reader = { row_integer, row_text, row_bytes };

static JqJob *
row_job (PGresult *r, int i)
{
  Row row = { r, i, NULL };
  JqJob *job = jq_record_job (&reader, &row);
  g_clear_pointer (&row.bytes, PQfreemem);
  return job;
}

/* The next number (never below the highest row), the pause flag and the
 * count of waiting jobs, in one round trip. */
static gboolean
read_state (PgStore *p, JqSyncState *state, GError **error)
{
  PGresult *r = exec_sql (p,
      "SELECT (SELECT value FROM bots_jobqueue.meta WHERE key = 'next_number'),"
      " (SELECT value FROM bots_jobqueue.meta WHERE key = 'paused'),"
      " (SELECT count(*) FROM bots_jobqueue.jobs WHERE state = 'waiting'),"
      " (SELECT max(number) FROM bots_jobqueue.jobs)");
  gboolean ok = result_ok (p, r, "read", error);
  if (ok)
    {
      state->next_number = jq_record_next_number (
          g_ascii_strtoull (PQgetvalue (r, 0, 0), NULL, 10),
          g_ascii_strtoull (PQgetvalue (r, 0, 3), NULL, 10));
      state->paused = g_ascii_strtoll (PQgetvalue (r, 0, 1), NULL, 10) != 0;
      state->waiting = (guint) g_ascii_strtoull (PQgetvalue (r, 0, 2), NULL,
                                                 10);
    }
  PQclear (r);
  return ok;
}

static gboolean
pg_load (gpointer store, JqJournalJobFunc func, gpointer user_data,
         guint64 *next_number, GError **error)
{
  PgStore *p = store;
  PGresult *r = exec_sql (p, "SELECT " JQ_RECORD_JOB_COLUMNS
                        " FROM bots_jobqueue.jobs ORDER BY number");
  if (!result_ok (p, r, "load", error))
    {
      PQclear (r);
      return FALSE;
    }
  guint64 highest = 0;
  for (int i = 0; i < PQntuples (r); i++)
    {
      Row row = { r, i, NULL };
      jq_record_load_row (&reader, &row, func, user_data, &highest);
      g_clear_pointer (&row.bytes, PQfreemem);
    }
  PQclear (r);
  JqSyncState state;
  if (!read_state (p, &state, error))
    return FALSE;
  *next_number = state.next_number;
  return TRUE;
}

static gboolean
pg_sync (gpointer store, gboolean full, JqJournalSyncFunc func,
         gpointer user_data, JqSyncState *state, GError **error)
{
  PgStore *p = store;
  char since[24];
  const char *values[] = { I64 (since, p->sync_since) };
  PGresult *r = full || p->sync_since < 0
    ? exec_sql (p,
        "SELECT number, priority, argv, queued_us, state, at_head, "
        JQ_RECORD_OWNER " FROM bots_jobqueue.jobs WHERE state = 'waiting' "
        "ORDER BY number")
    : exec_params (p,
        "SELECT number, priority, argv, queued_us, state, at_head, "
        JQ_RECORD_OWNER " FROM bots_jobqueue.jobs WHERE changed > $1 "
        "ORDER BY number", 1,
        values, NULL);
  if (!result_ok (p, r, "read", error))
    {
      PQclear (r);
      return FALSE;
    }
  for (int i = 0; i < PQntuples (r); i++)
    {
      guint64 number = g_ascii_strtoull (PQgetvalue (r, i, 0), NULL, 10);
      g_autoptr (JqJob) job = NULL;
      if (strcmp (PQgetvalue (r, i, 4), "waiting") == 0)
        job = row_job (r, i);
      if (job != NULL)
        jq_job_set_owner (job, jq_record_owner (
            g_ascii_strtoll (PQgetvalue (r, i, 6), NULL, 10)));
      func (job ? JQ_SYNC_WAITING : JQ_SYNC_GONE, number, job,
            strcmp (PQgetvalue (r, i, 5), "t") == 0, user_data);
    }
  PQclear (r);
  return read_state (p, state, error);
}

static gboolean
pg_list_running (gpointer store, GPtrArray *jobs, GArray *pids,
                 GArray *started_us, GError **error)
{
  PgStore *p = store;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return FALSE;
  PGresult *r = exec_sql (p,
      "SELECT number, priority, argv, queued_us, pid, started_us "
      "FROM bots_jobqueue.jobs WHERE state = 'running' ORDER BY number");
  gboolean ok = result_ok (p, r, "read", error);
  for (int i = 0; ok && i < PQntuples (r); i++)
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
  return ok;
}

static JqRecordState
pg_find_job (gpointer store, guint64 number, GError **error)
{
  PgStore *p = store;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return JQ_RECORD_NONE;
  char n[24];
  const char *values[] = { I64 (n, number) };
  PGresult *r = exec_params (p,
      "SELECT state FROM bots_jobqueue.jobs WHERE number = $1", 1, values,
      NULL);
  JqRecordState state = JQ_RECORD_NONE;
  if (result_ok (p, r, "read", error) && PQntuples (r) > 0)
    state = strcmp (PQgetvalue (r, 0, 0), "running") == 0
            ? JQ_RECORD_RUNNING : JQ_RECORD_WAITING;
  PQclear (r);
  return state;
}

static gboolean
pg_healthy (gpointer store)
{
  return PQstatus (((PgStore *) store)->conn) == CONNECTION_OK;
}

static guint
pg_prune_history (gpointer store, gint64 before_us, guint max_rows)
{
  PgStore *p = store;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return 0;
  char b[24], m[24];
  const char *values[] = { I64 (b, before_us), I64 (m, max_rows) };
  PGresult *r = exec_params (p,
      "DELETE FROM bots_jobqueue.history WHERE number IN (SELECT number "
      "FROM bots_jobqueue.history WHERE ended_us < $1 ORDER BY ended_us "
      "LIMIT $2)", 2, values, NULL);
  guint gone = PQresultStatus (r) == PGRES_COMMAND_OK
               ? (guint) atoi (PQcmdTuples (r)) : 0;
  PQclear (r);
  return gone;
}

static GArray *
pg_history (gpointer store, guint limit, gsize max_bytes, GError **error)
{
  PgStore *p = store;
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (JqFinished));
  g_array_set_clear_func (rows, jq_finished_clear);
  if (PQstatus (p->conn) != CONNECTION_OK)
    return rows;
  char l[24];
  const char *values[] = { I64 (l, MIN (limit, (guint) G_MAXINT)) };
  PGresult *r = exec_params (p,
      "SELECT " JQ_RECORD_HISTORY_COLUMNS " FROM bots_jobqueue.history "
      "ORDER BY number DESC LIMIT $1", 1, values, NULL);
  gboolean ok = result_ok (p, r, "history", error);
  gsize bytes = 0;
  for (int i = 0; ok && i < PQntuples (r); i++)
    {
      /* the texts, as stored; checked before they are kept */
      gsize stored = 0;
      Row row = { r, i, NULL };
      JqFinished f = jq_record_finished (&reader, &row, &stored);
      g_clear_pointer (&row.bytes, PQfreemem);
      bytes += stored;
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
pg_find_finished (gpointer store, guint64 number, GError **error)
{
  PgStore *p = store;
  if (PQstatus (p->conn) != CONNECTION_OK)
    return NULL;
  char n[24];
  const char *values[] = { I64 (n, number) };
  PGresult *r = exec_params (p,
      "SELECT " JQ_RECORD_HISTORY_COLUMNS " FROM bots_jobqueue.history "
      "WHERE number = $1", 1, values, NULL);
  JqFinished *found = NULL;
  if (result_ok (p, r, "history", error) && PQntuples (r) == 1)
    {
      Row row = { r, 0, NULL };
      found = g_new (JqFinished, 1);
      *found = jq_record_finished (&reader, &row, NULL);
      g_clear_pointer (&row.bytes, PQfreemem);
    }
  PQclear (r);
  return found;
}

static void
pg_close (gpointer store)
{
  PgStore *p = store;
  jq_pgconn_unlink (&p->link);
  jq_pgconn_forget (p->conn);
  PQfinish (p->conn);
  g_free (p->description);
  g_free (p->member);
  g_free (p);
}

static const JqSharedOps pg_shared = {
  .changes = pg_changes,
  .sync = pg_sync,
  .list_running = pg_list_running,
  .find_job = pg_find_job,
  .healthy = pg_healthy,
};

static const JqStoreOps pg_ops = {
  .kind = "postgresql", .durable = TRUE, .can_recover = TRUE,
  .shared = &pg_shared,
  JQ_STORE_FUNCTIONS (pg),
};

/* Format JQ_STORE_PG_VERSION, as a first server creates it.  Changing
 * anything here means bumping it: see the top of this file. */
static const char create_sql[] =
  "CREATE SCHEMA IF NOT EXISTS bots_jobqueue;"
  "CREATE TABLE IF NOT EXISTS bots_jobqueue.jobs ("
  "  number bigint PRIMARY KEY, priority integer NOT NULL,"
  "  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,"
  "  state text NOT NULL CHECK (state IN ('waiting', 'running')),"
  "  at_head boolean NOT NULL DEFAULT false, started_us bigint,"
  "  pid integer, changed bigint NOT NULL DEFAULT 0, owner bigint);"
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
  "  key text PRIMARY KEY, value bigint NOT NULL);";

/* upgrade_steps[N] turns format N - 1 into format N, in place; format 1
 * is the first.  The CREATE above left an older table as it was. */
static const char *const upgrade_steps[JQ_STORE_PG_VERSION + 1] = {
  /* 2: the uid that queued each job; older jobs have none (NULL). */
  [2] = "ALTER TABLE bots_jobqueue.jobs ADD COLUMN IF NOT EXISTS "
        "owner bigint",
};

/* One statement (or several) of the schema's transaction. */
static gboolean
schema_exec (PgStore *p, const char *sql, GError **error)
{
  PGresult *r = PQexec (p->conn, sql);
  gboolean ok = PQresultStatus (r) == PGRES_COMMAND_OK
                || PQresultStatus (r) == PGRES_TUPLES_OK;
  if (!ok)
    set_error (p, error, "creating the schema bots_jobqueue", r);
  PQclear (r);
  return ok;
}

/* The format found: a newer one is refused, an older one upgraded. */
static gboolean
check_version (PgStore *p, GError **error)
{
  GError *local = NULL;
  gint64 version = pg_get_meta (p, "schema_version", 0, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (version > JQ_STORE_PG_VERSION)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "the %s journal was written by a newer bots-jobqueue "
                   "(format %" G_GINT64_FORMAT ", this one knows %d); it was "
                   "left untouched", p->description, version,
                   JQ_STORE_PG_VERSION);
      return FALSE;
    }
  for (gint64 v = MAX (version, 1) + 1; v <= JQ_STORE_PG_VERSION; v++)
    if (upgrade_steps[v] != NULL && !schema_exec (p, upgrade_steps[v], error))
      return FALSE;
  if (version == JQ_STORE_PG_VERSION)
    return TRUE;
  g_autofree char *set = g_strdup_printf (
      "UPDATE bots_jobqueue.meta SET value = %d WHERE key = "
      "'schema_version'", JQ_STORE_PG_VERSION);
  return schema_exec (p, set, error);
}

/* Made by whichever server comes first; the schema lock keeps two first
 * servers from creating the same tables at once.  A newer format is
 * rolled back untouched. */
static gboolean
create_schema (PgStore *p, GError **error)
{
  g_autofree char *defaults = g_strdup_printf (
      "INSERT INTO bots_jobqueue.meta (key, value) VALUES"
      "  ('schema_version', %d), ('version', 0), ('next_number', 1),"
      "  ('queue_id', %" G_GINT64_FORMAT ") ON CONFLICT (key) DO NOTHING",
      JQ_STORE_PG_VERSION, (gint64) jq_journal_new_queue_id ());
  gboolean ok = schema_exec (p, "BEGIN; SELECT pg_advisory_xact_lock ("
                             JQ_PG_LOCK_CLASS ", " JQ_PG_LOCK_SCHEMA ")",
                             error)
                && schema_exec (p, create_sql, error)
                && schema_exec (p, defaults, error)
                && check_version (p, error)
                && schema_exec (p, "COMMIT", error);
  if (!ok)
    PQclear (PQexec (p->conn, "ROLLBACK"));
  return ok;
}

JqJournal *
jq_store_pg_open (const char *dsn, const char *member, guint lease_ms,
                  JqLog *log, GError **error)
{
  PgStore *p = g_new0 (PgStore, 1);
  p->description = jq_pgconn_describe (dsn);
  p->member = g_strdup (member);
  p->budget = jq_pgconn_budget (lease_ms, FALSE);
  p->log = log;
  p->known_version = -1;
  p->link = (JqPgLink) { .setup = setup_session, .say = say_link, .data = p };
  p->conn = jq_pgconn_connect (dsn, "bots-jobqueue", lease_ms);
  if (PQstatus (p->conn) != CONNECTION_OK || !setup_session (p->conn, p))
    {
      g_autofree char *text = jq_pgconn_error_text (p->conn, NULL);
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
  guint64 queue_id = (guint64) pg_get_meta (p, "queue_id", 0, NULL);
  return jq_journal_new (&pg_ops, p, p->description, queue_id);
}
