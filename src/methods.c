/* The Bots job queue's XML-RPC methods: a request body in, the XML of its
 * answer out.
 *
 * Runs on the HTTP server's threads (rpc.c), many at once.  Only the
 * small functions handed to jq_door_call() run on the main loop thread,
 * and they are the only code here that touches the scheduler.  Request
 * bodies are parsed by message.c, never by xmlrpc-c's parser (see there
 * why); xmlrpc-c's values and serializer are used.  wait() blocks in
 * waiters.c until an event for its job. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "methods.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <xmlrpc-c/base.h>

#include "error.h"
#include "protocol.h"
#include "message.h"
#include "snapshot.h"
#include "task.h"
#include "waiters.h"

/* Python's SimpleXMLRPCServer answers every failure with fault code 1. */
#define FAULT_CODE 1
/* What Bots 3's callers show as "job not added" (PROTOCOL section 2). */
#define BOTS3_NOT_ADDED 1

/* "Refused request" lines told one by one per window; the rest counted. */
#define REFUSALS_BURST    10
#define REFUSALS_WINDOW_S 60

struct _JqMethods {
  JqScheduler *scheduler;
  JqDoor      *door;
  JqLog       *log;
  JqStatus    *status;         /* nullable: counts calls into its metrics */
  gboolean     bots3_answers;  /* addjob answers only 0, 1, 4; set before serving */
  JqCluster   *cluster;        /* nullable: who leads a shared queue */
  JqWaiters   *waiters;        /* wait() calls, woken per job */
  GMutex       history_lock;   /* guards histories */
  GCond        history_cond;   /* histories went down */
  guint        histories;      /* history answers being produced */
  GMutex       refusals_lock;  /* guards refusals: Abyss threads share it */
  JqLogLimit  *refusals;       /* "Refused request" lines, rate-limited */
};

/* Where a large answer goes (message.h): streamed to @flush when set,
 * else returned whole in @bytes. */
typedef struct {
  GBytes        *bytes;     /* the whole answer, when it was not streamed */
  JqMessageFlush flush;     /* nullable */
  gpointer       flush_data;
  gboolean       streamed;  /* every byte went to @flush */
  gboolean       broken;    /* streamed, but cut short: the connection
                             * must end without the answer's end */
} Answer;

/* listjobs fetches the queue from the loop in pages copied out of it
 * (jq_queue_copy_page) of at most this many bytes (one job at least),
 * written before the next is fetched: an answer holds a page, never the
 * whole queue.  Each page is a hop to the loop and back (two wake-ups);
 * the bound per connection is in doc/reliability.md, the figures in
 * doc/performance.md. */
#define LIST_PAGE_BYTES (64 * 1024)
/* history answers being produced at once: each holds its rows
 * (JQ_METHODS_HISTORY_MAX_BYTES of texts at most); more wait. */
#define HISTORY_AT_ONCE 2

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

/* Refuses a step @caller has no right to: a PermissionError fault saying
 * @format, and the same in the log, naming the caller (ten a minute one
 * by one, as other refusals). */
static void
refuse (JqMethods *m, xmlrpc_env *env, const JqCaller *caller,
        const char *format, ...) G_GNUC_PRINTF (4, 5);

static void
refuse (JqMethods *m, xmlrpc_env *env, const JqCaller *caller,
        const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  char by[128];
  g_mutex_lock (&m->refusals_lock);
  jq_log_limit_write (m->refusals, JQ_LOG_WARNING, "Refused: %s%s", text,
                      jq_caller_suffix (caller, FALSE, by, sizeof by));
  g_mutex_unlock (&m->refusals_lock);
  fault (env, "PermissionError", "%s", text);
}

#define ADMINS_ARE "root, the server's own user, [jobqueue] admin_users " \
                   "and the members of admin_group"

/* TRUE when @caller may do what only admins may (NULL: the server). */
static gboolean
admin_only (JqMethods *m, xmlrpc_env *env, const JqCaller *caller,
            const char *method, const char *what)
{
  if (caller == NULL || caller->admin)
    return TRUE;
  refuse (m, env, caller, "%s(): only an admin (" ADMINS_ARE ") may %s",
          method, what);
  return FALSE;
}

/* Bots' priorities are 1 to 9 (bots-job2queue -p, the GUI).  Anybody
 * else than an admin keeps to them: a user's jobs at 0 or -99999999
 * would run before cron's and the GUI's for ever (issue 19, F4). */
#define USER_PRIORITY_MIN 1
#define USER_PRIORITY_MAX 9

