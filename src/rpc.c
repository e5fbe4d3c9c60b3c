/* XML-RPC over HTTP for the Bots job queue.
 *
 * Threading model: Abyss serves each connection on a thread of its own,
 * started from ServerRun() on a thread of ours (run again if it ends by a
 * failed accept); a gate thread of ours refuses connections over the
 * limit (see "connections" below).  Everything in this file
 * runs on those threads -- reading the body, parsing it,
 * building the reply -- except the small functions handed to
 * jq_door_call(), which run on the main loop thread and are the only code
 * here that touches the scheduler.  We build the Abyss server from its
 * parts (ServerCreateSwitch, ServerAddHandler3, ServerRun) rather than with
 * xmlrpc_server_abyss_create(), because that one installs signal handlers
 * and GLib owns SIGCHLD.
 *
 * Replies are corked into one TCP segment: Abyss writes every header line
 * with a send() of its own, which wakes a keep-alive client up to eight
 * times per answer (measured: 20% of the throughput at 16 connections).
 *
 * Request bodies are parsed by message.c, never by xmlrpc-c's parser (see
 * there why); xmlrpc-c's values, serializer and HTTP server are still
 * used.  A body is at most 1 MiB, and the bodies being parsed and
 * answered at once at most BODY_BUDGET bytes in all: a request that does
 * not fit waits for room, and gets HTTP 503 after BODY_WAIT_SECONDS.
 *
 * A GET of the status paths (status.h) is answered before any of that;
 * with [jobqueue] status_listen a second Abyss server serves those GETs,
 * and nothing else, on a port of its own. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "rpc.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xmlrpc-c/abyss.h>
#include <xmlrpc-c/base.h>

#include "error.h"
#include "journal.h"
#include "status.h"
#include "message.h"
#include "task.h"

/* Bytes of request bodies being parsed and answered at once: 600 clients
 * sending 64 KiB each peaked at 283 MB before.  Parsing costs several
 * times the body, so this bounds that part to some tens of MB whatever the
 * clients do.  It is taken once the body has arrived, so a client that
 * sends its body slowly holds no one else up; parsing takes milliseconds. */
#define BODY_BUDGET (4 * 1024 * 1024)
/* How long a request waits for room in BODY_BUDGET before its 503. */
#define BODY_WAIT_SECONDS 10
/* Python's SimpleXMLRPCServer answers every failure with fault code 1. */
#define FAULT_CODE 1

struct _JqRpc {
  JqScheduler *scheduler;
  JqDoor      *door;
  JqLog       *log;
  gboolean     bots3_answers;  /* addjob answers only 0, 1, 4; set before listening */
  GMutex       body_lock;      /* guards body_bytes */
  GCond        body_cond;      /* body_bytes went down */
  gsize        body_bytes;     /* of requests being read or parsed */
  GMutex       ended_lock;     /* guards the three below */
  GCond        ended_cond;     /* a job ended: wait() callers look again */
  guint64      ended_count;
  gboolean     stopping;
  TServer      server;
  TChanSwitch *chan_switch;
  gboolean     server_created;
  GThread     *thread;         /* runs Abyss's accept loop */
  GThread     *gate;           /* refuses what Abyss cannot take */
  int          listen_fd;
  int          stop_fd;        /* eventfd: the gate is to end */
  guint        max_conn;
  gint         ending;         /* atomic: jq_rpc_stop() was called */
  gint         in_flight;      /* atomic: requests being answered */
  JqStatus    *status;         /* nullable: GET pages and metrics */
  TServer      status_server;  /* the status-only port, when configured */
  TChanSwitch *status_switch;
  gboolean     status_created;
  GThread     *status_thread;
};

/* ---------------------------------------------------------- faults */

static void
fault (xmlrpc_env *env, const char *python_class, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* Sets a fault worded as Python's server words it: "<class 'X'>:text". */
static void
fault (xmlrpc_env *env, const char *python_class, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *message = g_strdup_printf ("<class '%s'>:%s",
                                              python_class, text);
  xmlrpc_env_set_fault (env, FAULT_CODE, message);
}

static GBytes *
serialize (xmlrpc_value *result, const xmlrpc_env *fault_env)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  xmlrpc_mem_block *out = xmlrpc_mem_block_new (&env, 0);
  GBytes *bytes = NULL;

  if (!env.fault_occurred)
    {
      if (fault_env != NULL)
        xmlrpc_serialize_fault (&env, out, fault_env);
      else
        xmlrpc_serialize_response2 (&env, out, result, xmlrpc_dialect_i8);
    }
  if (!env.fault_occurred)
    bytes = g_bytes_new (xmlrpc_mem_block_contents (out),
                         xmlrpc_mem_block_size (out));
  else
    {
      /* Only allocation failures get here; answer with a fixed fault. */
      static const char fixed[] =
        "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>"
        "<member><name>faultCode</name><value><int>1</int></value></member>"
        "<member><name>faultString</name><value><string>internal error "
        "building the response</string></value></member></struct></value>"
        "</fault></methodResponse>";
      bytes = g_bytes_new_static (fixed, sizeof fixed - 1);
    }
  if (out != NULL)
    xmlrpc_mem_block_free (out);
  xmlrpc_env_clean (&env);
  return bytes;
}

/* ---------------------------------------------------------- arguments */

static gboolean
read_int (xmlrpc_env *env, xmlrpc_value *v, const char *method,
          const char *name, int *out)
{
  xmlrpc_type type = xmlrpc_value_type (v);
  if (type == XMLRPC_TYPE_INT)
    {
      xmlrpc_read_int (env, v, out);
      return !env->fault_occurred;
    }
  if (type == XMLRPC_TYPE_I8)
    {
      xmlrpc_int64 wide;
      xmlrpc_read_i8 (env, v, &wide);
      if (!env->fault_occurred && wide >= G_MININT && wide <= G_MAXINT)
        {
          *out = (int) wide;
          return TRUE;
        }
    }
  fault (env, "TypeError", "%s(): %s must be an integer", method, name);
  return FALSE;
}

/* Reads the task argument: an array of strings without NUL bytes, within
 * the task limits.  Returns a new NULL-terminated argv, or NULL with a
 * fault set. */
