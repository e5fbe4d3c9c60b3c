/* main() of bots-jobqueueserver: options, config, log, signals, wiring. */
#include "build-config.h"

#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "door.h"
#include "fdbudget.h"
#include "journal.h"
#include "lockfile.h"
#include "housekeeping.h"
#include "notify.h"
#include "log.h"
#include "privdrop.h"
#include "safefile.h"
#include "rpc.h"
#include "scheduler.h"
#include "status.h"
#include "store-pg.h"
#ifdef JQ_FAULT_INJECTION
#include "faults.h"
#endif

typedef struct {
  GMainLoop   *loop;
  JqLog       *log;
  JqDoor      *door;
  JqRpc       *rpc;
  JqMethods   *methods;     /* served by rpc */
  JqScheduler *scheduler;
  JqStatus    *status_page; /* page, JSON and metrics */
  JqJournal   *journal;
  JqCluster   *cluster;     /* a shared journal's; else NULL */
  const JqConfig *config;
  gboolean     stopping;
  guint        grace_id;
  JqHousekeeping *housekeeping;
  int          status;       /* exit status */
  GError      *journal_error;/* set by the failure handler */
  int          lock_fd;      /* holds the lock on lock_path */
  int          rpc_fd;       /* bound XML-RPC port, until served */
  int          status_fd;    /* bound status port, or -1 */
  guint        lock_check_id;
  guint        failed_id;    /* the idle acting on journal_error */
  JqAdmins    *admins;       /* [jobqueue] admin_users, admin_group */
} Server;

static void
usage (FILE *to)
{
  fprintf (to,
           "Usage: bots-jobqueueserver [-c<configdir>] [--help] [--version]\n"
           "\n"
           "The Bots job queue server: accepts jobs over XML-RPC on the port\n"
           "set in bots.ini and runs them one at a time, in priority order.\n"
           "\n"
           "  -c<configdir>  the config folder, found as Bots finds it (on\n"
           "                 Python's path, in the bots package, then as a\n"
           "                 folder); default: config (Bots 3), or\n"
           "                 $BOTS_CONFIG_DIR, ~/.bots/env/$BOTSENV/config (Bots 4)\n"
           "  -h, --help     show this help and exit\n"
           "  --version      show the version and exit\n");
}

static gboolean on_stop_signal (gpointer data);

