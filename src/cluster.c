/* Leadership of a cluster of servers on one PostgreSQL journal.
 *
 * Its tables are its own (lease, members, and cluster_meta for their
 * format), beside the store's (store-pg.c), which it never reads: the
 * store's health and what a failed transaction lost come through
 * journal.h.  The lease is one row (bots_jobqueue.lease: holder, term,
 * expires).
 * Every eighth of the lease each server beats (members.heartbeat); the
 * leader renews its lease, writing a new expiry; the others read the row
 * and take it once they have read the same row for a whole lease by their
 * own monotonic clock (lease_is_free), or when it names this server (a
 * restarted server takes its own lease back at once).  No wall clock
 * decides, the database's neither: a step of it cannot hand a lease over
 * early.  Each new lead increases the term.
 *
 * The leader launches only while its last renewal was sent less than
 * half a lease ago by its own monotonic clock: no follower read that
 * renewal's row before it was sent, so the leader stops at least half a
 * lease before any other server may lead, and that half is what its running
 * job gets to end (SIGTERM, then SIGKILL after kill_grace).  A leader
 * frozen longer than that (SIGSTOP, a VM paused) launches nothing when it
 * wakes, because the gate looks at the clock, not at a timer; its job,
 * frozen or not, may still run beside the new leader's: doc/durability.md
 * says so.
 *
 * Wake-ups: a writing transaction NOTIFYs bots_jobqueue with the writer's
 * name; this connection LISTENs, with a GLib watch on its socket, and the
 * leader starts what can start at once.  The heartbeat kicks the leader
 * too, so a lost notification costs an eighth of a lease at most.
 *
 * This connection is not the journal's: the lease is renewed even while
 * the journal waits on the queue's lock.  Its calls block the main loop,
 * briefly: statement_timeout is an eighth of the lease and the client
 * gives up a sixteenth later (pgconn.h's budget), so a slow or silent
 * database delays a beat by that much at most. */
#include "build-config.h"

#include "cluster.h"

#include <glib-unix.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fence.h"
#include "pgconn.h"

struct _JqCluster {
  PGconn      *conn;
  char        *dsn;
  char        *description;   /* no password */
  char        *member;
  guint        lease_ms;
  JqPgBudget   budget;        /* each statement's bounds (pgconn.h) */
  JqJournal   *journal;       /* borrowed */
  const JqClusterLauncher *launcher; /* borrowed: the scheduler's moves */
  gpointer     launcher_data;
  JqLog       *log;           /* borrowed */
  guint        tick_id;
  guint        watch_id;      /* on PQsocket, for notifications */
  guint        kick_id;
  gboolean     leading;       /* holds the lease */
  gboolean     took_over;     /* leading, and this term's take-over is
                               * done: only then does it launch */
  guint        takeover_id;   /* the next try of an unfinished take-over */
  guint        takeover_ms;   /* its back-off; 0 before a failed try */
  guint        takeover_tries;
  gint64       lead_won_us;   /* monotonic: when this term was won */
  gint64       no_lead_until_us; /* monotonic: after handing back a lead
                                  * it could not take over */
  gint64       strays_due_us; /* monotonic: the next look for running
                               * rows that no server runs */
  gint64       term;          /* ours while leading */
  gint64       renewed_us;    /* monotonic, when the last good renewal was sent */
  JqFence     *fence;         /* kills the jobs at renewed_us + FENCE */
  JqPgLink     link;          /* lost, said once; reconnects */
  gint64       started_us;    /* wall clock */
  char        *seen_lease;    /* a follower's last read of the lease
                               * ("term expires"); NULL: none yet */
  gint64       seen_since_us; /* monotonic: when it first read that */
  char        *leader;        /* as last read; NULL: none */
  gint64       leader_term;
  GArray      *members;       /* JqClusterMember, as last read */
};

static void
member_clear (gpointer data)
{
  JqClusterMember *m = data;
  g_free (m->name);
}

/* The fence's deadline after a renewal sent at t: t + 3/4 lease, by
 * this host's monotonic clock.  No follower read that renewal's row
 * before t, so the jobs are dead a quarter lease before any other
 * server may lead
 * (doc/durability.md, "Fencing"). */