static char **
read_task (xmlrpc_env *env, xmlrpc_value *v)
{
  if (xmlrpc_value_type (v) != XMLRPC_TYPE_ARRAY)
    {
      fault (env, "TypeError", "addjob(): task must be a list of strings");
      return NULL;
    }
  int n = xmlrpc_array_size (env, v);
  if (env->fault_occurred)
    return NULL;
  if (n > JQ_TASK_MAX_ARGS)
    {
      fault (env, "ValueError", "addjob(): task has %d arguments; at most "
             "%d are accepted", n, JQ_TASK_MAX_ARGS);
      return NULL;
    }
  g_auto (GStrv) argv = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      xmlrpc_value *item = NULL;
      xmlrpc_array_read_item (env, v, i, &item);
      if (env->fault_occurred)
        return NULL;
      if (xmlrpc_value_type (item) != XMLRPC_TYPE_STRING)
        {
          xmlrpc_DECREF (item);
          fault (env, "TypeError",
                 "addjob(): task item %d is not a string", i);
          return NULL;
        }
      size_t len = 0;
      const char *s = NULL;
      xmlrpc_read_string_lp (env, item, &len, &s);
      xmlrpc_DECREF (item);
      if (env->fault_occurred)
        return NULL;
      if (strlen (s) != len)
        {
          free ((void *) s);
          fault (env, "ValueError",
                 "addjob(): task item %d contains a NUL byte", i);
          return NULL;
        }
      argv[i] = g_strdup (s);
      free ((void *) s);
    }
  g_autoptr (GError) error = NULL;
  if (!jq_task_check_limits ((const char *const *) argv, &error))
    {
      fault (env, "ValueError", "addjob(): %s", error->message);
      return NULL;
    }
  return g_steal_pointer (&argv);
}

/* ---------------------------------------------------------- methods */

typedef struct {
  JqRpc       *rpc;
  char       **argv;
  int          priority;
  JqAddjobCode code;
  guint64      number;         /* submit's answer */
} AddjobCall;

static void
addjob_on_loop (gpointer data)
{
  AddjobCall *c = data;
  c->code = jq_scheduler_submit (c->rpc->scheduler,
                                 (const char *const *) c->argv, c->priority,
                                 &c->number);
  if (c->rpc->status != NULL)
    jq_status_note_answer (c->rpc->status, c->code);
}

/* A waiting job as it was when the loop looked: the priority can change
 * later on the loop thread, the argv cannot. */
typedef struct {
  int     priority;
  guint64 number;
  JqJob  *job;
} JobSnapshot;

typedef struct {
  JqRpc  *rpc;
  GArray *jobs;       /* JobSnapshot */
  gboolean take;      /* getjob: remove the first */
} ListCall;

static void
snapshot_clear (gpointer p)
{
  jq_job_unref (((JobSnapshot *) p)->job);
}

static void
snapshot_add (GArray *jobs, JqJob *job)
{
  JobSnapshot snap = { jq_job_get_priority (job), jq_job_get_number (job),
                       jq_job_ref (job) };
  g_array_append_val (jobs, snap);
}

static void
list_on_loop (gpointer data)
{
  ListCall *c = data;
  if (c->take)
    {
      g_autoptr (JqJob) job = jq_scheduler_getjob (c->rpc->scheduler);
      if (job != NULL)
        snapshot_add (c->jobs, job);
      return;
    }
  g_autoptr (GPtrArray) list = jq_scheduler_listjobs (c->rpc->scheduler);
  g_array_set_size (c->jobs, 0);
  for (guint i = 0; i < list->len; i++)
    snapshot_add (c->jobs, list->pdata[i]);
}

static void
clear_on_loop (gpointer data)
{
  JqRpc *rpc = data;
  jq_scheduler_clear (rpc->scheduler);
}

static gboolean
through_door (xmlrpc_env *env, JqRpc *rpc, JqDoorFunc func, gpointer data)
{
  g_autoptr (GError) error = NULL;
  if (jq_door_call (rpc->door, func, data, &error))
    return TRUE;
  fault (env, "Exception", "%s", error->message);
  return FALSE;
}

static void
struct_set (xmlrpc_env *env, xmlrpc_value *st, const char *key,
            xmlrpc_value *v)
{
  if (v == NULL)
    return;
  if (!env->fault_occurred)
    xmlrpc_struct_set_value (env, st, key, v);
  xmlrpc_DECREF (v);
}

static xmlrpc_value *
int_value (xmlrpc_env *env, gint64 n)
{
  return (n >= G_MININT32 && n <= G_MAXINT32)
    ? xmlrpc_int_new (env, (int) n) : xmlrpc_i8_new (env, n);
}

static xmlrpc_value *
task_value (xmlrpc_env *env, const char *const *argv)
{
  xmlrpc_value *task = xmlrpc_array_new (env);
  for (gsize i = 0; argv[i] != NULL && !env->fault_occurred; i++)
    {
      xmlrpc_value *s = xmlrpc_string_new (env, argv[i]);
      if (!env->fault_occurred)
        {
          xmlrpc_array_append_item (env, task, s);
          xmlrpc_DECREF (s);
        }
    }
  return task;
}

static xmlrpc_value *
job_value (xmlrpc_env *env, const JobSnapshot *snap)
{
  xmlrpc_value *task = task_value (env, jq_job_get_argv (snap->job));
  xmlrpc_value *number = int_value (env, (gint64) snap->number);
  xmlrpc_value *priority = xmlrpc_int_new (env, snap->priority);
  xmlrpc_value *entry = xmlrpc_array_new (env);
  xmlrpc_array_append_item (env, entry, priority);
  xmlrpc_array_append_item (env, entry, number);
  xmlrpc_array_append_item (env, entry, task);
  xmlrpc_DECREF (priority);
  xmlrpc_DECREF (number);
  xmlrpc_DECREF (task);
  return entry;
}