static gboolean
on_drained (gpointer data)
{
  Server *server = data;
  g_main_loop_quit (server->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_grace_over (gpointer data)
{
  Server *server = data;
  server->grace_id = 0;
  jq_log_write (server->log, JQ_LOG_WARNING,
                "Stop grace of %u seconds is over; terminating running jobs",
                server->config->stop_grace_seconds);
  jq_scheduler_terminate_running (server->scheduler);
  return G_SOURCE_REMOVE;
}

/* A second stop signal within the grace: the log says which it was (it
 * said the grace was over, 0.3 s into 30: an outside test). */
static void
stop_now (Server *server)
{
  g_clear_handle_id (&server->grace_id, g_source_remove);
  if (jq_scheduler_get_running (server->scheduler) > 0)
    jq_log_write (server->log, JQ_LOG_WARNING, "Asked again to stop; "
                  "terminating running jobs without waiting out the stop "
                  "grace of %u seconds", server->config->stop_grace_seconds);
  jq_scheduler_terminate_running (server->scheduler);
}

/* A stop (SIGTERM, SIGINT, or a failed journal) is only asked for here:
 * nothing waits and no thread is joined on the loop.  The door closes
 * (calls inside get their answer, later ones the "shutting down" fault at
 * once, on their own thread), wait() calls answer, no job starts, running
 * ones get the stop grace, and the loop quits once none runs.  The HTTP
 * side is stopped and its threads joined after g_main_loop_run() returns
 * (stop_serving). */
static gboolean
on_stop_signal (gpointer data)
{
  Server *server = data;

  if (server->stopping)
    {
      /* A second request to stop: do not wait out the grace. */
      stop_now (server);
      return G_SOURCE_CONTINUE;
    }
  server->stopping = TRUE;
  jq_notify_stopping ();
  guint running = jq_scheduler_get_running (server->scheduler);
  jq_log_write (server->log, JQ_LOG_STARTINFO,
                "Bots jobqueue stopping; %u job(s) running, %u waiting.",
                running, jq_scheduler_count_waiting (server->scheduler));
  jq_door_close (server->door);
  jq_methods_stop (server->methods);
  if (running > 0)
    server->grace_id = g_timeout_add_seconds (
        MAX (server->config->stop_grace_seconds, 1), on_grace_over, server);
  jq_scheduler_stop (server->scheduler, on_drained, server);
  return G_SOURCE_CONTINUE;
}

/* The door's batch hook: calls that arrive together share one journal
 * transaction, and none is answered before it is committed.  When the
 * commit fails, the batch's log lines go too: "Added job 19" must not be
 * read in the log when job 19 was never saved (its caller gets a fault). */
static gboolean
on_batch (gboolean begin, gpointer data, GError **error)
{
  Server *server = data;
  if (begin)
    {
      jq_log_hold (server->log);
      jq_scheduler_begin (server->scheduler);
      jq_scheduler_hold_launches (server->scheduler);
      return TRUE;
    }
  gboolean ok = jq_scheduler_commit (server->scheduler, error);
  if (ok)
    jq_log_release (server->log);
  else
    jq_log_discard (server->log);
  /* Only now may the batch's jobs start: one whose caller gets a fault
   * must never run (issue 19).  Their starts are job moves, whose commit
   * does not wait for the disk (jq_journal_commit_moves): the answers
   * wait for the spawn, not for a second sync. */
  jq_scheduler_release_launches (server->scheduler, ok);
  return ok;
}

/* Runs on the loop, after the failed batch has been answered. */
static gboolean
on_journal_failed_idle (gpointer data)
{
  Server *server = data;
  server->failed_id = 0;
  jq_log_write (server->log, JQ_LOG_CRITICAL,
                "%s; nothing is saved from now on, and the calls whose "
                "changes were not saved got a fault; stopping the server",
                server->journal_error->message);
  if (!server->stopping)
    on_stop_signal (server);
  /* Memory and disk no longer agree: running jobs are not left to finish
   * (their end could not be recorded); those the journal knows as running
   * run again after the restart, as after a crash. */
  g_clear_handle_id (&server->grace_id, g_source_remove);
  if (jq_scheduler_get_running (server->scheduler) > 0)
    jq_scheduler_terminate_running (server->scheduler);
  return G_SOURCE_REMOVE;
}

/* Called from inside jq_journal_commit(), possibly in the middle of a door
 * batch whose callers wait for it: only record the failure and ask the loop
 * to stop.  Closing the door from here would drain it from inside its own
 * batch. */
static void
on_journal_failed (const GError *error, gpointer data)
{
  Server *server = data;
  if (jq_journal_can_recover (server->journal)
      && jq_lockfile_check (server->lock_fd, server->config->lock_path, NULL))
    {
      /* The database comes back (the journal reconnects, and reads the
       * queue again): the call got a fault, the server goes on.  A lost
       * lock file stops the server as with SQLite. */
      jq_cluster_journal_failed (server->cluster);
      return;
    }
  server->status = 1;
  if (server->scheduler != NULL)
    jq_scheduler_journal_failed (server->scheduler);
  if (server->journal_error != NULL)
    return;
  server->journal_error = g_error_copy (error);
  server->failed_id = g_idle_add_full (G_PRIORITY_HIGH,
                                       on_journal_failed_idle, server, NULL);
}

/* The journal's guard: the lock must still be the file that is locked. */
static gboolean
lock_still_held (gpointer data, GError **error)
{
  Server *server = data;
  return jq_lockfile_check (server->lock_fd, server->config->lock_path,
                            error);
}

/* Between commits too: a deleted lock file is found within a second even
 * when nothing is committed, and the server stops as on a failed commit
 * (doc/durability.md).  With a journal the check goes through an empty
 * commit, so that the journal, too, takes nothing more. */
static gboolean
on_lock_check (gpointer data)
{
  Server *server = data;
  if (server->journal_error != NULL)
    return G_SOURCE_CONTINUE;
  g_autoptr (GError) error = NULL;
  if (jq_journal_is_durable (server->journal))
    {
      jq_scheduler_begin (server->scheduler);
      jq_scheduler_commit (server->scheduler, NULL);
    }
  else if (!lock_still_held (server, &error))
    on_journal_failed (error, server);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_hangup (gpointer data)
{
  Server *server = data;
  g_autoptr (GError) error = NULL;
  if (jq_log_reopen (server->log, &error))
    jq_log_write (server->log, JQ_LOG_INFO, "Log file reopened (SIGHUP).");
  else
    jq_log_write (server->log, JQ_LOG_ERROR, "%s", error->message);
  jq_scheduler_reload_authorization (server->scheduler, "SIGHUP");
  return G_SOURCE_CONTINUE;
}

static JqRunnerSettings
runner_settings (const JqConfig *config, JqJournal *journal,
                 const char *const *job_environ, const JqFdBudget *fds)
{
  JqRunnerSettings s = {
    .maxruntime_ms = config->maxruntime_minutes * 60 * 1000,
    .maxruntime_minutes = config->maxruntime_minutes,
    .kill_on_timeout = config->kill_jobs_in_timeout,
    .log_output = config->log_job_output,
    .kill_grace_ms = (guint64) config->kill_grace_seconds * 1000,
    .output_limit = JQ_OUTPUT_LIMIT,
    .queue_id = jq_journal_get_queue_id (journal),
    .job_environ = job_environ,
    .job_nofile = fds->was < fds->limit ? fds->was : 0,
    .die_with_server = jq_journal_is_shared (journal),
  };
  return s;
}

/* glibc stats /etc/localtime on every localtime() while TZ is unset, and
 * does it holding a process-wide lock; Abyss formats a Date header for
 * every answer, so all HTTP threads queued on that lock.  Naming the file
 * in TZ means the same zone, read once (a change of the system's zone then
 * needs a restart, as for most daemons).  Jobs get the environment as it
 * was before.  Returns that environment. */
static GStrv
settle_time_zone (void)
{
  GStrv before = g_get_environ ();
  if (g_getenv ("TZ") == NULL)
    g_setenv ("TZ", ":/etc/localtime", TRUE);
  tzset ();
  return before;
}

/* The command line.  FALSE when the program ends here, with *@exit_code. */
static gboolean
read_options (int argc, char **argv, const char **config_option,
              int *exit_code)
{
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0
          || strcmp (arg, "-?") == 0)
        {
          usage (stdout);
          *exit_code = 0;
          return FALSE;
        }
      if (strcmp (arg, "--version") == 0)
        {
          printf ("bots-jobqueueserver %s%s\n", PACKAGE_VERSION,
                  jq_notify_supported () ? " (systemd notify)" : "");
          *exit_code = 0;
          return FALSE;
        }
      if (g_str_has_prefix (arg, "-c") && arg[2] != '\0')
        {
          *config_option = arg + 2;
          continue;
        }
      fprintf (stderr, "bots-jobqueueserver: %s: %s\n\n",
               strcmp (arg, "-c") == 0
                 ? "-c needs the folder glued to it, e.g. -cconfig"
                 : "unknown argument", arg);
      usage (stderr);
      *exit_code = 1;
      return FALSE;
    }
  return TRUE;
}

/* bots.ini, when the job queue is enabled there; else NULL, said. */
static JqConfig *
load_config (const char *config_option)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JqConfig) config = jq_config_load_from_option (config_option,
                                                            &error);
  if (config == NULL)
    {
      fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
      return NULL;
    }
  if (!config->enabled)
    {
      printf ("Error: bots jobqueue cannot start; not enabled in %s\n",
              config->ini_path);
      return NULL;
    }
  return g_steal_pointer (&config);
}