static gint64
fence_deadline (JqCluster *c, gint64 sent_us)
{
  return sent_us + (gint64) c->lease_ms * 1000 * 3 / 4;
}

/* A good renewal (or a won lease), sent at @sent_us. */
static void
renewed (JqCluster *c, gint64 sent_us)
{
  c->renewed_us = sent_us;
  jq_fence_arm (c->fence, fence_deadline (c, sent_us));
}

static gboolean
may_launch (gpointer data)
{
  JqCluster *c = data;
  return c->leading && c->took_over
         && g_get_monotonic_time () < c->renewed_us
                                      + (gint64) c->lease_ms * 1000 / 2
         && jq_journal_is_healthy (c->journal);
}

static void
step_down (JqCluster *c, const char *why)
{
  if (!c->leading)
    return;
  c->leading = FALSE;
  c->took_over = FALSE;
  g_clear_handle_id (&c->takeover_id, g_source_remove);
  guint running = c->launcher->running (c->launcher_data);
  /* Later: called from a failing commit too, whose lines are dropped. */
  jq_log_write_later (c->log, JQ_LOG_WARNING,
                      "This server lost the lead of the cluster (term %"
                      G_GINT64_FORMAT "): %s. It launches nothing more%s.",
                      c->term, why, running > 0
                      ? "; its running job is ended and runs again on the "
                        "leader" : "");
  c->launcher->yield (c->launcher_data);
}

static gboolean
on_kick (gpointer data)
{
  JqCluster *c = data;
  c->kick_id = 0;
  if (c->leading)
    c->launcher->wake (c->launcher_data);
  return G_SOURCE_REMOVE;
}

static void
drain_notifications (JqCluster *c)
{
  gboolean other = FALSE;
  PGnotify *n;
  while ((n = PQnotifies (c->conn)) != NULL)
    {
      if (n->extra == NULL || strcmp (n->extra, c->member) != 0)
        other = TRUE;
      PQfreemem (n);
    }
  if (other && c->leading && c->kick_id == 0)
    c->kick_id = g_idle_add (on_kick, c);
  if (other)
    c->launcher->changed_elsewhere (c->launcher_data);
}

static void check_connection (JqCluster *c);

static gboolean
on_readable (int fd, GIOCondition condition, gpointer data)
{
  JqCluster *c = data;
  if (!PQconsumeInput (c->conn))
    {
      c->watch_id = 0;
      check_connection (c);
      return G_SOURCE_REMOVE;
    }
  drain_notifications (c);
  return G_SOURCE_CONTINUE;
}

static void
check_connection (JqCluster *c)
{
  jq_pgconn_check (c->conn, &c->link);
}

/* The link's news, said once each. */
static void
say_link (const JqPgLink *link, gboolean back, gpointer data)
{
  JqCluster *c = data;
  if (back)
    {
      jq_log_write (c->log, JQ_LOG_WARNING,
                    "Cluster: connected to %s again.", c->description);
      return;
    }
  g_clear_handle_id (&c->watch_id, g_source_remove);
  g_autofree char *text = jq_pgconn_error_text (c->conn, NULL);
  jq_log_write (c->log, JQ_LOG_ERROR,
                "Cluster: connection to %s lost (%s); reconnecting.",
                c->description, text);
}

/* Session settings and LISTEN (a JqPgSetup). */
static gboolean
setup (PGconn *conn, gpointer data)
{
  JqCluster *c = data;
  gboolean ok = jq_pgconn_apply_budget (conn, &c->budget,
                                        "LISTEN " JQ_PG_CHANNEL);
  if (ok)
    {
      g_clear_handle_id (&c->watch_id, g_source_remove);
      c->watch_id = g_unix_fd_add (PQsocket (conn), G_IO_IN | G_IO_HUP
                                   | G_IO_ERR, on_readable, c);
    }
  return ok;
}