/* addjob's work; submit() shares it.  FALSE with a fault set. */
static gboolean
add_task (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params,
          AddjobCall *out)
{
  xmlrpc_value *task_v = NULL, *priority_v = NULL;
  AddjobCall call = { rpc, NULL, 0, 0, 0 };

  xmlrpc_array_read_item (env, params, 0, &task_v);
  xmlrpc_array_read_item (env, params, 1, &priority_v);
  if (!env->fault_occurred)
    call.argv = read_task (env, task_v);
  if (!env->fault_occurred)
    read_int (env, priority_v, "addjob", "priority", &call.priority);
  if (task_v)
    xmlrpc_DECREF (task_v);
  if (priority_v)
    xmlrpc_DECREF (priority_v);
  gboolean ok = !env->fault_occurred
                && through_door (env, rpc, addjob_on_loop, &call);
  g_strfreev (call.argv);
  call.argv = NULL;
  *out = call;
  return ok;
}

/* Bots 3's monitor and job2queue.py index a table of 0, 1 and 4 with the
 * answer: a 2 or 3 crashes them (HTTP 500, KeyError).  For a Bots 3
 * installation the refusal stays a refusal, but is told in the log only;
 * submit() gives the true answer (what our own bots-job2queue calls). */
static xmlrpc_value *
method_addjob (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  AddjobCall call;
  if (!add_task (rpc, env, params, &call))
    return NULL;
  if (rpc->bots3_answers && (call.code == JQ_ADDJOB_EMPTY
                             || call.code == JQ_ADDJOB_UNAUTHORIZED))
    {
      jq_log_write (rpc->log, JQ_LOG_ERROR, "Job not added; answered 0 "
                    "instead of %d, which Bots 3's callers cannot "
                    "show (see the line above)", (int) call.code);
      return xmlrpc_int_new (env, JQ_ADDJOB_OK);
    }
  return xmlrpc_int_new (env, call.code);
}

/* addjob with the job's number in the answer: no look-up afterwards,
 * which a job that ends at once would escape (doc/admin-api.md). */
static xmlrpc_value *
method_submit (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  AddjobCall call;
  if (!add_task (rpc, env, params, &call))
    return NULL;
  xmlrpc_value *r = xmlrpc_struct_new (env);
  struct_set (env, r, "code", xmlrpc_int_new (env, call.code));
  struct_set (env, r, "jobnumber", int_value (env, (gint64) call.number));
  return r;
}

/* listjobs' answer, written straight from the snapshot (message.h). */
static void
write_list (JqMessageWriter *w, gpointer data)
{
  GArray *jobs = data;
  jq_message_put (w, "<value><array><data>");
  for (guint i = 0; i < jobs->len; i++)
    {
      const JobSnapshot *snap = &g_array_index (jobs, JobSnapshot, i);
      jq_message_put (w, "<value><array><data>");
      jq_message_put_int (w, snap->priority);
      jq_message_put_int (w, (gint64) snap->number);
      jq_message_put_strings (w, jq_job_get_argv (snap->job));
      jq_message_put (w, "</data></array></value>");
    }
  jq_message_put (w, "</data></array></value>");
}

static xmlrpc_value *
list_or_take (JqRpc *rpc, xmlrpc_env *env, gboolean take, GBytes **answer)
{
  g_autoptr (GArray) jobs = g_array_new (FALSE, FALSE, sizeof (JobSnapshot));
  ListCall call = { rpc, jobs, take };

  g_array_set_clear_func (jobs, snapshot_clear);
  if (!through_door (env, rpc, list_on_loop, &call))
    return NULL;
  if (jobs->len == 0)
    return xmlrpc_int_new (env, 0);
  if (take)
    return job_value (env, &g_array_index (jobs, JobSnapshot, 0));
  *answer = jq_message_write_response (write_list, jobs);
  return NULL;
}

static xmlrpc_value *
answer_listjobs (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params,
                 GBytes **answer)
{
  return list_or_take (rpc, env, FALSE, answer);
}

static xmlrpc_value *
method_getjob (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  return list_or_take (rpc, env, TRUE, NULL);
}

static xmlrpc_value *
method_clearjobq (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  if (!through_door (env, rpc, clear_on_loop, rpc))
    return NULL;
  return xmlrpc_int_new (env, 0);
}

static xmlrpc_value *
method_isup (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  return xmlrpc_int_new (env, 0);
}

/* ------------------------------------------------ administration methods
 * New names only: Bots' own methods above keep their exact behaviour. */

typedef struct {
  JqRpc     *rpc;
  GPtrArray *running;        /* JqJob refs */
  GArray    *pids;           /* GPid */
  GArray    *started_us;     /* gint64 */
  guint      waiting;
  gboolean   paused;
  JqTotals   totals;
  gboolean   journal;        /* the queue is kept on disk */
} StatusCall;

static void
status_on_loop (gpointer data)
{
  StatusCall *c = data;
  JqScheduler *s = c->rpc->scheduler;
  c->running = jq_scheduler_list_running (s, c->pids, c->started_us);
  c->waiting = jq_queue_count (jq_scheduler_get_queue (s));
  c->paused = jq_scheduler_get_paused (s);
  c->totals = jq_scheduler_get_totals (s);
  c->journal = jq_scheduler_get_journal (s) != NULL;
}