static gboolean
priority_allowed (JqMethods *m, xmlrpc_env *env, const JqCaller *caller,
                  const char *method, int priority)
{
  if (caller == NULL || caller->admin
      || (priority >= USER_PRIORITY_MIN && priority <= USER_PRIORITY_MAX))
    return TRUE;
  refuse (m, env, caller, "%s(): priority %d: only an admin (" ADMINS_ARE
          ") may use a priority outside Bots' %d to %d", method, priority,
          USER_PRIORITY_MIN, USER_PRIORITY_MAX);
  return FALSE;
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

/* Parameter @index of @params as an int (read_int).  FALSE with a fault
 * set. */
static gboolean
read_param_int (xmlrpc_env *env, xmlrpc_value *params, int index,
                const char *method, const char *name, int *out)
{
  g_autoptr (xmlrpc_value) v = NULL;
  xmlrpc_array_read_item (env, params, index, &v);
  return !env->fault_occurred && read_int (env, v, method, name, out);
}

/* Parameter @index of @params as an int from @min to @max; otherwise a
 * ValueError fault saying so ("@method(): @name must be @min to @max"). */
static gboolean
read_param_range (xmlrpc_env *env, xmlrpc_value *params, int index,
                  const char *method, const char *name, int min, int max,
                  const char *unit, int *out)
{
  if (!read_param_int (env, params, index, method, name, out))
    return FALSE;
  if (*out >= min && *out <= max)
    return TRUE;
  fault (env, "ValueError", "%s(): %s must be %d to %d%s", method, name,
         min, max, unit);
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
      g_autoptr (xmlrpc_value) item = NULL;
      xmlrpc_array_read_item (env, v, i, &item);
      if (env->fault_occurred)
        return NULL;
      if (xmlrpc_value_type (item) != XMLRPC_TYPE_STRING)
        {
          fault (env, "TypeError",
                 "addjob(): task item %d is not a string", i);
          return NULL;
        }
      size_t len = 0;
      const char *s = NULL;
      xmlrpc_read_string_lp (env, item, &len, &s);
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
  JqMethods       *m;
  const JqCaller  *caller;
  char       **argv;
  int          priority;
  JqAddjobCode code;
  guint64      number;         /* submit's answer */
  gboolean     changed;        /* OK for a waiting duplicate: its priority
                                * changed, nothing was added */
} AddjobCall;

static void
addjob_on_loop (gpointer data)
{
  AddjobCall *c = data;
  /* The scheduler answers OK both for a new job and for a changed
   * priority; the count of added jobs tells them apart. */
  guint64 added = jq_scheduler_get_totals (c->m->scheduler).added;
  c->code = jq_scheduler_submit (c->m->scheduler,
                                 (const char *const *) c->argv, c->priority,
                                 c->caller, &c->number);
  c->changed = c->code == JQ_ADDJOB_OK && c->number > 0
               && jq_scheduler_get_totals (c->m->scheduler).added == added;
  if (c->m->status != NULL && c->code != JQ_ADDJOB_FULL)
    jq_status_note_answer (c->m->status, c->code);
}

/* A waiting job as it was when the loop looked: the priority can change
 * later on the loop thread, the argv cannot. */
typedef struct {
  int     priority;
  guint64 number;
  JqJob  *job;
} JobSnapshot;

typedef struct {
  JqMethods  *m;
  GArray *jobs;       /* getjob: JobSnapshot */
  gboolean take;      /* getjob: remove the first */
  GByteArray *page;   /* listjobs: JqListedJob records */
  JqQueueCursor cursor;   /* listjobs: where the last page ended */
  const JqCaller *caller; /* getjob: named in its log line */
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
      g_autoptr (JqJob) job = jq_scheduler_getjob (c->m->scheduler,
                                                      c->caller);
      if (job != NULL)
        snapshot_add (c->jobs, job);
      return;
    }
  /* Copied, not referenced: the HTTP thread then reads one dense page
   * instead of a thousand jobs spread over the heap, and no job is
   * touched again (from another core) to drop a reference. */
  g_byte_array_set_size (c->page, 0);
  jq_scheduler_copy_page (c->m->scheduler, &c->cursor, c->page,
                          LIST_PAGE_BYTES);
}

typedef struct {
  JqMethods      *m;
  const JqCaller *caller;
} ClearCall;

static void
clear_on_loop (gpointer data)
{
  ClearCall *c = data;
  jq_scheduler_clear (c->m->scheduler, c->caller);
}