static PGresult *
run (JqCluster *c, const char *sql, int n, const char *const *values)
{
  PGresult *r = jq_pgconn_exec (c->conn, sql, n, values, NULL, NULL,
                                c->budget.deadline_ms);
  if (PQresultStatus (r) != PGRES_TUPLES_OK
      && PQresultStatus (r) != PGRES_COMMAND_OK)
    check_connection (c);
  return r;
}

static void
renew (JqCluster *c)
{
  gint64 sent = g_get_monotonic_time ();
  char lease[24], term[24];
  g_snprintf (lease, sizeof lease, "%u", c->lease_ms);
  g_snprintf (term, sizeof term, "%" G_GINT64_FORMAT, c->term);
  const char *values[] = { c->member, lease, term };
  PGresult *r = run (c,
      "UPDATE bots_jobqueue.lease SET expires = clock_timestamp () "
      "+ $2::float8 * interval '1 millisecond' "
      "WHERE id = 1 AND holder = $1 AND term = $3::bigint", 3, values);
  if (PQresultStatus (r) == PGRES_COMMAND_OK)
    {
      if (strcmp (PQcmdTuples (r), "1") == 0)
        renewed (c, sent);
      else
        step_down (c, "another server holds the lease now");
    }
  PQclear (r);
}

/* Gives the lease up at once: an expiry of -infinity, which no clock
 * reaches, tells the others to take it at their next beat instead of
 * after a lease. */
static void
hand_back (JqCluster *c)
{
  char term[24];
  g_snprintf (term, sizeof term, "%" G_GINT64_FORMAT, c->term);
  const char *values[] = { c->member, term };
  PQclear (run (c, "UPDATE bots_jobqueue.lease SET expires = "
                "'-infinity' WHERE id = 1 AND holder = $1 "
                "AND term = $2::bigint", 2, values));
}

static gboolean on_takeover_retry (gpointer data);

/* The take-over is a state, not an attempt: until the queue is read and
 * the jobs the database records as running are queued again, this
 * leader launches nothing (may_launch), and it tries again, each time
 * waiting twice as long (up to TAKEOVER_MAX_MS).  A leader that cannot
 * finish within a lease (its journal's connection broken while its
 * lease's works) hands the lease back and stays away for a lease, so
 * that another server takes over. */
#define TAKEOVER_FIRST_MS 100
#define TAKEOVER_MAX_MS   2000

static void
take_over (JqCluster *c)
{
  g_clear_handle_id (&c->takeover_id, g_source_remove);
  if (!c->leading || c->took_over)
    return;
  c->takeover_tries++;
  g_autoptr (GError) error = NULL;
  if (c->launcher->lead (c->launcher_data, &error))
    {
      c->took_over = TRUE;
      c->strays_due_us = g_get_monotonic_time ()
                         + (gint64) c->lease_ms * 1000 / 2;
      if (c->takeover_tries > 1)
        jq_log_write (c->log, JQ_LOG_WARNING,
                      "Cluster: taken over (term %" G_GINT64_FORMAT ") at "
                      "try %u; this server launches now.", c->term,
                      c->takeover_tries);
      /* The gate was shut during the take-over's own transaction. */
      c->launcher->wake (c->launcher_data);
      return;
    }
  gint64 now = g_get_monotonic_time ();
  if (now - c->lead_won_us >= (gint64) c->lease_ms * 1000)
    {
      jq_log_write (c->log, JQ_LOG_ERROR,
                    "Cluster: taking over (term %" G_GINT64_FORMAT ") "
                    "failed: %s; tried %u times for a lease: this server "
                    "hands the lead back.", c->term, error->message,
                    c->takeover_tries);
      step_down (c, "it could not take over within a lease");
      if (PQstatus (c->conn) == CONNECTION_OK)
        hand_back (c);
      c->no_lead_until_us = now + (gint64) c->lease_ms * 1000;
      return;
    }
  c->takeover_ms = c->takeover_ms == 0
                   ? TAKEOVER_FIRST_MS
                   : MIN (c->takeover_ms * 2, TAKEOVER_MAX_MS);
  jq_log_write (c->log, JQ_LOG_ERROR,
                "Cluster: taking over (term %" G_GINT64_FORMAT ") failed: "
                "%s; this server launches nothing until it has, and tries "
                "again in %u ms.", c->term, error->message, c->takeover_ms);
  c->takeover_id = g_timeout_add (c->takeover_ms, on_takeover_retry, c);
}