static xmlrpc_value *
method_status (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  StatusCall c = { rpc, NULL, g_array_new (FALSE, FALSE, sizeof (GPid)),
                   g_array_new (FALSE, FALSE, sizeof (gint64)), 0, FALSE,
                   { 0 }, JQ_DURABILITY_NONE };
  xmlrpc_value *result = NULL;

  if (through_door (env, rpc, status_on_loop, &c))
    {
      gint64 now = g_get_real_time ();
      xmlrpc_value *running = xmlrpc_array_new (env);
      for (guint i = 0; i < c.running->len && !env->fault_occurred; i++)
        {
          JqJob *job = c.running->pdata[i];
          gint64 started = g_array_index (c.started_us, gint64, i);
          xmlrpc_value *r = xmlrpc_struct_new (env);
          struct_set (env, r, "jobnumber", int_value (env, jq_job_get_number (job)));
          struct_set (env, r, "priority", xmlrpc_int_new (env, jq_job_get_priority (job)));
          struct_set (env, r, "task", task_value (env, jq_job_get_argv (job)));
          struct_set (env, r, "pid", xmlrpc_int_new (env, g_array_index (c.pids, GPid, i)));
          struct_set (env, r, "started", int_value (env, started / G_USEC_PER_SEC));
          struct_set (env, r, "elapsed", int_value (env, (now - started) / G_USEC_PER_SEC));
          if (!env->fault_occurred)
            xmlrpc_array_append_item (env, running, r);
          xmlrpc_DECREF (r);
        }
      xmlrpc_value *totals = xmlrpc_struct_new (env);
      struct_set (env, totals, "added", int_value (env, (gint64) c.totals.added));
      struct_set (env, totals, "started", int_value (env, (gint64) c.totals.started));
      struct_set (env, totals, "succeeded", int_value (env, (gint64) c.totals.succeeded));
      struct_set (env, totals, "failed", int_value (env, (gint64) c.totals.failed));
      struct_set (env, totals, "start_failures", int_value (env, (gint64) c.totals.start_failures));
      result = xmlrpc_struct_new (env);
      struct_set (env, result, "version", xmlrpc_string_new (env, PACKAGE_VERSION));
      struct_set (env, result, "uptime", int_value (env, (now - c.totals.since_us) / G_USEC_PER_SEC));
      struct_set (env, result, "started", int_value (env, c.totals.since_us / G_USEC_PER_SEC));
      struct_set (env, result, "paused", xmlrpc_bool_new (env, c.paused));
      struct_set (env, result, "waiting", xmlrpc_int_new (env, (int) c.waiting));
      struct_set (env, result, "running", running);
      struct_set (env, result, "totals", totals);
      struct_set (env, result, "journal", xmlrpc_bool_new (env, c.journal));
    }
  if (c.running)
    g_ptr_array_unref (c.running);
  g_array_unref (c.pids);
  g_array_unref (c.started_us);
  return result;
}

typedef struct {
  JqRpc  *rpc;
  guint   limit;
  GArray *rows;         /* JqFinished */
} HistoryCall;

static void
history_on_loop (gpointer data)
{
  HistoryCall *c = data;
  c->rows = jq_journal_history (jq_scheduler_get_journal (c->rpc->scheduler),
                                c->limit, JQ_RPC_HISTORY_MAX_BYTES);
}

/* history's answer, written straight from the journal's rows. */
static void
write_history (JqMessageWriter *w, gpointer data)
{
  GArray *rows = data;
  jq_message_put (w, "<value><array><data>");
  for (guint i = 0; i < rows->len; i++)
    {
      const JqFinished *f = &g_array_index (rows, JqFinished, i);
      jq_message_put (w, "<value><struct>");
      jq_message_put_member (w, "jobnumber");
      jq_message_put_int (w, (gint64) f->number);
      jq_message_put (w, "</member>");
      jq_message_put_member (w, "priority");
      jq_message_put_int (w, f->priority);
      jq_message_put (w, "</member>");
      jq_message_put_member (w, "task");
      jq_message_put_strings (w, f->argv);
      jq_message_put (w, "</member>");
      jq_message_put_member (w, "queued");
      jq_message_put_int (w, f->queued_us / G_USEC_PER_SEC);
      jq_message_put (w, "</member>");
      if (f->started_us != 0)
        {
          jq_message_put_member (w, "started");
          jq_message_put_int (w, f->started_us / G_USEC_PER_SEC);
          jq_message_put (w, "</member>");
        }
      jq_message_put_member (w, "ended");
      jq_message_put_int (w, f->ended_us / G_USEC_PER_SEC);
      jq_message_put (w, "</member>");
      if (f->start_error != NULL)
        {
          jq_message_put_member (w, "start_error");
          jq_message_put_string (w, f->start_error);
        }
      else
        {
          jq_message_put_member (w, "exit_code");
          jq_message_put_int (w, f->exit_code);
        }
      jq_message_put (w, "</member>");
      if (f->term_signal != 0)
        {
          jq_message_put_member (w, "signal");
          jq_message_put_int (w, f->term_signal);
          jq_message_put (w, "</member>");
        }
      jq_message_put_member (w, "maxruntime_hit");
      jq_message_put_bool (w, f->hit_maxruntime);
      jq_message_put (w, "</member></struct></value>");
    }
  jq_message_put (w, "</data></array></value>");
}

static xmlrpc_value *
answer_history (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params,
                GBytes **answer)
{
  xmlrpc_value *limit_v = NULL;
  int limit = 0;
  HistoryCall c = { rpc, 0, NULL };

  xmlrpc_array_read_item (env, params, 0, &limit_v);
  if (!env->fault_occurred
      && read_int (env, limit_v, "history", "limit", &limit)
      && (limit < 1 || limit > 100000))
    fault (env, "ValueError", "history(): limit must be 1 to 100000");
  if (limit_v)
    xmlrpc_DECREF (limit_v);
  c.limit = (guint) limit;
  if (env->fault_occurred || !through_door (env, rpc, history_on_loop, &c))
    return NULL;
  *answer = jq_message_write_response (write_history, c.rows);
  g_array_unref (c.rows);
  return NULL;
}

typedef enum { STEER_REMOVE, STEER_PRIORITY, STEER_PAUSE, STEER_RESUME } Steer;

typedef struct {
  JqRpc   *rpc;
  Steer    what;
  guint64  number;
  int      priority;
  gboolean ok;
} SteerCall;

static void
steer_on_loop (gpointer data)
{
  SteerCall *c = data;
  JqScheduler *s = c->rpc->scheduler;
  switch (c->what)
    {
    case STEER_REMOVE:
      c->ok = jq_scheduler_remove (s, c->number);
      break;
    case STEER_PRIORITY:
      c->ok = jq_scheduler_set_priority (s, c->number, c->priority);
      break;
    case STEER_PAUSE:
    case STEER_RESUME:
      jq_scheduler_set_paused (s, c->what == STEER_PAUSE);
      c->ok = TRUE;
      break;
    }
}

static gboolean
read_jobnumber (xmlrpc_env *env, xmlrpc_value *params, const char *method,
                guint64 *out)
{
  xmlrpc_value *v = NULL;
  int n = 0;
  xmlrpc_array_read_item (env, params, 0, &v);
  if (!env->fault_occurred && read_int (env, v, method, "jobnumber", &n)
      && n < 1)
    fault (env, "ValueError", "%s(): jobnumber must be positive", method);
  if (v)
    xmlrpc_DECREF (v);
  *out = (guint64) n;
  return !env->fault_occurred;
}