static gboolean
through_door (xmlrpc_env *env, JqMethods *m, JqDoorFunc func, gpointer data)
{
  g_autoptr (GError) error = NULL;
  if (jq_door_call (m->door, func, data, &error))
    return TRUE;
  fault (env, "Exception", "%s", error->message);
  return FALSE;
}

/* Sets @key of struct @st to @v, which it takes (transfer full). */
static void
struct_set (xmlrpc_env *env, xmlrpc_value *st, const char *key,
            xmlrpc_value *v)
{
  g_autoptr (xmlrpc_value) owned = v;
  if (owned != NULL && !env->fault_occurred)
    xmlrpc_struct_set_value (env, st, key, owned);
}

/* Appends @v, which it takes (transfer full), to array @array. */
static void
array_take (xmlrpc_env *env, xmlrpc_value *array, xmlrpc_value *v)
{
  g_autoptr (xmlrpc_value) owned = v;
  if (owned != NULL && !env->fault_occurred)
    xmlrpc_array_append_item (env, array, owned);
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
    array_take (env, task, xmlrpc_string_new (env, argv[i]));
  return task;
}

static xmlrpc_value *
job_value (xmlrpc_env *env, const JobSnapshot *snap)
{
  xmlrpc_value *entry = xmlrpc_array_new (env);
  array_take (env, entry, xmlrpc_int_new (env, snap->priority));
  array_take (env, entry, int_value (env, (gint64) snap->number));
  array_take (env, entry, task_value (env, jq_job_get_argv (snap->job)));
  return entry;
}

/* addjob's work; submit() shares it.  FALSE with a fault set. */
static gboolean
add_task (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
          xmlrpc_value *params, AddjobCall *out)
{
  g_autoptr (xmlrpc_value) task_v = NULL;
  AddjobCall call = { m, caller, NULL, 0, 0, 0, FALSE };

  xmlrpc_array_read_item (env, params, 0, &task_v);
  if (!env->fault_occurred)
    call.argv = read_task (env, task_v);
  if (!env->fault_occurred)
    read_param_int (env, params, 1, "addjob", "priority", &call.priority);
  if (!env->fault_occurred)
    priority_allowed (m, env, caller, "addjob", call.priority);
  gboolean ok = !env->fault_occurred
                && through_door (env, m, addjob_on_loop, &call);
  g_strfreev (call.argv);
  call.argv = NULL;
  *out = call;
  if (ok && call.code == JQ_ADDJOB_FULL)
    {
      xmlrpc_env_set_fault (env, 1, "The queue is full ([jobqueue] "
                            "max_waiting_jobs or max_waiting_bytes, or the "
                            "caller's user_queue_share of them): job not "
                            "added.");
      return FALSE;
    }
  return ok;
}

/* A fault that a Bots 3 caller gets as 1 instead (bots3_answer): said
 * once in the log, since nothing else tells why.  Rate-limited: a client
 * sets the pace. */
static void
log_bots3_fault (JqMethods *m, const xmlrpc_env *env)
{
  g_mutex_lock (&m->refusals_lock);
  jq_log_limit_write (m->refusals, JQ_LOG_ERROR, "Job not added (answered "
                      "1, the error Bots 3's callers show): %s",
                      env->fault_string);
  g_mutex_unlock (&m->refusals_lock);
}

/* Bots 3's monitor, dirmonitor and job2queue.py index a table of 0, 1
 * and 4 with the answer: a 2, a 3 or a fault crashes them (HTTP 500,
 * KeyError), and 0 would tell "added" for a job that is not queued.  So
 * whatever queued nothing (empty, not authorized, queue full, a journal
 * that could not save it, bad arguments) is 1 there, the one error they
 * can show; 4 stays the duplicate.  The scheduler has already logged why
 * for its own refusals; a fault is logged here.  @ok: add_task's
 * answer. */
static xmlrpc_value *
bots3_answer (JqMethods *m, xmlrpc_env *env, gboolean ok,
              const AddjobCall *call)
{
  if (ok && (call->code == JQ_ADDJOB_OK || call->code == JQ_ADDJOB_DUPLICATE))
    return xmlrpc_int_new (env, call->code);
  if (!ok && call->code != JQ_ADDJOB_FULL)
    log_bots3_fault (m, env);
  xmlrpc_env_clean (env);
  xmlrpc_env_init (env);
  return xmlrpc_int_new (env, BOTS3_NOT_ADDED);
}

/* Everyone but a Bots 3 installation gets Bots 4's codes and faults as
 * they are; submit() gives the true answer to every caller (what our own
 * bots-job2queue calls). */