/* The log, where and as the installed Bots writes it (PROTOCOL section
 * 5); *@zone_known: whether settings.py's TIME_ZONE is one of this
 * system's.  NULL, said, when it cannot be opened. */
static JqLog *
open_log (const JqConfig *config, gboolean *zone_known)
{
  g_autoptr (GError) error = NULL;
  JqLog *log = jq_log_new (config->log_path, config->log_file_level,
                           config->log_console, config->log_console_level,
                           &error);
  if (log == NULL)
    {
      fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
      return NULL;
    }
  *zone_known = jq_log_configure (
      log, config->bots_version == 4 ? JQ_LOG_STYLE_BOTS4 : JQ_LOG_STYLE_BOTS3,
      config->time_zone, config->log_backups);
  return log;
}

/* A start-up failure: in the log, and on stderr when the log does not
 * reach the console. */
static void
say_critical (const JqConfig *config, JqLog *log, const GError *error)
{
  jq_log_write (log, JQ_LOG_CRITICAL, "%s", error->message);
  if (!config->log_console)
    fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
}

/* The cluster's name of this server: unique per host and port. */
static char *
member_name (const JqConfig *config)
{
  return config->journal_member
    ? g_strdup (config->journal_member)
    : g_strdup_printf ("%s:%u", g_get_host_name (), config->port);
}