static xmlrpc_value *
steer (JqRpc *rpc, xmlrpc_env *env, SteerCall *c, const char *method)
{
  if (!through_door (env, rpc, steer_on_loop, c))
    return NULL;
  if (!c->ok)
    {
      fault (env, "ValueError", "%s(): job %" G_GUINT64_FORMAT " is not "
             "waiting", method, c->number);
      return NULL;
    }
  return xmlrpc_int_new (env, 0);
}

static xmlrpc_value *
method_removejob (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  SteerCall c = { rpc, STEER_REMOVE, 0, 0, FALSE };
  if (!read_jobnumber (env, params, "removejob", &c.number))
    return NULL;
  return steer (rpc, env, &c, "removejob");
}

static xmlrpc_value *
method_setpriority (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  SteerCall c = { rpc, STEER_PRIORITY, 0, 0, FALSE };
  xmlrpc_value *v = NULL;
  if (!read_jobnumber (env, params, "setpriority", &c.number))
    return NULL;
  xmlrpc_array_read_item (env, params, 1, &v);
  if (!env->fault_occurred)
    read_int (env, v, "setpriority", "priority", &c.priority);
  if (v)
    xmlrpc_DECREF (v);
  if (env->fault_occurred)
    return NULL;
  return steer (rpc, env, &c, "setpriority");
}

static xmlrpc_value *
method_pause (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  SteerCall c = { rpc, STEER_PAUSE, 0, 0, FALSE };
  return steer (rpc, env, &c, "pause");
}

static xmlrpc_value *
method_resume (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  SteerCall c = { rpc, STEER_RESUME, 0, 0, FALSE };
  return steer (rpc, env, &c, "resume");
}

typedef struct {
  JqRpc      *rpc;
  guint64     number;
  JqJobState  state;
  JqFinished *finished;       /* owned; set when state is FINISHED */
} StateCall;

static void
state_on_loop (gpointer data)
{
  StateCall *c = data;
  g_clear_pointer (&c->finished, jq_finished_free);
  c->state = jq_scheduler_job_state (c->rpc->scheduler, c->number,
                                     &c->finished);
}

/* Called on the loop thread when any job ends: wakes the wait() calls. */
static void
on_job_ended (guint64 number, gpointer user_data)
{
  JqRpc *rpc = user_data;
  g_mutex_lock (&rpc->ended_lock);
  rpc->ended_count++;
  g_cond_broadcast (&rpc->ended_cond);
  g_mutex_unlock (&rpc->ended_lock);
}

static xmlrpc_value *
method_wait (JqRpc *rpc, xmlrpc_env *env, xmlrpc_value *params)
{
  StateCall c = { rpc, 0, JQ_JOB_UNKNOWN, NULL };
  xmlrpc_value *v = NULL;
  int timeout = 0;

  if (!read_jobnumber (env, params, "wait", &c.number))
    return NULL;
  xmlrpc_array_read_item (env, params, 1, &v);
  if (!env->fault_occurred && read_int (env, v, "wait", "timeout", &timeout)
      && (timeout < 0 || timeout > 86400))
    fault (env, "ValueError", "wait(): timeout must be 0 to 86400 seconds");
  if (v)
    xmlrpc_DECREF (v);
  if (env->fault_occurred)
    return NULL;

  gint64 deadline = g_get_monotonic_time () + (gint64) timeout * G_USEC_PER_SEC;
  gboolean timed_out = FALSE;
  for (;;)
    {
      g_mutex_lock (&rpc->ended_lock);
      guint64 seen = rpc->ended_count;
      g_mutex_unlock (&rpc->ended_lock);
      if (!through_door (env, rpc, state_on_loop, &c))
        {
          jq_finished_free (c.finished);
          return NULL;
        }
      if (c.state != JQ_JOB_WAITING && c.state != JQ_JOB_RUNNING)
        break;
      g_mutex_lock (&rpc->ended_lock);
      while (rpc->ended_count == seen && !rpc->stopping && !timed_out)
        timed_out = !g_cond_wait_until (&rpc->ended_cond, &rpc->ended_lock,
                                        deadline);
      gboolean stop = rpc->stopping;
      g_mutex_unlock (&rpc->ended_lock);
      if (timed_out || stop)
        break;
    }

  static const char *const names[] = {
    [JQ_JOB_UNKNOWN] = "unknown", [JQ_JOB_WAITING] = "waiting",
    [JQ_JOB_RUNNING] = "running", [JQ_JOB_FINISHED] = "finished",
    [JQ_JOB_GONE] = "removed",
  };
  g_autoptr (JqFinished) f = c.finished;
  gboolean start_failed = f != NULL && f->start_error != NULL;
  xmlrpc_value *r = xmlrpc_struct_new (env);
  struct_set (env, r, "jobnumber", int_value (env, (gint64) c.number));
  struct_set (env, r, "state", xmlrpc_string_new (env,
      start_failed ? "failed-to-start" : names[c.state]));
  if (f != NULL && !start_failed)
    {
      struct_set (env, r, "exit_code", xmlrpc_int_new (env, f->exit_code));
      struct_set (env, r, "signal", xmlrpc_int_new (env, f->term_signal));
      struct_set (env, r, "maxruntime_hit",
                  xmlrpc_bool_new (env, f->hit_maxruntime));
      struct_set (env, r, "elapsed", xmlrpc_double_new (env,
          (double) (f->ended_us - f->started_us) / G_USEC_PER_SEC));
    }
  return r;
}

typedef xmlrpc_value *(*MethodFunc) (JqRpc *rpc, xmlrpc_env *env,
                                     xmlrpc_value *params);
/* A method whose answer can be large writes it itself into *@answer
 * (message.h) and returns NULL; a small answer may still be a value. */
typedef xmlrpc_value *(*AnswerFunc) (JqRpc *rpc, xmlrpc_env *env,
                                     xmlrpc_value *params, GBytes **answer);