static xmlrpc_value *
method_addjob (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
               xmlrpc_value *params)
{
  AddjobCall call;
  gboolean ok = add_task (m, caller, env, params, &call);
  if (m->bots3_answers)
    return bots3_answer (m, env, ok, &call);
  return ok ? xmlrpc_int_new (env, call.code) : NULL;
}

/* addjob with the job's number in the answer: no look-up afterwards,
 * which a job that ends at once would escape (doc/admin-api.md). */
static xmlrpc_value *
method_submit (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
               xmlrpc_value *params)
{
  AddjobCall call;
  if (!add_task (m, caller, env, params, &call))
    return NULL;
  xmlrpc_value *r = xmlrpc_struct_new (env);
  struct_set (env, r, "code", xmlrpc_int_new (env, call.code));
  struct_set (env, r, "jobnumber", int_value (env, (gint64) call.number));
  if (call.changed)
    struct_set (env, r, "priority_changed", xmlrpc_bool_new (env, TRUE));
  return r;
}

/* listjobs' answer, written page by page as the loop gives them: a
 * page is written (and, streaming, sent) before the next is fetched. */
static void
write_list (JqMessageWriter *w, gpointer data)
{
  ListCall *call = data;
  jq_message_put (w, "<value><array><data>");
  while (call->page->len > 0 && !jq_message_writer_gone (w))
    {
      const guint8 *end = call->page->data + call->page->len;
      for (const JqListedJob *job = (const JqListedJob *) (void *)
             call->page->data;
           (const guint8 *) job < end; job = jq_listed_job_next (job))
        jq_message_put_listed_job (w, job->priority, (gint64) job->number,
                                   jq_listed_job_task (job),
                                   job->task_bytes, job->argc);
      /* The door closes when the server stops: the answer cannot be
       * finished, and must not look finished. */
      if (!jq_door_call (call->m->door, list_on_loop, call, NULL))
        return;
    }
  jq_message_put (w, "</data></array></value>");
}

/* Writes @answer with @write: streamed when it is large and the caller
 * can take it so, else whole. */
static void
stream_answer (Answer *answer, JqMessageWriteFunc write, gpointer data)
{
  answer->bytes = jq_message_stream_response (write, data, answer->flush,
                                              answer->flush_data);
  answer->streamed = answer->bytes == NULL;
}

static xmlrpc_value *
list_or_take (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
              gboolean take, Answer *answer)
{
  g_autoptr (GArray) jobs = g_array_new (FALSE, FALSE, sizeof (JobSnapshot));
  g_autoptr (GByteArray) page = take ? NULL
                                : g_byte_array_sized_new (LIST_PAGE_BYTES);
  ListCall call = { m, jobs, take, page, { 0 }, caller };

  g_array_set_clear_func (jobs, snapshot_clear);
  if (!through_door (env, m, list_on_loop, &call))
    return NULL;
  if (take)
    return jobs->len == 0 ? xmlrpc_int_new (env, 0)
      : job_value (env, &g_array_index (jobs, JobSnapshot, 0));
  if (page->len == 0)
    return xmlrpc_int_new (env, 0);
  stream_answer (answer, write_list, &call);
  /* A page that could not be fetched is left in the buffer. */
  answer->broken = answer->streamed && page->len > 0;
  if (page->len > 0 && !answer->streamed)
    {
      g_clear_pointer (&answer->bytes, g_bytes_unref);
      fault (env, "Exception", JQ_SHUTTING_DOWN);
    }
  return NULL;
}

static xmlrpc_value *
answer_listjobs (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
                 xmlrpc_value *params, Answer *answer)
{
  return list_or_take (m, caller, env, FALSE, answer);
}

static xmlrpc_value *
method_getjob (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
               xmlrpc_value *params)
{
  /* It takes the next job, whoever queued it, out of the queue. */
  if (!admin_only (m, env, caller, "getjob", "take jobs out of the queue"))
    return NULL;
  return list_or_take (m, caller, env, TRUE, NULL);
}

static xmlrpc_value *
method_clearjobq (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
                  xmlrpc_value *params)
{
  /* All or nothing, as Bots' own method: clearing only the caller's own
   * jobs would let it believe the queue is empty (doc/admin-api.md). */
  if (!admin_only (m, env, caller, "clearjobq", "clear the queue; remove "
                   "your own jobs with removejob()"))
    return NULL;
  ClearCall c = { m, caller };
  if (!through_door (env, m, clear_on_loop, &c))
    return NULL;
  return xmlrpc_int_new (env, 0);
}

static xmlrpc_value *
method_isup (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
             xmlrpc_value *params)
{
  return xmlrpc_int_new (env, 0);
}