/* The journal and its store, chosen here only: PostgreSQL (journal =
 * postgresql), else SQLite, else (durability "none") the null store.
 * Everything after asks the journal what kind of store it is.  FALSE,
 * said, when it cannot be used. */
static gboolean
open_journal (const JqConfig *config, JqLog *log, JqJournal **journal)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *member = member_name (config);
  if (config->journal_postgresql)
    *journal = jq_store_pg_open (config->journal_dsn, member,
                                 config->journal_lease_seconds * 1000, log,
                                 &error);
  else if (config->durability == JQ_DURABILITY_NONE)
    *journal = jq_journal_open_none ();
  else
    *journal = jq_journal_open (config->journal_path, config->durability,
                                &error);
  if (*journal == NULL)
    say_critical (config, log, error);
  return *journal != NULL;
}

/* [jobqueue] admin_users and admin_group, resolved once; names the
 * system does not know are logged and ignored (a typo must not stop the
 * queue; root and the server's own user stay admins). */
static JqAdmins *
admins_of (const JqConfig *config, JqLog *log)
{
  g_autoptr (GString) unknown = g_string_new (NULL);
  JqAdmins *admins = jq_admins_new ((const char *const *) config->admin_users,
                                    config->admin_group, unknown);
  if (unknown->len > 0)
    jq_log_write (log, JQ_LOG_WARNING, "[jobqueue] admin_users, admin_group: "
                  "no %s on this system; ignored.", unknown->str);
  return admins;
}

/* Builds the parts and connects them: door, scheduler, rpc, status page,
 * signal handlers. */
static void
wire (Server *server, const JqConfig *config, JqLog *log, JqJournal *journal,
      const char *const *job_environ, const JqFdBudget *fds)
{
  JqRunnerSettings settings = runner_settings (config, journal, job_environ,
                                               fds);
  /* What a job leaves behind when its parent ends becomes our child, not
   * init's: the runner can then reap it and, when the job is killed, it
   * cannot have slipped out of reach (see runner.h). */
  settings.adopt_orphans = prctl (PR_SET_CHILD_SUBREAPER, 1) == 0;
#ifdef JQ_FAULT_INJECTION
  jq_faults_install (&settings);
#endif
  server->config = config;
  server->log = log;
  server->journal = journal;
  server->loop = g_main_loop_new (NULL, FALSE);
  server->door = jq_door_new (g_main_context_default ());
  jq_door_set_batch_hook (server->door, on_batch, server);
  jq_journal_set_failure_handler (journal, on_journal_failed, server);
  /* Without a store the lock is checked each second only (on_lock_check),
   * not at each call's commit. */
  if (jq_journal_is_durable (journal))
    jq_journal_set_guard (journal, lock_still_held, server);
  /* A store's commit syncs the disk (or crosses to PostgreSQL): the calls
   * that arrive meanwhile share it (issue 23: 7 -> 11 calls a commit at
   * 16 connections with durability full). */
  jq_door_set_absorbing (server->door, jq_journal_is_durable (journal));
  server->scheduler = jq_scheduler_new (config, log, &settings, journal);
  server->status_page = jq_status_new (server->scheduler, server->door);
  jq_status_set_time_zone (server->status_page, config->time_zone);
  server->methods = jq_methods_new (server->scheduler, server->door, log);
  jq_methods_set_status (server->methods, server->status_page);
  /* Only a known Bots 3: a plain script on an unknown version gets
   * the true codes. */
  jq_methods_set_bots3_answers (server->methods, config->bots_version == 3);
  jq_methods_set_max_blocked_waits (server->methods,
                                    fds->connections / JQ_RPC_WAIT_SHARE);
  server->rpc = jq_rpc_new (server->methods, server->status_page, log);
  jq_rpc_set_max_connections (server->rpc, fds->connections);
  if (fds->other_connections > 0)
    jq_rpc_set_max_status_connections (server->rpc, fds->other_connections);
  jq_rpc_set_user_share (server->rpc, config->user_connection_share);
  server->admins = admins_of (config, log);
  jq_rpc_set_admins (server->rpc, server->admins);

  /* Handlers first: a signal may come the moment the port answers. */
  g_unix_signal_add (SIGTERM, on_stop_signal, server);
  g_unix_signal_add (SIGINT, on_stop_signal, server);
  g_unix_signal_add (SIGHUP, on_hangup, server);
}