static const struct {
  const char *name;
  const char *signature;     /* for the wrong-count message */
  int         n_params;
  MethodFunc  func;
  AnswerFunc  answer;        /* instead of func */
} methods[] = {
  { "addjob", "task, priority", 2, method_addjob, NULL },
  { "listjobs", "", 0, NULL, answer_listjobs },
  { "getjob", "", 0, method_getjob, NULL },
  { "clearjobq", "", 0, method_clearjobq, NULL },
  { "isup", "", 0, method_isup, NULL },
  { "status", "", 0, method_status, NULL },
  { "history", "limit", 1, NULL, answer_history },
  { "removejob", "jobnumber", 1, method_removejob, NULL },
  { "setpriority", "jobnumber, priority", 2, method_setpriority, NULL },
  { "pause", "", 0, method_pause, NULL },
  { "resume", "", 0, method_resume, NULL },
  { "wait", "jobnumber, timeout", 2, method_wait, NULL },
  { "submit", "task, priority", 2, method_submit, NULL },
};

/* The method table's own copy of @name, or NULL: a bounded label set for
 * the metrics whatever names clients send. */
static const char *
known_method (const char *name)
{
  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS (methods); i++)
    if (strcmp (methods[i].name, name) == 0)
      return methods[i].name;
  return NULL;
}

static xmlrpc_value *
dispatch (JqRpc *rpc, xmlrpc_env *env, const char *name,
          xmlrpc_value *params, GBytes **answer)
{
  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      if (strcmp (methods[i].name, name) != 0)
        continue;
      int n = xmlrpc_array_size (env, params);
      if (env->fault_occurred)
        return NULL;
      if (n != methods[i].n_params)
        {
          fault (env, "TypeError", "%s(%s) takes %d argument%s, %d given",
                 name, methods[i].signature, methods[i].n_params,
                 methods[i].n_params == 1 ? "" : "s", n);
          return NULL;
        }
      if (methods[i].answer != NULL)
        return methods[i].answer (rpc, env, params, answer);
      return methods[i].func (rpc, env, params);
    }
  g_autofree char *shown = g_utf8_make_valid (name, MIN (strlen (name), 80));
  fault (env, "Exception", "method \"%s\" is not supported", shown);
  return NULL;
}

GBytes *
jq_rpc_process (JqRpc *rpc, const char *body, gsize len)
{
  g_autoptr (GError) error = NULL;
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  g_autofree char *name = NULL;
  xmlrpc_value *params = NULL, *result = NULL;
  GBytes *answer = NULL;      /* written by the method itself */

  if (len > JQ_RPC_MAX_BODY)
    g_set_error (&error, JQ_ERROR, JQ_ERROR_PARSE, "request body of %"
                 G_GSIZE_FORMAT " bytes is over the limit of %d", len,
                 JQ_RPC_MAX_BODY);
  if (error == NULL && jq_message_parse_call (body, len, &name, &params,
                                              &error))
    result = dispatch (rpc, &env, name, params, &answer);
  else
    {
      jq_log_write (rpc->log, JQ_LOG_WARNING, "Refused request: %s",
                    error->message);
      if (rpc->status != NULL)
        jq_metrics_count_refused (jq_status_get_metrics (rpc->status),
                                  JQ_REFUSED_SCREENED);
      fault (&env, "ValueError", "not a valid XML-RPC call: %s",
             error->message);
    }

  if (rpc->status != NULL)
    jq_metrics_count_call (jq_status_get_metrics (rpc->status),
                           known_method (name), env.fault_occurred);
  GBytes *response = answer != NULL && !env.fault_occurred
    ? g_steal_pointer (&answer)
    : serialize (result, env.fault_occurred ? &env : NULL);
  if (answer != NULL)
    g_bytes_unref (answer);
  if (result != NULL)
    xmlrpc_DECREF (result);
  if (params != NULL)
    xmlrpc_DECREF (params);
  xmlrpc_env_clean (&env);
  return response;
}

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

static void count_refusal (guint16 status);

static void
http_error (TSession *session, guint16 status, const char *explanation)
{
  count_refusal (status);
  ResponseStatus (session, status);
  ResponseError2 (session, explanation);
}

/* Reads exactly @len body bytes.  FALSE when the client went away or
 * stalled past the server's time-out. */
static gboolean
read_body (TSession *session, char *buf, gsize len)
{
  gsize have = 0;
  while (have < len)
    {
      const char *data = NULL;
      size_t n = 0;
      SessionGetReadData (session, len - have, &data, &n);
      if (n > 0)
        {
          memcpy (buf + have, data, n);
          have += n;
        }
      else if (!SessionRefillBuffer (session))
        return FALSE;
    }
  return TRUE;
}

/* Takes @len bytes of BODY_BUDGET, waiting up to BODY_WAIT_SECONDS for
 * room.  FALSE when there was none. */
static gboolean
body_reserve (JqRpc *rpc, gsize len)
{
  gint64 deadline = g_get_monotonic_time ()
                    + BODY_WAIT_SECONDS * G_USEC_PER_SEC;
  gboolean ok = TRUE;
  g_mutex_lock (&rpc->body_lock);
  while (ok && rpc->body_bytes + len > BODY_BUDGET)
    ok = g_cond_wait_until (&rpc->body_cond, &rpc->body_lock, deadline);
  if (ok)
    rpc->body_bytes += len;
  g_mutex_unlock (&rpc->body_lock);
  return ok;
}

static void
body_release (JqRpc *rpc, gsize len)
{
  g_mutex_lock (&rpc->body_lock);
  rpc->body_bytes -= len;
  g_cond_broadcast (&rpc->body_cond);
  g_mutex_unlock (&rpc->body_lock);
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

  /* Untouched pages cost nothing: a body takes memory as it arrives. */
  g_autofree char *body = g_malloc (len + 1);
  if (!read_body (session, body, len))
    return;                      /* nobody left to answer */
  body[len] = '\0';
  close_if_pipelined (session, info);

  if (!body_reserve (rpc, len))
    {
      ResponseAddField (session, "Retry-After", "1");
      http_error (session, 503, "The server is busy; try again.");
      return;
    }
  g_autoptr (GBytes) response = jq_rpc_process (rpc, body, len);
  g_clear_pointer (&body, g_free);
  body_release (rpc, len);
  gsize size = 0;
  const char *data = g_bytes_get_data (response, &size);
  /* Only keep-alive clients wait between segments; a one-shot (HTTP/1.0)
   * connection is not worth the look-up. */
  int fd = info->keepalive ? connection_socket (session) : -1;
  set_cork (fd, TRUE);
  ResponseStatus (session, 200);
  ResponseContentType (session, "text/xml");
  ResponseContentLength (session, size);
  ResponseWriteStart (session);
  ResponseWriteBody (session, data, (xmlrpc_uint32_t) size);
  ResponseWriteEnd (session);
  set_cork (fd, FALSE);
}