/* ------------------------------------------------ administration methods
 * New names only: Bots' own methods above keep their exact behaviour. */

typedef struct {
  JqMethods  *m;
  JqSnapshot  now;
} StatusCall;

static void
status_on_loop (gpointer data)
{
  StatusCall *c = data;
  jq_snapshot_take (&c->now, c->m->scheduler, c->m->cluster, TRUE);
}

/* Leader, term and each member's last heartbeat (no connection string:
 * it may hold a password). */
static xmlrpc_value *
cluster_value (xmlrpc_env *env, const JqClusterInfo *info)
{
  xmlrpc_value *v = xmlrpc_struct_new (env);
  struct_set (env, v, "member", xmlrpc_string_new (env, info->member));
  struct_set (env, v, "leader", xmlrpc_string_new (env, info->leader
                                                        ? info->leader : ""));
  struct_set (env, v, "term", int_value (env, info->term));
  struct_set (env, v, "leading", xmlrpc_bool_new (env, info->leading));
  struct_set (env, v, "lease_ms", int_value (env, info->lease_ms));
  xmlrpc_value *members = xmlrpc_array_new (env);
  gint64 now = g_get_real_time ();
  for (guint i = 0; i < info->members->len && !env->fault_occurred; i++)
    {
      const JqClusterMember *mb = &g_array_index (info->members,
                                                  JqClusterMember, i);
      xmlrpc_value *r = xmlrpc_struct_new (env);
      struct_set (env, r, "name", xmlrpc_string_new (env, mb->name));
      struct_set (env, r, "heartbeat", int_value (env, mb->heartbeat_us
                                                       / G_USEC_PER_SEC));
      struct_set (env, r, "heartbeat_age_ms",
                  int_value (env, (now - mb->heartbeat_us) / 1000));
      struct_set (env, r, "leader", xmlrpc_bool_new (env, mb->leader));
      array_take (env, members, r);
    }
  struct_set (env, v, "members", members);
  return v;
}

/* The running jobs of @now, as status() shows them. */
static xmlrpc_value *
running_value (xmlrpc_env *env, const JqSnapshot *now)
{
  xmlrpc_value *running = xmlrpc_array_new (env);
  for (guint i = 0; i < now->running->len && !env->fault_occurred; i++)
    {
      JqJob *job = now->running->pdata[i];
      gint64 started = g_array_index (now->started_us, gint64, i);
      xmlrpc_value *r = xmlrpc_struct_new (env);
      struct_set (env, r, "jobnumber",
                  int_value (env, jq_job_get_number (job)));
      struct_set (env, r, "priority",
                  xmlrpc_int_new (env, jq_job_get_priority (job)));
      struct_set (env, r, "task", task_value (env, jq_job_get_argv (job)));
      struct_set (env, r, "pid",
                  xmlrpc_int_new (env, g_array_index (now->pids, GPid, i)));
      struct_set (env, r, "started",
                  int_value (env, started / G_USEC_PER_SEC));
      struct_set (env, r, "elapsed",
                  int_value (env, (now->now_us - started) / G_USEC_PER_SEC));
      array_take (env, running, r);
    }
  return running;
}

static xmlrpc_value *
totals_value (xmlrpc_env *env, const JqTotals *t)
{
  xmlrpc_value *totals = xmlrpc_struct_new (env);
  struct_set (env, totals, "added", int_value (env, (gint64) t->added));
  struct_set (env, totals, "started", int_value (env, (gint64) t->started));
  struct_set (env, totals, "succeeded",
              int_value (env, (gint64) t->succeeded));
  struct_set (env, totals, "failed", int_value (env, (gint64) t->failed));
  struct_set (env, totals, "start_failures",
              int_value (env, (gint64) t->start_failures));
  return totals;
}

static xmlrpc_value *
method_status (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
               xmlrpc_value *params)
{
  StatusCall c = { m, { 0 } };
  if (!through_door (env, m, status_on_loop, &c))
    {
      jq_snapshot_clear (&c.now);
      return NULL;
    }
  const JqSnapshot *now = &c.now;
  gint64 since = now->totals.since_us;
  xmlrpc_value *result = xmlrpc_struct_new (env);
  struct_set (env, result, "version",
              xmlrpc_string_new (env, PACKAGE_VERSION));
  struct_set (env, result, "uptime",
              int_value (env, (now->now_us - since) / G_USEC_PER_SEC));
  struct_set (env, result, "started", int_value (env, since / G_USEC_PER_SEC));
  struct_set (env, result, "paused", xmlrpc_bool_new (env, now->paused));
  struct_set (env, result, "waiting", xmlrpc_int_new (env, (int) now->waiting));
  struct_set (env, result, "running", running_value (env, now));
  struct_set (env, result, "totals", totals_value (env, &now->totals));
  struct_set (env, result, "journal", xmlrpc_bool_new (env, now->journal));
  if (now->cluster != NULL)
    struct_set (env, result, "cluster", cluster_value (env, now->cluster));
  jq_snapshot_clear (&c.now);
  return result;
}