/* The scheduler as the cluster moves it (cluster.h): the cluster knows
 * no scheduler, only these. */
static gboolean
lead (gpointer s, GError **error)
{
  return jq_scheduler_lead (s, error);
}

static gboolean
requeue_strays (gpointer s, GError **error)
{
  return jq_scheduler_requeue_strays (s, error);
}

static void yield (gpointer s) { jq_scheduler_yield (s); }
static void wake (gpointer s) { jq_scheduler_kick (s); }
static void changed_elsewhere (gpointer s) { jq_scheduler_changed_elsewhere (s); }
static guint running (gpointer s) { return jq_scheduler_get_running (s); }

static const JqClusterLauncher launcher = {
  .lead = lead,
  .requeue_strays = requeue_strays,
  .yield = yield,
  .wake = wake,
  .changed_elsewhere = changed_elsewhere,
  .running = running,
};

/* A server of a shared queue joins the cluster (src/cluster.c), which
 * decides when it launches, and reads the queue.  Only the leader
 * recovers running jobs, when it takes the lead. */
static gboolean
join_cluster (Server *server, GError **error)
{
  const JqConfig *config = server->config;
  g_autofree char *member = member_name (config);
  server->cluster = jq_cluster_new (config->journal_dsn, member,
                                    config->journal_lease_seconds * 1000,
                                    server->journal, &launcher,
                                    server->scheduler, server->log, error);
  if (server->cluster == NULL)
    return FALSE;
  jq_scheduler_set_launch_gate (server->scheduler, jq_cluster_may_launch,
                                server->cluster);
  jq_methods_set_cluster (server->methods, server->cluster);
  /* The first batch reads the whole queue. */
  jq_scheduler_begin (server->scheduler);
  return jq_scheduler_commit (server->scheduler, error);
}

/* Brings the queue back from the journal and opens the ports.  FALSE,
 * said, when either fails. */
static gboolean
start_serving (Server *server)
{
  const JqConfig *config = server->config;
  g_autoptr (GError) error = NULL;
  /* The status port first: once the XML-RPC port answers, both do. */
  if (!(jq_journal_is_shared (server->journal)
        ? join_cluster (server, &error)
        : jq_scheduler_recover (server->scheduler, &error))
      || (server->status_fd >= 0
          && !jq_rpc_listen_status (server->rpc, config->status_bind,
                                    config->status_port,
                                    g_steal_fd (&server->status_fd), &error))
      || !jq_rpc_listen (server->rpc, config->bind,
                         g_steal_fd (&server->rpc_fd), &error))
    {
      say_critical (config, server->log, error);
      return FALSE;
    }
  return TRUE;
}

/* The Bots served, for the start-up line: its own version when that
 * agrees with the one whose behaviour we keep ([jobqueue] bots_version
 * may say otherwise). */
static const char *
bots_named (const JqConfig *config)
{
  if (config->bots_release != NULL
      && jq_botsenv_parse_major (config->bots_release) == config->bots_version)
    return config->bots_release;
  return config->bots_version == 4 ? "4"
         : config->bots_version == 3 ? "3" : "version unknown";
}