static gboolean
on_takeover_retry (gpointer data)
{
  JqCluster *c = data;
  c->takeover_id = 0;
  take_over (c);
  return G_SOURCE_REMOVE;
}

/* The leader looks for jobs recorded as running that it does not run,
 * every half lease: no acknowledged job stays "running" for good. */
static void
requeue_strays (JqCluster *c)
{
  gint64 now = g_get_monotonic_time ();
  if (!c->took_over || now < c->strays_due_us)
    return;
  c->strays_due_us = now + (gint64) c->lease_ms * 1000 / 2;
  g_autoptr (GError) error = NULL;
  if (!c->launcher->requeue_strays (c->launcher_data, &error))
    jq_log_write (c->log, JQ_LOG_ERROR,
                  "Cluster: looking for jobs no server runs: %s; tried "
                  "again in half a lease.", error->message);
}

/* Whether this follower may take the lease it just read (@term,
 * @expires as text; @handed_back: expires is -infinity).  Every renewal
 * writes a new expiry, so a lease whose row reads the same for a whole
 * lease by this host's monotonic clock was not renewed in that time: its
 * holder stopped launching (half a lease after its last renewal) and its
 * fence killed its jobs (three quarters) before this server may lead.
 * The database's clock only writes the row: a step of its wall clock
 * (date -s, an NTP step) cannot hand the lease over early. */
static gboolean
lease_is_free (JqCluster *c, const char *term, const char *expires,
               gboolean handed_back, gint64 read_us)
{
  if (handed_back)
    return TRUE;
  g_autofree char *seen = g_strconcat (term, " ", expires, NULL);
  if (g_strcmp0 (seen, c->seen_lease) != 0)
    {
      g_free (c->seen_lease);
      c->seen_lease = g_steal_pointer (&seen);
      c->seen_since_us = read_us;
      return FALSE;
    }
  return read_us - c->seen_since_us >= (gint64) c->lease_ms * 1000;
}

/* Takes the lease read as @term, @expires (or, @term NULL, the first
 * lease of an empty table); only that very row is replaced, so a
 * renewal in between wins.  The term of the new lead, or 0. */
static gint64
claim_lease (JqCluster *c, const char *term, const char *expires)
{
  char lease[24];
  g_snprintf (lease, sizeof lease, "%u", c->lease_ms);
  const char *values[] = { c->member, lease, term, expires };
  PGresult *r = term == NULL
      ? run (c, "INSERT INTO bots_jobqueue.lease (id, holder, term, expires, "
             "since) VALUES (1, $1, 1, clock_timestamp () + $2::float8 * "
             "interval '1 millisecond', clock_timestamp ()) "
             "ON CONFLICT (id) DO NOTHING RETURNING term", 2, values)
      : run (c, "UPDATE bots_jobqueue.lease SET holder = $1, term = term + 1, "
             "expires = clock_timestamp () + $2::float8 * "
             "interval '1 millisecond', since = clock_timestamp () "
             "WHERE id = 1 AND term = $3::bigint "
             "AND expires = $4::timestamptz RETURNING term", 4, values);
  gint64 won = PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1
               ? g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10) : 0;
  PQclear (r);
  return won;
}

/* A follower's beat: it reads the lease and takes it when it is free
 * (lease_is_free) or names this server (a restarted server takes its
 * own lease back at once: the process that held it is gone). */