/* ---------------------------------------------------------- status
 * GET of the status page, its JSON and the metrics (status.c builds
 * them); on the XML-RPC port and, when configured, on a port of their
 * own that serves nothing else. */

/* The rpc object of the request this Abyss thread serves. */
static __thread JqRpc *serving;

static void
count_refusal (guint16 status)
{
  if (serving == NULL || serving->status == NULL)
    return;
  JqRefused why = status == 405 ? JQ_REFUSED_METHOD
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
  int fd = info->keepalive ? connection_socket (session) : -1;
  set_cork (fd, TRUE);
  ResponseStatus (session, 200);
  ResponseContentType (session, type);
  ResponseContentLength (session, size);
  ResponseAddField (session, "Cache-Control", "no-store");
  ResponseAddField (session, "X-Content-Type-Options", "nosniff");
  if (what == JQ_STATUS_PAGE)
    /* Nothing but the page's own inline script and style, and its JSON. */
    ResponseAddField (session, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; connect-src 'self'; "
                      "img-src 'self'; base-uri 'none'; form-action 'none'; "
                      "frame-ancestors 'none'");
  ResponseWriteStart (session);
  ResponseWriteBody (session, data, (xmlrpc_uint32_t) size);
  ResponseWriteEnd (session);
  set_cork (fd, FALSE);
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
  if (info->method == m_get && rpc->status != NULL
      && serve_status (rpc, session, info))
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
  if (info->method != m_get)
    {
      /* Read a small body first, so that the client gets the answer
       * rather than a reset. */
      const char *length = RequestHeaderValue (session, "content-length");
      guint64 len = 0;
      if (length != NULL
          && g_ascii_string_to_unsigned (length, 10, 1, JQ_RPC_MAX_BODY, &len,
                                         NULL))
        {
          g_autofree char *body = g_malloc (len);
          if (!read_body (session, body, len))
            return;
        }
      ResponseAddField (session, "Allow", "GET");
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
}

void
jq_rpc_set_bots3_answers (JqRpc *rpc, gboolean bots3)
{
  rpc->bots3_answers = bots3;
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
  g_mutex_init (&rpc->ended_lock);
  g_cond_init (&rpc->ended_cond);
  rpc->listen_fd = -1;
  rpc->stop_fd = -1;
  rpc->max_conn = JQ_RPC_MAX_CONN;
  jq_scheduler_set_ended_hook (scheduler, on_job_ended, rpc);
  return rpc;
}

static int
bind_socket (const char *address, guint port, GError **error)
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
  if (fd < 0 || bind (fd, found->ai_addr, found->ai_addrlen) != 0
      || listen (fd, 128) != 0)
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
 * lived on with the port listening and clients hanging.  Three things
 * keep that from happening again:
 *
 * - the server gives us a connection limit that its descriptor budget
 *   can pay for (jq_rpc_set_max_connections), so our own connections
 *   cannot exhaust the descriptors;
 * - run_server() runs ServerRun() again, after a pause, whenever it
 *   returns without being told to stop (a failed accept for any other
 *   reason), and logs it once per episode;
 * - a gate thread refuses with HTTP 503 what Abyss cannot take: at its
 *   limit Abyss stops accepting (it looks again every 2 s), and new
 *   clients would wait in the listen queue for as long as the idle
 *   connections last.  When a connection waits in the queue, the gate
 *   counts the connections the process holds (Abyss does not say; the
 *   connected sockets on our port in /proc/self/fd are exact), and
 *   accepts and refuses the newcomer only when all are taken.  Below the
 *   limit it leaves the queue to Abyss. */

/* After ServerRun() returned by failure, before it runs again. */
#define ACCEPT_RETRY_MS 100
/* How long a connection may wait in the listen queue before the gate
 * looks at it: Abyss takes one within microseconds when it can. */
#define GATE_GRACE_MS 1
/* Between two looks while a connection waits and Abyss has room. */
#define GATE_SAMPLE_MS 10
/* At most this long for answers being written when stopping. */
#define STOP_WAIT_MS 2000

static const char busy_answer[] =
  "HTTP/1.1 503 Service Unavailable\r\n"
  "Content-Type: text/plain\r\nContent-Length: 51\r\n"
  "Connection: close\r\nRetry-After: 1\r\n\r\n"
  "Too many connections to the job queue; try again.\n";

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

/* TRUE when the listen queue holds a connection now. */
static gboolean
queue_pending (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Refuses one waiting connection with a 503, if one is still there. */
static void
refuse_one (JqRpc *rpc)
{
  int fd = accept4 (rpc->listen_fd, NULL, NULL,
                    SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
          || errno == ENOMEM)
        g_usleep (ACCEPT_RETRY_MS * 1000);   /* not even for a refusal */
      return;
    }
  (void) !send (fd, busy_answer, sizeof busy_answer - 1, MSG_NOSIGNAL);
  /* Unread request bytes would turn the close into a reset that can
   * overtake the answer: read what has come, then close. */
  char sink[4096];
  for (int i = 0; i < 16 && recv (fd, sink, sizeof sink, 0) > 0; i++)
    ;
  shutdown (fd, SHUT_WR);
  close (fd);
}

/* The connections this process holds on the listening port: its
 * connected sockets with that local port.  G_MAXUINT when they cannot be
 * counted (no descriptor left even for /proc/self/fd). */
static guint
count_connections (JqRpc *rpc)
{
  struct sockaddr_storage own;
  socklen_t own_len = sizeof own;
  if (getsockname (rpc->listen_fd, (struct sockaddr *) &own, &own_len) != 0)
    return G_MAXUINT;
  in_port_t port = own.ss_family == AF_INET6
                     ? ((struct sockaddr_in6 *) &own)->sin6_port
                     : ((struct sockaddr_in *) &own)->sin_port;
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  if (dir == NULL)
    return G_MAXUINT;
  guint count = 0;
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      int fd = atoi (name);
      struct sockaddr_storage a, peer;
      socklen_t len = sizeof a, peer_len = sizeof peer;
      if (fd == rpc->listen_fd
          || getsockname (fd, (struct sockaddr *) &a, &len) != 0
          || a.ss_family != own.ss_family)
        continue;
      in_port_t p = a.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *) &a)->sin6_port
                      : ((struct sockaddr_in *) &a)->sin_port;
      if (p == port
          && getpeername (fd, (struct sockaddr *) &peer, &peer_len) == 0)
        count++;
    }
  return count;
}