typedef struct {
  JqMethods  *m;
  guint   limit;
  GArray *rows;         /* JqFinished */
} HistoryCall;

static void
history_on_loop (gpointer data)
{
  HistoryCall *c = data;
  c->rows = jq_scheduler_history (c->m->scheduler, c->limit,
                                  JQ_METHODS_HISTORY_MAX_BYTES);
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
answer_history (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
                xmlrpc_value *params, Answer *answer)
{
  int limit = 0;
  HistoryCall c = { m, 0, NULL };

  if (!read_param_range (env, params, 0, "history", "limit", 1, JQ_HISTORY_MAX_LIMIT, "",
                         &limit))
    return NULL;
  c.limit = (guint) limit;
  /* The rows are read whole (the journal gives no pages): only a few
   * answers hold them at once. */
  g_mutex_lock (&m->history_lock);
  while (m->histories >= HISTORY_AT_ONCE)
    g_cond_wait (&m->history_cond, &m->history_lock);
  m->histories++;
  g_mutex_unlock (&m->history_lock);
  if (through_door (env, m, history_on_loop, &c))
    {
      stream_answer (answer, write_history, c.rows);
      g_array_unref (c.rows);
    }
  g_mutex_lock (&m->history_lock);
  m->histories--;
  g_cond_signal (&m->history_cond);
  g_mutex_unlock (&m->history_lock);
  return NULL;
}

typedef enum { STEER_REMOVE, STEER_PRIORITY, STEER_PAUSE, STEER_RESUME } Steer;

typedef struct {
  JqMethods   *m;
  const JqCaller *caller;
  Steer    what;
  guint64  number;
  int      priority;
  gboolean ok;
  gboolean refused;    /* not the job's owner nor an admin */
  guint32  owner;      /* the job's, when refused */
} SteerCall;

static void
steer_on_loop (gpointer data)
{
  SteerCall *c = data;
  JqScheduler *s = c->m->scheduler;
  if ((c->what == STEER_REMOVE || c->what == STEER_PRIORITY)
      && !jq_scheduler_may_steer (s, c->number, c->caller, &c->owner))
    {
      c->refused = TRUE;
      return;
    }
  switch (c->what)
    {
    case STEER_REMOVE:
      c->ok = jq_scheduler_remove (s, c->number, c->caller);
      break;
    case STEER_PRIORITY:
      c->ok = jq_scheduler_set_priority (s, c->number, c->priority,
                                         c->caller);
      break;
    case STEER_PAUSE:
    case STEER_RESUME:
      jq_scheduler_set_paused (s, c->what == STEER_PAUSE, c->caller);
      c->ok = TRUE;
      break;
    }
}

static gboolean
read_jobnumber (xmlrpc_env *env, xmlrpc_value *params, const char *method,
                guint64 *out)
{
  int n = 0;
  if (read_param_int (env, params, 0, method, "jobnumber", &n) && n < 1)
    fault (env, "ValueError", "%s(): jobnumber must be positive", method);
  *out = (guint64) n;
  return !env->fault_occurred;
}

static xmlrpc_value *
steer (JqMethods *m, xmlrpc_env *env, SteerCall *c, const char *method)
{
  if (!through_door (env, m, steer_on_loop, c))
    return NULL;
  if (c->refused)
    {
      g_autofree char *whose = c->owner == JQ_JOB_NO_OWNER
        ? g_strdup ("has no one owner (asked for by more than one caller, "
                    "or queued by an unknown one); only an admin")
        : g_strdup_printf ("was queued by uid %u; only its owner or an "
                           "admin", c->owner);
      refuse (m, env, c->caller, "%s(): job %" G_GUINT64_FORMAT " %s ("
              ADMINS_ARE ") may change it", method, c->number, whose);
      return NULL;
    }
  if (!c->ok)
    {
      fault (env, "ValueError", "%s(): job %" G_GUINT64_FORMAT " is not "
             "waiting", method, c->number);
      return NULL;
    }
  return xmlrpc_int_new (env, 0);
}

static xmlrpc_value *
method_removejob (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
                  xmlrpc_value *params)
{
  SteerCall c = { m, caller, STEER_REMOVE, 0, 0, FALSE, FALSE, 0 };
  if (!read_jobnumber (env, params, "removejob", &c.number))
    return NULL;
  return steer (m, env, &c, "removejob");
}

static xmlrpc_value *
method_setpriority (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
                    xmlrpc_value *params)
{
  SteerCall c = { m, caller, STEER_PRIORITY, 0, 0, FALSE, FALSE, 0 };
  if (!read_jobnumber (env, params, "setpriority", &c.number)
      || !read_param_int (env, params, 1, "setpriority", "priority",
                          &c.priority)
      || !priority_allowed (m, env, caller, "setpriority", c.priority))
    return NULL;
  return steer (m, env, &c, "setpriority");
}

static xmlrpc_value *
method_pause (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
              xmlrpc_value *params)
{
  SteerCall c = { m, caller, STEER_PAUSE, 0, 0, FALSE, FALSE, 0 };
  /* A pause is kept across restarts: one user could stop every job. */
  if (!admin_only (m, env, caller, "pause", "pause the queue"))
    return NULL;
  return steer (m, env, &c, "pause");
}

static xmlrpc_value *
method_resume (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
               xmlrpc_value *params)
{
  SteerCall c = { m, caller, STEER_RESUME, 0, 0, FALSE, FALSE, 0 };
  if (!admin_only (m, env, caller, "resume", "resume the queue"))
    return NULL;
  return steer (m, env, &c, "resume");
}

typedef struct {
  JqMethods      *m;
  guint64     number;
  JqJobState  state;
  JqFinished *finished;       /* owned; set when state is FINISHED */
} StateCall;

static void
state_on_loop (gpointer data)
{
  StateCall *c = data;
  g_clear_pointer (&c->finished, jq_finished_free);
  c->state = jq_scheduler_job_state (c->m->scheduler, c->number,
                                     &c->finished);
}

/* wait()'s answer: the job's state and, when it finished, how. */
static xmlrpc_value *
wait_answer (xmlrpc_env *env, guint64 number, JqJobState state,
             const JqFinished *f)
{
  static const char *const names[] = {
    [JQ_JOB_UNKNOWN] = "unknown", [JQ_JOB_WAITING] = "waiting",
    [JQ_JOB_RUNNING] = "running", [JQ_JOB_FINISHED] = "finished",
    [JQ_JOB_GONE] = "removed",
  };
  gboolean start_failed = f != NULL && f->start_error != NULL;
  xmlrpc_value *r = xmlrpc_struct_new (env);
  struct_set (env, r, "jobnumber", int_value (env, (gint64) number));
  struct_set (env, r, "state", xmlrpc_string_new (env,
      start_failed ? "failed-to-start" : names[state]));
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

/* Looks at the job, and while it waits or runs, blocks until an event
 * for it (waiters.h), the time-out or the stop, and looks again.  The
 * watch starts before the first look: an end in between is not missed. */
static xmlrpc_value *
method_wait (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
             xmlrpc_value *params)
{
  StateCall c = { m, 0, JQ_JOB_UNKNOWN, NULL };
  int timeout = 0;

  if (!read_jobnumber (env, params, "wait", &c.number)
      || !read_param_range (env, params, 1, "wait", "timeout", 0,
                            JQ_WAIT_MAX_SECONDS, " seconds", &timeout))
    return NULL;
  gint64 deadline = g_get_monotonic_time ()
                    + (gint64) timeout * G_USEC_PER_SEC;
  JqWaiter *waiter = jq_waiter_watch (m->waiters, c.number);
  while (through_door (env, m, state_on_loop, &c)
         && (c.state == JQ_JOB_WAITING || c.state == JQ_JOB_RUNNING)
         && jq_waiter_block (m->waiters, waiter, deadline) == JQ_WAIT_WOKEN)
    ;
  jq_waiter_unwatch (m->waiters, waiter);
  g_autoptr (JqFinished) f = g_steal_pointer (&c.finished);
  if (env->fault_occurred)
    return NULL;
  return wait_answer (env, c.number, c.state, f);
}

typedef xmlrpc_value *(*MethodFunc) (JqMethods *m, const JqCaller *caller,
                                     xmlrpc_env *env, xmlrpc_value *params);
/* A method whose answer can be large writes or streams it itself into
 * @answer (message.h) and returns NULL; a small answer may still be a
 * value. */
typedef xmlrpc_value *(*AnswerFunc) (JqMethods *m, const JqCaller *caller,
                                     xmlrpc_env *env, xmlrpc_value *params,
                                     Answer *answer);

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
dispatch (JqMethods *m, const JqCaller *caller, xmlrpc_env *env,
          const char *name, xmlrpc_value *params, Answer *answer)
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
        return methods[i].answer (m, caller, env, params, answer);
      return methods[i].func (m, caller, env, params);
    }
  g_autofree char *shown = g_utf8_make_valid (name, MIN (strlen (name), 80));
  fault (env, "Exception", "method \"%s\" is not supported", shown);
  return NULL;
}