static void
try_to_lead (JqCluster *c)
{
  gint64 sent = g_get_monotonic_time ();
  PGresult *r = run (c, "SELECT term, expires, holder, "
                     "expires = '-infinity' FROM bots_jobqueue.lease "
                     "WHERE id = 1", 0, NULL);
  gint64 read_us = g_get_monotonic_time ();
  if (PQresultStatus (r) != PGRES_TUPLES_OK)
    {
      PQclear (r);
      return;
    }
  gint64 won = 0;
  if (PQntuples (r) == 0)
    won = claim_lease (c, NULL, NULL);
  else if (strcmp (PQgetvalue (r, 0, 2), c->member) == 0
           || lease_is_free (c, PQgetvalue (r, 0, 0), PQgetvalue (r, 0, 1),
                             strcmp (PQgetvalue (r, 0, 3), "t") == 0,
                             read_us))
    won = claim_lease (c, PQgetvalue (r, 0, 0), PQgetvalue (r, 0, 1));
  PQclear (r);
  if (won == 0)
    return;
  g_clear_pointer (&c->seen_lease, g_free);
  c->term = won;
  c->leading = TRUE;
  c->took_over = FALSE;
  renewed (c, sent);
  c->lead_won_us = sent;
  c->takeover_ms = 0;
  c->takeover_tries = 0;
  jq_log_write (c->log, JQ_LOG_STARTINFO,
                "This server (%s) leads the cluster now (term %"
                G_GINT64_FORMAT "): it launches the jobs.", c->member,
                c->term);
  take_over (c);
}

/* Heartbeat, and what status shows. */
static void
beat (JqCluster *c)
{
  char pid[24], started[32];
  g_snprintf (pid, sizeof pid, "%d", (int) getpid ());
  g_snprintf (started, sizeof started, "%.6f",
              (double) c->started_us / G_USEC_PER_SEC);
  const char *values[] = { c->member, pid, started };
  PQclear (run (c,
      "INSERT INTO bots_jobqueue.members (name, heartbeat, pid, started) "
      "VALUES ($1, clock_timestamp (), $2::integer, "
      "to_timestamp ($3::float8)) ON CONFLICT (name) DO UPDATE SET "
      "heartbeat = excluded.heartbeat, pid = excluded.pid, "
      "started = excluded.started", 3, values));
  PGresult *r = run (c,
      "SELECT m.name, (extract (epoch FROM m.heartbeat) * 1000000)::bigint, "
      "l.holder, l.term FROM bots_jobqueue.members m "
      "LEFT JOIN bots_jobqueue.lease l "
      "ON l.id = 1 AND l.expires > clock_timestamp () ORDER BY m.name",
      0, NULL);
  if (PQresultStatus (r) == PGRES_TUPLES_OK)
    {
      g_array_set_size (c->members, 0);
      g_clear_pointer (&c->leader, g_free);
      c->leader_term = 0;
      for (int i = 0; i < PQntuples (r); i++)
        {
          if (!PQgetisnull (r, i, 2) && c->leader == NULL)
            {
              c->leader = g_strdup (PQgetvalue (r, i, 2));
              c->leader_term = g_ascii_strtoll (PQgetvalue (r, i, 3), NULL,
                                                10);
            }
          JqClusterMember m = {
            .name = g_strdup (PQgetvalue (r, i, 0)),
            .heartbeat_us = g_ascii_strtoll (PQgetvalue (r, i, 1), NULL, 10),
          };
          g_array_append_val (c->members, m);
        }
      for (guint i = 0; i < c->members->len; i++)
        {
          JqClusterMember *m = &g_array_index (c->members, JqClusterMember,
                                               i);
          m->leader = g_strcmp0 (m->name, c->leader) == 0;
        }
    }
  PQclear (r);
}

/* The fence's deadline passed (the main loop was held past it): its
 * jobs are being killed; this runs before their ends are reported, so
 * none is recorded as finished. */
static gboolean
on_fence (gpointer data)
{
  JqCluster *c = data;
  step_down (c, "its lease's deadline passed before it could renew it; "
             "the fence killed its jobs");
  return G_SOURCE_REMOVE;
}