static gpointer
run_gate (gpointer data)
{
  JqRpc *rpc = data;
  struct pollfd fds[2] = {
    { .fd = rpc->listen_fd, .events = POLLIN },
    { .fd = rpc->stop_fd, .events = POLLIN },
  };
  gboolean refusing = FALSE;

  while (!g_atomic_int_get (&rpc->ending))
    {
      fds[0].revents = fds[1].revents = 0;
      if (poll (fds, 2, -1) < 0 && errno != EINTR)
        g_usleep (GATE_SAMPLE_MS * 1000);
      if (fds[1].revents != 0)
        break;
      if (!(fds[0].revents & POLLIN))
        continue;
      g_usleep (GATE_GRACE_MS * 1000);
      if (!queue_pending (rpc->listen_fd))
        continue;                       /* Abyss took it */
      if (count_connections (rpc) < rpc->max_conn)
        {
          if (refusing)
            jq_log_write (rpc->log, JQ_LOG_INFO,
                          "Connections are taken again.");
          refusing = FALSE;
          g_usleep (GATE_SAMPLE_MS * 1000);   /* Abyss's turn */
          continue;
        }
      if (!refusing)
        jq_log_write (rpc->log, JQ_LOG_WARNING,
                      "All %u connections are taken; new ones are refused "
                      "(HTTP 503) until one ends.", rpc->max_conn);
      refusing = TRUE;
      refuse_one (rpc);
    }
  return NULL;
}

void
jq_rpc_set_max_connections (JqRpc *rpc, guint max_conn)
{
  rpc->max_conn = MAX (max_conn, 1);
}

guint
jq_rpc_get_max_connections (JqRpc *rpc)
{
  return rpc->max_conn;
}

gboolean
jq_rpc_listen (JqRpc *rpc, const char *address, guint port, GError **error)
{
  const char *abyss_error = NULL;
  int fd = bind_socket (address, port, error);
  if (fd < 0)
    return FALSE;

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

  struct ServerReqHandler3 handler = {
    .term = NULL,
    .handleReq = handle_http_counted,
    .userdata = rpc,
    .handleReqStackSize = 256 * 1024,
  };
  abyss_bool ok = FALSE;
  ServerAddHandler3 (&rpc->server, &handler, &ok);
  /* Abyss's defaults (15 connections, 15 s keep-alive) let a handful of
   * idle clients lock everyone else out; see doc/design.md. */
  ServerSetMaxConn (&rpc->server, rpc->max_conn);
  ServerSetMaxConnBacklog (&rpc->server, 128);
  ServerSetKeepaliveTimeout (&rpc->server, 15);
  ServerSetKeepaliveMaxConn (&rpc->server, 1000000);
  ServerSetTimeout (&rpc->server, 10);
  ServerSetAdvertise (&rpc->server, FALSE);
  ServerInit2 (&rpc->server, &abyss_error);
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
  rpc->stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  rpc->thread = g_thread_new ("jq-http", run_server, rpc);
  if (rpc->stop_fd >= 0)   /* without it, no 503s: Abyss still serves */
    rpc->gate = g_thread_new ("jq-gate", run_gate, rpc);
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
                      GError **error)
{
  const char *abyss_error = NULL;
  abyss_bool ok = FALSE;
  g_return_val_if_fail (rpc->status != NULL, FALSE);
  int fd = bind_socket (address, port, error);
  if (fd < 0)
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
      struct ServerReqHandler3 handler = {
        .handleReq = handle_status_only,
        .userdata = rpc,
        .handleReqStackSize = 256 * 1024,
      };
      ServerAddHandler3 (&rpc->status_server, &handler, &ok);
      /* The XML-RPC port's time-outs; fewer connections: its clients are
       * browsers and scrapers. */
      ServerSetMaxConn (&rpc->status_server, JQ_RPC_MAX_STATUS_CONN);
      ServerSetMaxConnBacklog (&rpc->status_server, 128);
      ServerSetKeepaliveTimeout (&rpc->status_server, 15);
      ServerSetKeepaliveMaxConn (&rpc->status_server, 1000000);
      ServerSetTimeout (&rpc->status_server, 10);
      ServerSetAdvertise (&rpc->status_server, FALSE);
      ServerInit2 (&rpc->status_server, &abyss_error);
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
  g_mutex_lock (&rpc->ended_lock);
  rpc->stopping = TRUE;
  g_cond_broadcast (&rpc->ended_cond);
  g_mutex_unlock (&rpc->ended_lock);
  if (rpc->thread == NULL)
    return;
  g_atomic_int_set (&rpc->ending, TRUE);
  /* The door is closed: every request inside has its answer or gets the
   * "shutting down" fault at once.  Let them write it (bounded: a client
   * that does not read is cut off by Abyss's own time-out anyway). */
  for (int waited = 0; g_atomic_int_get (&rpc->in_flight) > 0
                       && waited < STOP_WAIT_MS; waited++)
    g_usleep (1000);
  if (rpc->gate != NULL)
    {
      eventfd_write (rpc->stop_fd, 1);
      g_thread_join (g_steal_pointer (&rpc->gate));
    }
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
  if (rpc->stop_fd >= 0)
    close (rpc->stop_fd);
  g_mutex_clear (&rpc->ended_lock);
  g_cond_clear (&rpc->ended_cond);
  g_free (rpc);
}