GBytes *
jq_methods_process_streamed (JqMethods *m, const JqCaller *caller,
                             const char *body, gsize len,
                             JqMessageFlush flush, gpointer flush_data,
                             gboolean *broken)
{
  g_autoptr (GError) error = NULL;
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  g_autofree char *name = NULL;
  g_autoptr (xmlrpc_value) params = NULL;
  g_autoptr (xmlrpc_value) result = NULL;
  Answer answer = { NULL, flush, flush_data, FALSE, FALSE };

  if (len > JQ_METHODS_MAX_BODY)
    g_set_error (&error, JQ_ERROR, JQ_ERROR_PARSE, "request body of %"
                 G_GSIZE_FORMAT " bytes is over the limit of %d", len,
                 JQ_METHODS_MAX_BODY);
  if (error == NULL && jq_message_parse_call (body, len, &name, &params,
                                              &error))
    result = dispatch (m, caller, &env, name, params, &answer);
  else
    {
      /* A client can send these as fast as it likes: ten a minute are
       * told one by one, the rest as a count. */
      g_mutex_lock (&m->refusals_lock);
      jq_log_limit_write (m->refusals, JQ_LOG_WARNING, "Refused request: %s",
                          error->message);
      g_mutex_unlock (&m->refusals_lock);
      if (m->status != NULL)
        jq_metrics_count_refused (jq_status_get_metrics (m->status),
                                  JQ_REFUSED_SCREENED);
      fault (&env, "ValueError", "not a valid XML-RPC call: %s",
             error->message);
    }

  if (m->status != NULL)
    jq_metrics_count_call (jq_status_get_metrics (m->status),
                           known_method (name), env.fault_occurred);
  if (broken != NULL)
    *broken = answer.broken;
  GBytes *response = NULL;
  if (answer.streamed)
    ;                           /* every byte went to @flush */
  else if (answer.bytes != NULL && !env.fault_occurred)
    response = g_steal_pointer (&answer.bytes);
  else
    response = serialize (result, env.fault_occurred ? &env : NULL);
  g_clear_pointer (&answer.bytes, g_bytes_unref);
  xmlrpc_env_clean (&env);
  return response;
}