static gboolean
on_tick (gpointer data)
{
  JqCluster *c = data;
  guint killed = jq_fence_take_killed (c->fence);
  if (killed > 0)
    jq_log_write (c->log, JQ_LOG_WARNING,
                  "Cluster: the fence killed %u job(s) (SIGKILL of their "
                  "process groups) at the deadline of this server's lease.",
                  killed);
  if (jq_pgconn_ensure (c->conn, &c->link, 0))
    {
      if (c->leading)
        renew (c);
      if (c->leading && g_get_monotonic_time ()
                        >= c->renewed_us + (gint64) c->lease_ms * 1000 / 2)
        step_down (c, "its lease could not be renewed in time");
      if (!c->leading && PQstatus (c->conn) == CONNECTION_OK
          && g_get_monotonic_time () >= c->no_lead_until_us)
        try_to_lead (c);
      if (c->leading)
        requeue_strays (c);
      if (PQstatus (c->conn) == CONNECTION_OK)
        beat (c);
      drain_notifications (c);
      if (c->leading && c->kick_id == 0)
        c->kick_id = g_idle_add (on_kick, c);
    }
  else if (c->leading && g_get_monotonic_time ()
                         >= c->renewed_us + (gint64) c->lease_ms * 1000 / 2)
    step_down (c, "the database cannot be reached");
  return G_SOURCE_CONTINUE;
}

/* The cluster's own tables, format CLUSTER_VERSION (row schema_version
 * of bots_jobqueue.cluster_meta), made by the first server under the
 * schema lock.  A change means bumping CLUSTER_VERSION and upgrading
 * older tables here, as the store does with its own (store-pg.c). */
#define CLUSTER_VERSION 1

static const char cluster_tables_sql[] =
  "CREATE SCHEMA IF NOT EXISTS bots_jobqueue;"
  "CREATE TABLE IF NOT EXISTS bots_jobqueue.lease ("
  "  id integer PRIMARY KEY CHECK (id = 1), holder text NOT NULL,"
  "  term bigint NOT NULL, expires timestamptz NOT NULL,"
  "  since timestamptz NOT NULL);"
  "CREATE TABLE IF NOT EXISTS bots_jobqueue.members ("
  "  name text PRIMARY KEY, heartbeat timestamptz NOT NULL,"
  "  pid integer, started timestamptz);"
  "CREATE TABLE IF NOT EXISTS bots_jobqueue.cluster_meta ("
  "  key text PRIMARY KEY, value bigint NOT NULL);"
  "INSERT INTO bots_jobqueue.cluster_meta (key, value)"
  "  VALUES ('schema_version', " G_STRINGIFY (CLUSTER_VERSION) ")"
  "  ON CONFLICT (key) DO NOTHING;"
  "SELECT value FROM bots_jobqueue.cluster_meta"
  "  WHERE key = 'schema_version'";

static gboolean
create_tables (JqCluster *c, GError **error)
{
  PGresult *r = PQexec (c->conn, "BEGIN; SELECT pg_advisory_xact_lock ("
                        JQ_PG_LOCK_CLASS ", " JQ_PG_LOCK_SCHEMA ")");
  gboolean ok = PQresultStatus (r) == PGRES_TUPLES_OK;
  if (ok)
    {
      PQclear (r);
      r = PQexec (c->conn, cluster_tables_sql);
      ok = PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1;
    }
  gint64 version = ok ? g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10) : 0;
  if (!ok)
    {
      g_autofree char *text = jq_pgconn_error_text (c->conn, r);
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot create the cluster's tables on %s: %s",
                   c->description, text);
    }
  else if (version > CLUSTER_VERSION)
    g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                 "the cluster's tables on %s were made by a newer "
                 "bots-jobqueue (format %" G_GINT64_FORMAT ", this one knows "
                 "%d); they were left untouched", c->description, version,
                 CLUSTER_VERSION);
  PQclear (r);
  ok = ok && version <= CLUSTER_VERSION;
  PQclear (PQexec (c->conn, ok ? "COMMIT" : "ROLLBACK"));
  return ok;
}