static void
log_started (Server *server, gboolean zone_known, const JqFdBudget *fds)
{
  const JqConfig *config = server->config;
  JqLog *log = server->log;
  jq_log_write (log, JQ_LOG_STARTINFO, "Bots jobqueue started.");
  if (!zone_known)
    jq_log_write (log, JQ_LOG_WARNING, "TIME_ZONE '%s' of %s/settings.py "
                  "is not a time zone of this system; logging in the "
                  "system's zone", config->time_zone, config->config_dir);
  if (config->time_zone_refused != NULL)
    jq_log_write (log, JQ_LOG_WARNING, "TIME_ZONE '%s' of %s/settings.py "
                  "is not a time zone name (names of letters, digits and "
                  "'_-+.' joined by '/'); logging in the system's zone",
                  config->time_zone_refused, config->config_dir);
  jq_log_write (log, JQ_LOG_STARTINFO,
                "bots-jobqueueserver %s; config %s; listening on %s "
                "port %u; %u job(s) at once; maxruntime %u minutes; "
                "durability %s; Bots %s.",
                PACKAGE_VERSION, config->ini_path, config->bind,
                config->port, config->nr_threads,
                config->maxruntime_minutes,
                jq_journal_is_shared (server->journal)
                  ? jq_journal_get_kind (server->journal)
                  : jq_durability_name (config->durability),
                bots_named (config));
  jq_log_write (log, JQ_LOG_STARTINFO, "File descriptors: limit %"
                G_GUINT64_FORMAT " (was %" G_GUINT64_FORMAT "), %"
                G_GUINT64_FORMAT " kept for the server and its jobs, "
                "up to %u connections at once.",
                fds->limit, fds->was, fds->reserve, fds->connections);
  if (config->status_bind != NULL)
    jq_log_write (log, JQ_LOG_STARTINFO, "Status page and metrics also "
                  "on %s port %u (no XML-RPC there), up to %u connections "
                  "at once.", config->status_bind, config->status_port,
                  fds->other_connections);
}

/* Readiness for the service manager, and the timers of a running server:
 * status line, watchdog, history pruning, heap trimming. */
static void
start_timers (Server *server)
{
  if (server->cluster != NULL)
    jq_cluster_start (server->cluster);
  server->housekeeping = jq_housekeeping_start (server->scheduler,
                                               server->door);
  if (jq_journal_is_durable (server->journal))
    jq_history_prune_every_hour (jq_scheduler_get_history (server->scheduler),
                                 server->config->history_days);
  server->lock_check_id = g_timeout_add_seconds (1, on_lock_check, server);
}

/* After the loop: the HTTP side stops.  The door is closed, so no
 * connection thread waits for the loop; the requests being answered may
 * finish writing (jq_rpc_stop), then Abyss's threads are joined. */
static void
stop_serving (Server *server)
{
  jq_door_close (server->door);
  jq_rpc_stop (server->rpc);
}

static void
tear_down (Server *server)
{
  g_clear_handle_id (&server->grace_id, g_source_remove);
  g_clear_handle_id (&server->lock_check_id, g_source_remove);
  g_clear_pointer (&server->housekeeping, jq_housekeeping_free);
  g_clear_handle_id (&server->failed_id, g_source_remove);
  g_clear_error (&server->journal_error);
  jq_door_close (server->door);
  jq_rpc_free (server->rpc);
  jq_methods_free (server->methods);
  jq_admins_free (server->admins);
  jq_status_free (server->status_page);
  g_clear_pointer (&server->cluster, jq_cluster_free);
  jq_scheduler_free (server->scheduler);
  jq_door_free (server->door);
  g_main_loop_unref (server->loop);
}

/* Binds the ports (a low one needs root), then, started as root, gives
 * root up for good, before anything in botssys is opened (privdrop.h).
 * A port that cannot be bound is kept in *@bind_error for the log.  FALSE,
 * said on stderr, when the server must not run. */
