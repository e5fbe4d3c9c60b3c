/* The settings the job queue reads from bots.ini, and where files live. */
#pragma once

#include <glib.h>

#include "botsenv.h"
#include "ini.h"
#include "durability.h"
#include "loglevel.h"

#define JQ_DEFAULT_PORT 28082

/* A plain record of values: a snapshot read once at start-up, shared
 * read-only, so it needs no accessors. */
typedef struct {
  char      *config_dir;       /* absolute */
  char      *bots_dir;         /* absolute: the bots package folder
                                  ("botspath"); when it is unknown, the
                                  parent of config_dir */
  char      *ini_path;         /* config_dir/bots.ini */
  char      *botssys;          /* absolute; relative values from bots_dir */
  int        bots_version;     /* 3 or 4: whose log, answers and wording we
                                  keep; 0: unknown (Bots 3's log and answers,
                                  Bots 4's wording) */
  char      *bots_release;     /* the installation's own version ("4.0.0"),
                                  as Bots knows it; NULL: unknown */
  char      *time_zone;        /* settings.py TIME_ZONE; NULL: the system's */
  char      *time_zone_refused;/* a TIME_ZONE that is no zone name (a path
                                * out of the zone folder): not used */
  char      *log_path;         /* Bots 3: botssys/logging/jobqueue.log,
                                  Bots 4: botssys/logging/jobqueue/jobqueue.log */
  guint      log_backups;      /* rotated log files kept */
  char      *state_dir;        /* botssys/jobqueue: journal and lock */
  char      *job_dir;          /* absolute: every job's working folder:
                                * bots_dir, where Bots resolves its
                                * relative paths */
  char      *python_executable_path; /* [settings]; NULL when not set */
  char      *botsengine_path;  /* [settings]; NULL when not set */
  char      *user;             /* [jobqueue] user: whom a server started as
                                  root runs as; NULL: the owner of botssys
                                  (src/privdrop.h) */
  char      *bots_python;      /* the Python that runs Bots (JqBotsEnv's);
                                * NULL: unknown */

  gboolean   enabled;
  guint      port;             /* 1..65535 */
  char      *bind;             /* address to listen on; 127.0.0.1 */
  guint      nr_threads;       /* jobs run at once, >= 1 */
  guint64    max_waiting_bytes; /* waiting jobs' cost at most; 0: no cap */
  guint      max_waiting_jobs;  /* waiting jobs at most; 0: no cap */
  char     **authorized_tasks; /* extra programs; may hold "*" */
  guint      user_connection_share; /* percent of the connections one
                                     * user keeps when others wait */
  guint      user_queue_share; /* percent of max_waiting_jobs and _bytes
                                * one user other than root and the
                                * server's own may fill */
  char     **admin_users;      /* may steer every job, besides root and
                                * the server's own user; may be empty */
  char      *admin_group;      /* its members too; NULL: none */
  gboolean   kill_jobs_in_timeout;
  gboolean   log_job_output;   /* each job's stdout and stderr into the log:
                                  Bots 4 does, Bots 3 does not; [jobqueue]
                                  log_job_output says otherwise */
  gboolean   log_console;
  JqLogLevel log_console_level;
  JqLogLevel log_file_level;
  guint      maxruntime_minutes;  /* 0 = no limit */
  guint      stop_grace_seconds;  /* on SIGTERM, wait this long for jobs */
  guint      kill_grace_seconds;  /* SIGTERM to SIGKILL of a timed-out job */
  JqDurability durability;
  guint      history_days;        /* finished jobs kept; 0 = forever */
  char      *journal_path;        /* state_dir/queue.db */
  char      *lock_path;           /* state_dir/server.lock */
  /* [jobqueue] journal = postgresql: the queue lives in a PostgreSQL
   * database shared by every server of the cluster (doc/durability.md, "Several hosts on one PostgreSQL"). */
  gboolean   journal_postgresql;
  char      *journal_dsn;         /* libpq connection string; may hold a
                                   * password: never log it */
  guint      journal_lease_seconds; /* leadership lease, >= 1 */
  char      *journal_member;      /* this server's name in the cluster */
  gboolean   send_reports;        /* [settings] sendreportiferror */
  char     **report_command;      /* argv; NULL: no reports */
  char      *report_to;           /* "To:" of the report; may be NULL */
  gboolean   report_failed_jobs;  /* also report every failed job */
  guint      report_failures_in_a_row; /* 0: off */
  char      *status_bind;         /* status page and metrics only; NULL: off */
  guint      status_port;         /* 1..65535 when status_bind is set */
} JqConfig;

/* Reads @config_dir/bots.ini.  Returns NULL and sets @error when it is
 * missing (the message says where it looked), unreadable, malformed, or
 * holds a value we cannot use. */
JqConfig *jq_config_load (const char *config_dir, GError **error);

/* What every program does: learns the Bots installation
 * (jq_botsenv_discover), finds the config folder for @option (the -c
 * value, nullable) as Bots does, from the working directory, and loads
 * it. */
JqConfig *jq_config_load_from_option (const char *option, GError **error);

/* jq_config_load for a known installation @env (nullable: unknown), which
 * gives the bots package folder and the version. */
JqConfig *jq_config_load_in (const JqBotsEnv *env, const char *config_dir,
                             GError **error);

/* The keys that decide what may run (PROTOCOL section 6), re-read while
 * the server runs (SIGHUP, or bots.ini changed before a refusal). */
typedef struct {
  char **authorized_tasks;       /* never NULL; may hold "*" */
  char  *python_executable_path; /* nullable */
  char  *botsengine_path;        /* nullable */
} JqAuthKeys;

/* Reads them from the bots.ini at @ini_path.  FALSE with @error when it
 * cannot be read or parsed. */
gboolean jq_config_read_auth_keys (const char *ini_path, JqAuthKeys *keys,
                                   GError **error);
void jq_auth_keys_clear (JqAuthKeys *keys);

/* The same from an already parsed file, for tests; the installation is
 * unknown. */
JqConfig *jq_config_from_ini (const JqIni *ini, const char *config_dir,
                              GError **error);

/* The same for a known installation @env (nullable). */
JqConfig *jq_config_from_ini_in (const JqIni *ini, const char *config_dir,
                                 const JqBotsEnv *env, GError **error);

void jq_config_free (JqConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqConfig, jq_config_free)