GBytes *
jq_methods_process (JqMethods *m, const JqCaller *caller, const char *body,
                    gsize len)
{
  return jq_methods_process_streamed (m, caller, body, len, NULL, NULL,
                                      NULL);
}

void
jq_methods_set_cluster (JqMethods *m, JqCluster *cluster)
{
  m->cluster = cluster;
}

void
jq_methods_set_status (JqMethods *m, JqStatus *status)
{
  m->status = status;
}

void
jq_methods_set_bots3_answers (JqMethods *m, gboolean bots3)
{
  m->bots3_answers = bots3;
}

JqMethods *
jq_methods_new (JqScheduler *scheduler, JqDoor *door, JqLog *log)
{
  JqMethods *m = g_new0 (JqMethods, 1);
  m->scheduler = scheduler;
  m->door = door;
  m->log = log;
  g_mutex_init (&m->history_lock);
  g_cond_init (&m->history_cond);
  g_mutex_init (&m->refusals_lock);
  m->refusals = jq_log_limit_new (log, "refused requests",
                                  REFUSALS_BURST, REFUSALS_WINDOW_S);
  m->waiters = jq_waiters_new (jq_scheduler_get_events (scheduler));
  return m;
}

void
jq_methods_set_max_blocked_waits (JqMethods *m, guint max_blocked)
{
  jq_waiters_set_max_blocked (m->waiters, max_blocked);
}

void
jq_methods_stop (JqMethods *m)
{
  jq_waiters_stop (m->waiters);
}

void
jq_methods_free (JqMethods *m)
{
  if (m == NULL)
    return;
  jq_waiters_free (m->waiters);
  jq_log_limit_free (m->refusals);
  g_mutex_clear (&m->refusals_lock);
  g_mutex_clear (&m->history_lock);
  g_cond_clear (&m->history_cond);
  g_free (m);
}