static gboolean
bind_and_drop (const JqConfig *config, Server *server, JqRunAs *run_as,
               GError **bind_error)
{
  g_autoptr (GError) error = NULL;
  if (!jq_privdrop_choose (config->user, config->ini_path, config->botssys,
                           run_as, &error))
    {
      fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
      return FALSE;
    }
  if (config->status_bind != NULL)
    server->status_fd = jq_http_bind (config->status_bind,
                                      config->status_port, bind_error);
  if (*bind_error == NULL)
    server->rpc_fd = jq_http_bind (config->bind, config->port, bind_error);
  if (run_as->drop && !jq_privdrop_drop (run_as, &error))
    {
      fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

/* Who runs the server and its jobs, when it was started as root. */
static void
log_run_as (JqLog *log, const JqRunAs *run_as)
{
  if (run_as->name == NULL)
    return;
  if (run_as->drop)
    jq_log_write (log, JQ_LOG_STARTINFO, "Started as root; runs as user "
                  "%s (uid %u, %s), and so do its jobs.", run_as->name,
                  (unsigned) run_as->uid, run_as->why);
  else
    jq_log_write (log, JQ_LOG_STARTINFO, "Runs as root (%s), and so do "
                  "its jobs; set [jobqueue] user to run as another user.",
                  run_as->why);
}

static void
close_ports (Server *server)
{
  if (server->status_fd >= 0)
    close (g_steal_fd (&server->status_fd));
  if (server->rpc_fd >= 0)
    close (g_steal_fd (&server->rpc_fd));
}

int
main (int argc, char **argv)
{
  /* GLib's number parsers (g_ascii_strtoull and the g_ascii_string_to_*
   * functions built on it) set up a C locale on first use.  When two
   * threads made that first use at once, one of them could see its
   * errno left set, and g_ascii_string_to_unsigned() then refused a
   * valid number: about one fresh server in a thousand answered its
   * first call "400 Content-Length is not a number" (measured, and the
   * same value parsed again at once).  The first use is made here,
   * before any thread exists. */
  g_ascii_strtoull ("0", NULL, 10);
  /* A blocked signal mask survives exec: a supervisor or a Python parent
   * that handed one on kept SIGTERM and SIGHUP pending for ever (an
   * outside test).  Cleared here, before any thread, which inherits it. */
  sigset_t none;
  sigemptyset (&none);
  pthread_sigmask (SIG_SETMASK, &none, NULL);
  g_auto (GStrv) job_environ = settle_time_zone ();
  const char *config_option = NULL;
  int exit_code = 0;
  if (!read_options (argc, argv, &config_option, &exit_code))
    return exit_code;
  g_autoptr (JqConfig) config = load_config (config_option);
  if (config == NULL)
    return 1;
  Server server = { .lock_fd = -1, .rpc_fd = -1, .status_fd = -1 };
  JqRunAs run_as = { 0 };
  g_autoptr (GError) bind_error = NULL;
  gboolean zone_known = TRUE;
  gboolean ok = bind_and_drop (config, &server, &run_as, &bind_error);
  g_autoptr (JqLog) log = ok ? open_log (config, &zone_known) : NULL;
  if (log != NULL && bind_error != NULL)
    say_critical (config, log, bind_error);
  if (log == NULL || bind_error != NULL)
    {
      close_ports (&server);
      jq_privdrop_clear (&run_as);
      return 1;
    }

  /* Descriptors: the connection limit is what is left of the limit
   * once the server and its jobs have theirs (fdbudget.h). */
  JqFdBudget fds = jq_fdbudget_take (
      config->nr_threads,
      config->status_bind != NULL ? JQ_RPC_MAX_STATUS_CONN : 0,
      JQ_RPC_FDS_PER_CONN, JQ_RPC_MAX_CONN);
  /* One server per botssys, and the journal is its alone. */
  g_autoptr (GError) error = NULL;
  int lock_fd = jq_lockfile_acquire (config->lock_path, &error);
  g_autoptr (JqJournal) journal = NULL;
  if (lock_fd < 0)
    fprintf (stderr, "bots-jobqueueserver: %s\n", error->message);
  if (lock_fd < 0 || !open_journal (config, log, &journal))
    {
      jq_lockfile_release (lock_fd);
      close_ports (&server);
      jq_privdrop_clear (&run_as);
      return 1;
    }
  /* A client that hangs up mid-answer must not kill the server. */
  signal (SIGPIPE, SIG_IGN);

  server.lock_fd = lock_fd;
  wire (&server, config, log, journal, (const char *const *) job_environ,
        &fds);
  int status = 1;
  if (start_serving (&server))
    {
      log_started (&server, zone_known, &fds);
      log_run_as (log, &run_as);
      start_timers (&server);
      g_main_loop_run (server.loop);
      stop_serving (&server);
      status = server.status;
      jq_log_write (log, JQ_LOG_STARTINFO, "Bots jobqueue stopped.");
    }
  tear_down (&server);
  close_ports (&server);
  g_clear_pointer (&journal, jq_journal_close);
  jq_lockfile_release (lock_fd);
  jq_privdrop_clear (&run_as);
  return status;
}