JqCluster *
jq_cluster_new (const char *dsn, const char *member, guint lease_ms,
                JqJournal *journal, const JqClusterLauncher *launcher,
                gpointer launcher_data, JqLog *log, GError **error)
{
  JqCluster *c = g_new0 (JqCluster, 1);
  c->dsn = g_strdup (dsn);
  c->description = jq_pgconn_describe (dsn);
  c->member = g_strdup (member);
  c->lease_ms = MAX (lease_ms, 200);
  c->budget = jq_pgconn_budget (c->lease_ms, TRUE);
  c->journal = journal;
  c->launcher = launcher;
  c->launcher_data = launcher_data;
  c->log = log;
  c->started_us = g_get_real_time ();
  c->members = g_array_new (FALSE, TRUE, sizeof (JqClusterMember));
  g_array_set_clear_func (c->members, member_clear);
  c->link = (JqPgLink) { .setup = setup, .say = say_link, .data = c };
  c->fence = jq_fence_new (on_fence, c);
  c->conn = jq_pgconn_connect (dsn, "bots-jobqueue lease", c->lease_ms);
  if (PQstatus (c->conn) != CONNECTION_OK || !setup (c->conn, c))
    {
      g_autofree char *text = jq_pgconn_error_text (c->conn, NULL);
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot connect to %s for the cluster's lease: %s",
                   c->description, text);
      jq_cluster_free (c);
      return NULL;
    }
  if (!create_tables (c, error))
    {
      jq_cluster_free (c);
      return NULL;
    }
  return c;
}

gboolean
jq_cluster_may_launch (gpointer data)
{
  return may_launch (data);
}

void
jq_cluster_start (JqCluster *c)
{
  jq_log_write (c->log, JQ_LOG_STARTINFO,
                "Cluster member %s on %s; lease %u ms.", c->member,
                c->description, c->lease_ms);
  on_tick (c);
  c->tick_id = g_timeout_add (MAX (c->lease_ms / 8, 50), on_tick, c);
}

void
jq_cluster_journal_failed (JqCluster *c)
{
  /* A job started in the failed transaction is not recorded as running,
   * nor one that ended recorded as finished: stepping down ends what runs,
   * and the next lead (this server's too, at its next beat once it can
   * write) starts over from what the database holds.  A failed add is
   * only its caller's fault: the job that runs goes on. */
  if (c != NULL && jq_journal_lost_a_move (c->journal))
    step_down (c, "a job's start or end could not be written to the "
               "journal");
}

JqClusterInfo *
jq_cluster_info (JqCluster *c)
{
  JqClusterInfo *info = g_new0 (JqClusterInfo, 1);
  info->member = g_strdup (c->member);
  info->leader = g_strdup (c->leader);
  info->term = c->leader_term;
  info->leading = may_launch (c);
  info->lease_ms = c->lease_ms;
  info->members = g_array_new (FALSE, TRUE, sizeof (JqClusterMember));
  g_array_set_clear_func (info->members, member_clear);
  for (guint i = 0; i < c->members->len; i++)
    {
      JqClusterMember m = g_array_index (c->members, JqClusterMember, i);
      m.name = g_strdup (m.name);
      g_array_append_val (info->members, m);
    }
  return info;
}

void
jq_cluster_info_free (JqClusterInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->member);
  g_free (info->leader);
  g_array_unref (info->members);
  g_free (info);
}

void
jq_cluster_free (JqCluster *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->fence, jq_fence_free);
  g_clear_handle_id (&c->tick_id, g_source_remove);
  g_clear_handle_id (&c->kick_id, g_source_remove);
  g_clear_handle_id (&c->watch_id, g_source_remove);
  g_clear_handle_id (&c->takeover_id, g_source_remove);
  if (c->leading && PQstatus (c->conn) == CONNECTION_OK)
    {
      hand_back (c);
      jq_log_write (c->log, JQ_LOG_STARTINFO,
                    "This server handed the lead of the cluster back.");
    }
  if (PQstatus (c->conn) == CONNECTION_OK)
    {
      const char *values[] = { c->member };
      PQclear (run (c, "DELETE FROM bots_jobqueue.members WHERE name = $1",
                    1, values));
    }
  jq_pgconn_unlink (&c->link);
  jq_pgconn_forget (c->conn);
  PQfinish (c->conn);
  g_array_unref (c->members);
  g_free (c->leader);
  g_free (c->seen_lease);
  g_free (c->dsn);
  g_free (c->description);
  g_free (c->member);
  g_free (c);
}
