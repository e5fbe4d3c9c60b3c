/* main() of bots-jobqueue: the administrator's command.
 *
 * One subcommand per action, each one XML-RPC call to the running server
 * (doc/admin-api.md); tables for people, --json for scripts.  Exit codes
 * are in bots-jobqueue(1). */
#include "build-config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xmlrpc-c/json.h>

#include "client.h"
#include "config.h"
#include "error.h"
#include "protocol.h"
#include "ini.h"
#include "task.h"

enum {
  EXIT_OK = 0,
  EXIT_UNREACHABLE = 1,   /* no server, or no usable config */
  EXIT_USAGE = 2,
  EXIT_REFUSED = 3,       /* the server answered with a fault */
  EXIT_TIMEOUT = 124,     /* wait: the job had not ended (as timeout(1)) */
  EXIT_NOT_STARTED = 127, /* wait: the job could not start (as a shell) */
};

#define CALL_TIMEOUT_MS 10000
/* One wait() call asks for at most this long: the server may answer
 * sooner when many calls wait (doc/admin-api.md), and a short call
 * leaves no connection held for a day. */
#define WAIT_CALL_SECONDS 60

#define WIDTH 80

static gboolean opt_json;

static void
usage (FILE *to)
{
  fprintf (to,
    "Usage: bots-jobqueue [-c<configdir>] [--json] COMMAND [ARGUMENTS]\n"
    "\n"
    "See and steer the Bots job queue.\n"
    "\n"
    "  status              what runs, how much waits, totals, uptime\n"
    "  list                the waiting jobs in run order\n"
    "  history [-n N]      the last N finished jobs (default 20)\n"
    "  add [-p P] [--wait] [--] TASK\n"
    "                      queue TASK at priority P (default 5; -pP too);\n"
    "                      prints its number; --wait: then wait for it, as\n"
    "                      wait does; -- only when TASK starts with '-'\n"
    "  remove N            remove waiting job N\n"
    "  priority N P        give waiting job N priority P\n"
    "  clear               remove every waiting job\n"
    "  pause | resume      stop / restart launching jobs\n"
    "  wait N [-t SECS]    wait for job N to end; exit with its exit code\n"
    "  ping                is the server there?\n"
    "\n"
    "  -c<configdir>  the config folder, found as Bots finds it (as for\n"
    "                 bots-job2queue)\n"
    "  --json         print the server's answer as JSON\n");
}

static int
fail (int code, const char *format, ...) G_GNUC_PRINTF (2, 3);

static int
fail (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "bots-jobqueue: %s\n", msg);
  return code;
}

/* ------------------------------------------------------------ values */

static gint64
get_int (xmlrpc_value *st, const char *key, gint64 fallback)
{
  xmlrpc_env env;
  g_autoptr (xmlrpc_value) v = NULL;
  gint64 out = fallback;
  xmlrpc_env_init (&env);
  xmlrpc_struct_find_value (&env, st, key, &v);
  if (v != NULL)
    {
      if (xmlrpc_value_type (v) == XMLRPC_TYPE_INT)
        {
          int i;
          xmlrpc_read_int (&env, v, &i);
          out = i;
        }
      else if (xmlrpc_value_type (v) == XMLRPC_TYPE_I8)
        {
          xmlrpc_int64 i;
          xmlrpc_read_i8 (&env, v, &i);
          out = i;
        }
      else if (xmlrpc_value_type (v) == XMLRPC_TYPE_BOOL)
        {
          xmlrpc_bool b;
          xmlrpc_read_bool (&env, v, &b);
          out = b;
        }
    }
  xmlrpc_env_clean (&env);
  return out;
}

static char *
get_string (xmlrpc_value *st, const char *key)
{
  xmlrpc_env env;
  g_autoptr (xmlrpc_value) v = NULL;
  const char *s = NULL;
  char *out = NULL;
  xmlrpc_env_init (&env);
  xmlrpc_struct_find_value (&env, st, key, &v);
  if (v != NULL && xmlrpc_value_type (v) == XMLRPC_TYPE_STRING)
    {
      xmlrpc_read_string (&env, v, &s);
      out = g_strdup (s);
      free ((void *) s);
    }
  xmlrpc_env_clean (&env);
  return out;
}

static gboolean
has_key (xmlrpc_value *st, const char *key)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  gboolean has = xmlrpc_struct_has_key (&env, st, key);
  xmlrpc_env_clean (&env);
  return has;
}

/* A task as one line: arguments joined by spaces, quoted Python-style
 * when they hold a space or a quote, cut to @width with "...". */
static char *
task_line (xmlrpc_value *task, gsize width)
{
  xmlrpc_env env;
  GString *line = g_string_new (NULL);
  xmlrpc_env_init (&env);
  int n = task != NULL && xmlrpc_value_type (task) == XMLRPC_TYPE_ARRAY
    ? xmlrpc_array_size (&env, task) : 0;
  for (int i = 0; i < n && !env.fault_occurred; i++)
    {
      g_autoptr (xmlrpc_value) item = NULL;
      const char *s = NULL;
      xmlrpc_array_read_item (&env, task, i, &item);
      if (env.fault_occurred)
        break;
      xmlrpc_read_string (&env, item, &s);
      if (env.fault_occurred)
        break;
      if (i > 0)
        g_string_append_c (line, ' ');
      /* Plain when Python would print it plainly; quoted (and so
       * escaped) when it holds a space, a quote or anything a terminal
       * would act on (ESC, CR, newlines). */
      g_autoptr (GString) quoted = g_string_new (NULL);
      jq_task_repr_append_cut (quoted, s, JQ_TASK_LOG_MAX);
      if (s[0] == '\0' || strpbrk (s, " \t'\"\\") != NULL
          || quoted->len != strlen (s) + 2
          || strncmp (quoted->str + 1, s, strlen (s)) != 0)
        g_string_append (line, quoted->str);
      else
        g_string_append (line, s);
      free ((void *) s);
    }
  xmlrpc_env_clean (&env);
  if (g_utf8_strlen (line->str, -1) > (glong) width && width > 3)
    {
      const char *cut = g_utf8_offset_to_pointer (line->str, width - 3);
      g_string_truncate (line, cut - line->str);
      g_string_append (line, "...");
    }
  return g_string_free (line, FALSE);
}

static xmlrpc_value *
struct_value (xmlrpc_value *st, const char *key)
{
  xmlrpc_env env;
  xmlrpc_value *v = NULL;
  xmlrpc_env_init (&env);
  xmlrpc_struct_find_value (&env, st, key, &v);
  xmlrpc_env_clean (&env);
  return v;
}

static char *
format_duration (gint64 seconds)
{
  if (seconds < 0)
    seconds = 0;
  return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", seconds / 3600,
                          (int) (seconds / 60 % 60), (int) (seconds % 60));
}

/* The zone times are shown in: the TIME_ZONE of settings.py, as the log
 * uses it (Bots runs under Django, which sets it), else the system's. */
static GTimeZone *shown_zone;
static gboolean shown_zone_is_bots; /* from settings.py, not the system */

static void
set_shown_zone (const JqConfig *config)
{
  g_clear_pointer (&shown_zone, g_time_zone_unref);
  if (config->time_zone != NULL)
    shown_zone = g_time_zone_new_identifier (config->time_zone);
  shown_zone_is_bots = shown_zone != NULL;
  if (shown_zone == NULL)
    shown_zone = g_time_zone_new_local ();
}

static char *
format_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (unix_seconds);
  g_autoptr (GDateTime) t = utc && shown_zone
    ? g_date_time_to_timezone (utc, shown_zone) : NULL;
  return t ? g_date_time_format (t, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

/* Whether a terminal or a reader could be fooled by @c shown raw: C0
 * and C1 controls and DEL (a C1 CSI, U+009B, starts an escape sequence
 * in a UTF-8 xterm), format characters (U+202E turns the text around),
 * separators other than the space, unassigned and private code points:
 * what Python's repr, and so our tables and the log, escape. */
static gboolean
hides_in_terminal (gunichar c)
{
  return !jq_task_python_printable (c);
}

/* xmlrpc-c's JSON with every such character as a \uXXXX escape: they
 * can only stand inside strings, where JSON allows the escape.  The
 * layout's own newlines stay; xmlrpc-c already escapes the C0 controls
 * inside strings. */
static char *
json_escape_controls (const char *json, gsize len)
{
  GString *out = g_string_sized_new (len + 1);
  const char *end = json + len;
  for (const char *p = json; p < end;)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_c (out, *p++);
          continue;
        }
      const char *next = g_utf8_next_char (p);
      if (c != '\n' && c != '\t' && c != '\r' && hides_in_terminal (c))
        {
          jq_task_append_json_escape (out, c);
        }
      else
        g_string_append_len (out, p, next - p);
      p = next;
    }
  return g_string_free (out, FALSE);
}

static void
print_json (xmlrpc_value *v)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  xmlrpc_mem_block *out = xmlrpc_mem_block_new (&env, 0);
  xmlrpc_serialize_json (&env, v, out);
  if (!env.fault_occurred)
    {
      g_autofree char *safe = json_escape_controls (
          (const char *) xmlrpc_mem_block_contents (out),
          xmlrpc_mem_block_size (out));
      printf ("%s\n", safe);
    }
  xmlrpc_mem_block_free (out);
  xmlrpc_env_clean (&env);
}

/* ------------------------------------------------------------ shapes
 * What answers the tables below can show.  Whatever listens on the port
 * may answer anything (issue 12): an answer of another shape is an error
 * and exit 1, never a crash in the code that shows it. */

static gboolean
is_type (xmlrpc_value *v, xmlrpc_type type)
{
  return v != NULL && xmlrpc_value_type (v) == type;
}

/* An array whose every item satisfies @item (NULL: any). */
static gboolean
is_array_of (xmlrpc_value *v, gboolean (*item) (xmlrpc_value *))
{
  if (!is_type (v, XMLRPC_TYPE_ARRAY))
    return FALSE;
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  int n = xmlrpc_array_size (&env, v);
  gboolean ok = !env.fault_occurred;
  for (int i = 0; ok && item != NULL && i < n; i++)
    {
      g_autoptr (xmlrpc_value) x = NULL;
      xmlrpc_array_read_item (&env, v, i, &x);
      ok = !env.fault_occurred && item (x);
    }
  xmlrpc_env_clean (&env);
  return ok;
}

static gboolean
is_string (xmlrpc_value *v)
{
  return is_type (v, XMLRPC_TYPE_STRING);
}

static gboolean
is_task (xmlrpc_value *v)
{
  return is_array_of (v, is_string);
}

/* A struct whose "task", when there, is a task. */
static gboolean
is_job_struct (xmlrpc_value *v)
{
  if (!is_type (v, XMLRPC_TYPE_STRUCT))
    return FALSE;
  g_autoptr (xmlrpc_value) task = struct_value (v, "task");
  return task == NULL || is_task (task);
}

/* [priority, number, task] as listjobs gives it. */
static gboolean
is_listed_job (xmlrpc_value *v)
{
  xmlrpc_env env;
  g_autoptr (xmlrpc_value) task = NULL;
  int prio = 0, number = 0;
  if (!is_type (v, XMLRPC_TYPE_ARRAY))
    return FALSE;
  xmlrpc_env_init (&env);
  if (xmlrpc_array_size (&env, v) == 3)
    xmlrpc_decompose_value (&env, v, "(iiA)", &prio, &number, &task);
  gboolean ok = task != NULL && !env.fault_occurred && is_task (task);
  xmlrpc_env_clean (&env);
  return ok;
}

static gboolean
answer_has_shape (const char *method, xmlrpc_value *v)
{
  if (strcmp (method, "status") == 0)
    {
      if (!is_type (v, XMLRPC_TYPE_STRUCT))
        return FALSE;
      g_autoptr (xmlrpc_value) running = struct_value (v, "running");
      g_autoptr (xmlrpc_value) totals = struct_value (v, "totals");
      return (running == NULL || is_array_of (running, is_job_struct))
        && (totals == NULL || is_type (totals, XMLRPC_TYPE_STRUCT));
    }
  if (strcmp (method, "listjobs") == 0)
    return is_type (v, XMLRPC_TYPE_INT) || is_array_of (v, is_listed_job);
  if (strcmp (method, "history") == 0)
    return is_array_of (v, is_job_struct);
  if (strcmp (method, "addjob") == 0)
    return is_type (v, XMLRPC_TYPE_INT);
  if (strcmp (method, "submit") == 0)
    {
      if (!is_type (v, XMLRPC_TYPE_STRUCT))
        return FALSE;
      gint64 code = get_int (v, "code", -1);
      return (code == 0 || code == 2 || code == 3 || code == 4)
             && get_int (v, "jobnumber", -1) >= 0;
    }
  if (strcmp (method, "wait") == 0)
    {
      static const char *const states[] = {
        "waiting", "running", "finished", "failed-to-start", "removed",
        "unknown", NULL,
      };
      g_autofree char *state = is_type (v, XMLRPC_TYPE_STRUCT)
        ? get_string (v, "state") : NULL;
      return state != NULL && g_strv_contains (states, state);
    }
  return TRUE;
}

/* ------------------------------------------------------------ commands */

/* A server on a shared PostgreSQL journal: who leads, each member's
 * last heartbeat. */
static void
show_cluster (xmlrpc_value *st)
{
  g_autoptr (xmlrpc_value) cluster = struct_value (st, "cluster");
  if (cluster == NULL)
    return;
  g_autoptr (xmlrpc_value) members = struct_value (cluster, "members");
  g_autofree char *member = get_string (cluster, "member");
  g_autofree char *leader = get_string (cluster, "leader");
  printf ("Cluster: this server %s %s; leader %s, term %" G_GINT64_FORMAT
          "\n", member ? member : "?",
          get_int (cluster, "leading", 0) ? "leads" : "follows",
          leader && leader[0] ? leader : "none", get_int (cluster, "term", 0));
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  int n = members ? xmlrpc_array_size (&env, members) : 0;
  for (int i = 0; i < n && !env.fault_occurred; i++)
    {
      g_autoptr (xmlrpc_value) m = NULL;
      xmlrpc_array_read_item (&env, members, i, &m);
      if (env.fault_occurred)
        break;
      g_autofree char *name = get_string (m, "name");
      printf ("  %-40s heartbeat %.1f s ago%s\n", name ? name : "?",
              (double) get_int (m, "heartbeat_age_ms", 0) / 1000,
              get_int (m, "leader", 0) ? ", leader" : "");
    }
  xmlrpc_env_clean (&env);
}

static void
show_status (xmlrpc_value *st)
{
  g_autofree char *version = get_string (st, "version");
  if (version == NULL)
    version = g_strdup ("?");
  g_autofree char *uptime = format_duration (get_int (st, "uptime", 0));
  g_autoptr (xmlrpc_value) totals = struct_value (st, "totals");
  g_autoptr (xmlrpc_value) running = struct_value (st, "running");
  xmlrpc_env env;
  xmlrpc_env_init (&env);

  printf ("bots-jobqueueserver %s, up %s, %s, journal %s\n", version, uptime,
          get_int (st, "paused", 0) ? "PAUSED" : "launching",
          get_int (st, "journal", 0) ? "on" : "off");
  int n = running ? xmlrpc_array_size (&env, running) : 0;
  printf ("Running: %d   Waiting: %" G_GINT64_FORMAT "\n", n,
          get_int (st, "waiting", 0));
  if (n > 0)
    printf ("  %-7s %-4s %-8s %-9s %s\n", "JOB", "PRI", "PID", "ELAPSED",
            "TASK");
  for (int i = 0; i < n; i++)
    {
      g_autoptr (xmlrpc_value) r = NULL;
      xmlrpc_array_read_item (&env, running, i, &r);
      g_autofree char *elapsed = format_duration (get_int (r, "elapsed", 0));
      g_autoptr (xmlrpc_value) task = struct_value (r, "task");
      g_autofree char *line = task_line (task, WIDTH - 34);
      printf ("  %-7" G_GINT64_FORMAT " %-4" G_GINT64_FORMAT " %-8"
              G_GINT64_FORMAT " %-9s %s\n", get_int (r, "jobnumber", 0),
              get_int (r, "priority", 0), get_int (r, "pid", 0), elapsed,
              line);
    }
  if (totals != NULL)
    printf ("Since start: %" G_GINT64_FORMAT " added, %" G_GINT64_FORMAT
            " started, %" G_GINT64_FORMAT " succeeded, %" G_GINT64_FORMAT
            " failed, %" G_GINT64_FORMAT " could not start\n",
            get_int (totals, "added", 0), get_int (totals, "started", 0),
            get_int (totals, "succeeded", 0), get_int (totals, "failed", 0),
            get_int (totals, "start_failures", 0));
  show_cluster (st);
  xmlrpc_env_clean (&env);
}

/* Entry @i of a listjobs answer, [priority, number, task]: sets *@prio
 * and *@number and returns the task as task_line() gives it, or NULL (with
 * @env set) when the entry is not of that shape. */
static char *
listed_job (xmlrpc_env *env, xmlrpc_value *list, int i, gsize width,
            int *prio, int *number)
{
  g_autoptr (xmlrpc_value) entry = NULL;
  g_autoptr (xmlrpc_value) task = NULL;
  xmlrpc_array_read_item (env, list, i, &entry);
  if (!env->fault_occurred)
    xmlrpc_decompose_value (env, entry, "(iiA)", prio, number, &task);
  return env->fault_occurred ? NULL : task_line (task, width);
}

static void
show_list (xmlrpc_value *list)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  if (xmlrpc_value_type (list) != XMLRPC_TYPE_ARRAY)
    {
      printf ("No jobs waiting.\n");
      return;
    }
  int n = xmlrpc_array_size (&env, list);
  printf ("%-7s %-4s %s\n", "JOB", "PRI", "TASK");
  for (int i = 0; i < n; i++)
    {
      int prio = 0, number = 0;
      g_autofree char *line = listed_job (&env, list, i, WIDTH - 13, &prio,
                                          &number);
      if (line == NULL)
        break;
      printf ("%-7d %-4d %s\n", number, prio, line);
    }
  printf ("%d waiting\n", n);
  xmlrpc_env_clean (&env);
}

static void
show_history (xmlrpc_value *list)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  int n = xmlrpc_array_size (&env, list);
  if (n == 0)
    {
      printf ("No finished jobs recorded.\n");
      return;
    }
  printf ("%-7s %-4s %-19s %-9s %-8s %s\n", "JOB", "PRI", "ENDED", "TOOK",
          "RESULT", "TASK");
  for (int i = 0; i < n; i++)
    {
      g_autoptr (xmlrpc_value) h = NULL;
      xmlrpc_array_read_item (&env, list, i, &h);
      g_autofree char *ended = format_time (get_int (h, "ended", 0));
      g_autofree char *took = has_key (h, "started")
        ? format_duration (get_int (h, "ended", 0) - get_int (h, "started", 0))
        : g_strdup ("-");
      g_autofree char *result = NULL;
      if (has_key (h, "start_error"))
        result = g_strdup ("NOSTART");
      else if (has_key (h, "signal"))
        result = g_strdup_printf ("SIG%" G_GINT64_FORMAT,
                                  get_int (h, "signal", 0));
      else
        result = g_strdup_printf ("%" G_GINT64_FORMAT,
                                  get_int (h, "exit_code", 0));
      if (get_int (h, "maxruntime_hit", 0))
        {
          char *with = g_strconcat (result, "+T", NULL);
          g_free (result);
          result = with;
        }
      g_autoptr (xmlrpc_value) task = struct_value (h, "task");
      g_autofree char *line = task_line (task, WIDTH - 53);
      printf ("%-7" G_GINT64_FORMAT " %-4" G_GINT64_FORMAT " %-19s %-9s "
              "%-8s %s\n", get_int (h, "jobnumber", 0),
              get_int (h, "priority", 0), ended, took, result, line);
    }
  printf ("(+T: exceeded maxruntime; NOSTART: could not be started)\n");
  if (shown_zone_is_bots)
    printf ("(times in %s, the TIME_ZONE of settings.py)\n",
            g_time_zone_get_identifier (shown_zone));
  xmlrpc_env_clean (&env);
}

/* A wait() answer for a job that has not ended yet. */
static gboolean
is_pending (xmlrpc_value *result)
{
  g_autofree char *state = get_string (result, "state");
  return g_strcmp0 (state, "waiting") == 0 || g_strcmp0 (state, "running") == 0;
}

static gboolean
parse_number (const char *text, gint64 min, gint64 max, gint64 *out)
{
  return text != NULL && jq_ini_parse_int (text, out) && *out >= min
         && *out <= max;
}

/* What the command line asks for: one call, checked before anything is
 * sent. */
typedef struct {
  const char   *config_option;  /* -c<dir>; NULL: as Bots finds it */
  const char   *command;
  const char   *method;
  xmlrpc_value *params;         /* owned */
  gboolean      add_wait;       /* add --wait */
  gint64        a, b;           /* the numbers the command takes */
  gint64        timeout;        /* wait's, seconds */
  char         *why;            /* what is wrong with the arguments */
  gboolean      why_not_usage;  /* @why is not about their form */
} Request;

/* The options before the command.  FALSE when the program ends here, with
 * *@exit_code. */
static gboolean
read_options (int argc, char **argv, Request *req, int *next, int *exit_code)
{
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (strcmp (argv[i], "--json") == 0)
        opt_json = TRUE;
      else if (g_str_has_prefix (argv[i], "-c") && argv[i][2] != '\0')
        req->config_option = argv[i] + 2;
      else if (strcmp (argv[i], "-h") == 0 || strcmp (argv[i], "--help") == 0)
        {
          usage (stdout);
          *exit_code = EXIT_OK;
          return FALSE;
        }
      else if (strcmp (argv[i], "--version") == 0)
        {
          printf ("bots-jobqueue %s\n", PACKAGE_VERSION);
          *exit_code = EXIT_OK;
          return FALSE;
        }
      else
        {
          usage (stderr);
          *exit_code = fail (EXIT_USAGE, "unknown option %s", argv[i]);
          return FALSE;
        }
    }
  if (i >= argc)
    {
      usage (stderr);
      *exit_code = EXIT_USAGE;
      return FALSE;
    }
  *next = i;
  return TRUE;
}

/* add [-p P | -pP] [--wait] [--] TASK: submit answers the number with
 * the code, so a job that ends at once cannot be missed, as a look-up
 * afterwards could.  Options come before the task: the first argument
 * that does not start with '-' starts it, and "--" ends them (needed only
 * when the task's program starts with '-').  An unknown option is an
 * error, not the start of a task: "add --p 3 -- echo" queued
 * "--p 3 -- echo".  FALSE with req->why when the arguments are bad. */
static gboolean
build_add (xmlrpc_env *env, char **rest, int n_rest, Request *req)
{
  int k = 0;
  req->a = 5;
  for (; k < n_rest && rest[k][0] == '-'; k++)
    {
      const char *arg = rest[k];
      if (strcmp (arg, "--") == 0)
        {
          k++;
          break;
        }
      if (strcmp (arg, "--wait") == 0)
        req->add_wait = TRUE;
      else if (g_str_has_prefix (arg, "-p"))
        {
          /* -p 3 and bots-job2queue's -p3 */
          const char *value = arg[2] != '\0' ? arg + 2
                              : k + 1 < n_rest ? rest[++k] : NULL;
          if (!parse_number (value, G_MININT, G_MAXINT, &req->a))
            {
              req->why = g_strdup_printf ("add: the priority %s is not a "
                                          "whole number", value ? value
                                          : "(missing)");
              return FALSE;
            }
        }
      else
        {
          req->why = g_strdup_printf ("add: unknown option %s (a task whose "
                                      "program starts with '-' goes after "
                                      "--)", arg);
          return FALSE;
        }
    }
  if (k >= n_rest)
    {
      req->why = g_strdup ("add: no task given");
      return FALSE;
    }
  /* Checked before anything is built: an argument xmlrpc-c cannot carry
   * (not UTF-8, beyond U+FFFF) is told as such, not built into a call. */
  g_autoptr (GError) error = NULL;
  if (!jq_client_check_strings ((const char *const *) rest + k, &error))
    {
      req->why = g_strdup (error->message);
      req->why_not_usage = TRUE;
      return FALSE;
    }
  g_autoptr (xmlrpc_value) task = jq_client_strings (
      env, (const char *const *) rest + k);
  if (env->fault_occurred)
    return FALSE;
  req->method = "submit";
  req->params = xmlrpc_build_value (env, "(Vi)", task, (int) req->a);
  return !env->fault_occurred;
}

/* The call for @command and its arguments @rest.  FALSE when they are
 * not a command's. */
static gboolean
build_call (xmlrpc_env *env, const char *command, char **rest, int n_rest,
            Request *req)
{
  gboolean bad = FALSE;
  req->command = command;
  req->timeout = JQ_WAIT_MAX_SECONDS;
  if (strcmp (command, "status") == 0 && n_rest == 0)
    req->method = "status", req->params = xmlrpc_build_value (env, "()");
  else if (strcmp (command, "list") == 0 && n_rest == 0)
    req->method = "listjobs", req->params = xmlrpc_build_value (env, "()");
  else if (strcmp (command, "history") == 0)
    {
      req->a = 20;
      if (n_rest == 2 && strcmp (rest[0], "-n") == 0)
        bad = !parse_number (rest[1], 1, JQ_HISTORY_MAX_LIMIT, &req->a);
      else
        bad = n_rest != 0;
      req->method = "history";
      req->params = xmlrpc_build_value (env, "(i)", (int) req->a);
    }
  else if (strcmp (command, "add") == 0)
    bad = !build_add (env, rest, n_rest, req);
  else if (strcmp (command, "remove") == 0 && n_rest == 1)
    {
      bad = !parse_number (rest[0], 1, G_MAXINT, &req->a);
      req->method = "removejob";
      req->params = xmlrpc_build_value (env, "(i)", (int) req->a);
    }
  else if (strcmp (command, "priority") == 0 && n_rest == 2)
    {
      bad = !parse_number (rest[0], 1, G_MAXINT, &req->a)
            || !parse_number (rest[1], G_MININT, G_MAXINT, &req->b);
      req->method = "setpriority";
      req->params = xmlrpc_build_value (env, "(ii)", (int) req->a,
                                        (int) req->b);
    }
  else if ((strcmp (command, "clear") == 0 || strcmp (command, "pause") == 0
            || strcmp (command, "resume") == 0) && n_rest == 0)
    {
      req->method = strcmp (command, "clear") == 0 ? "clearjobq" : command;
      req->params = xmlrpc_build_value (env, "()");
    }
  else if (strcmp (command, "wait") == 0 && (n_rest == 1 || n_rest == 3))
    {
      bad = !parse_number (rest[0], 1, G_MAXINT, &req->a);
      if (n_rest == 3)
        bad = bad || strcmp (rest[1], "-t") != 0
              || !parse_number (rest[2], 0, JQ_WAIT_MAX_SECONDS, &req->timeout);
      req->method = "wait";
      req->params = xmlrpc_build_value (env, "(ii)", (int) req->a,
                                        (int) req->timeout);
    }
  else if (strcmp (command, "ping") == 0 && n_rest == 0)
    req->method = "isup", req->params = xmlrpc_build_value (env, "()");
  else
    bad = TRUE;
  return !bad && req->method != NULL && !env->fault_occurred;
}

/* The configuration and a client for its server.  NULL with *@exit_code
 * when there is none. */
static JqClient *
connect_server (const Request *req, int *exit_code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JqConfig) config = jq_config_load_from_option (
      req->config_option, &error);
  if (config == NULL)
    {
      *exit_code = fail (EXIT_UNREACHABLE, "%s", error->message);
      return NULL;
    }
  set_shown_zone (config);
  guint call_timeout = strcmp (req->method, "wait") == 0 || req->add_wait
    ? (guint) (WAIT_CALL_SECONDS + 30) * 1000 : CALL_TIMEOUT_MS;
  JqClient *client = jq_client_new (config, call_timeout, &error);
  if (client == NULL)
    *exit_code = fail (EXIT_UNREACHABLE, "%s", error->message);
  return client;
}

/* A fault is a refusal (exit 3), unless the server is stopping: then
 * nothing was refused or removed (a job waiting or running is kept and
 * runs again at its next start), and the server cannot be asked now
 * (exit 1), as when it is not there (an outside test: wait said 3). */
static gboolean
is_refusal (const GError *error)
{
  return g_error_matches (error, JQ_ERROR, JQ_ERROR_INVALID)
         && strstr (error->message, JQ_SHUTTING_DOWN) == NULL;
}

/* The server's answer to the call, of the shape the method gives.  NULL
 * with *@exit_code when there is none. */
static xmlrpc_value *
call_server (JqClient *client, const Request *req, int *exit_code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (xmlrpc_value) result = jq_client_call (client, req->method,
                                                    req->params, &error);
  if (result == NULL)
    {
      gboolean refused = is_refusal (error);
      const char *why = error->message;
      /* Keep the server's own words: drop xmlrpc-c's "RPC failed at
       * server." and the Python-style class in front of them. */
      const char *cls = strstr (why, "<class '");
      const char *colon = cls ? strstr (cls, "'>:") : NULL;
      *exit_code = fail (refused ? EXIT_REFUSED : EXIT_UNREACHABLE, "%s%s%s",
                         colon ? colon + 3 : why, refused ? "" : " at ",
                         refused ? "" : jq_client_get_url (client));
      return NULL;
    }
  if (!answer_has_shape (req->method, result))
    {
      *exit_code = fail (EXIT_UNREACHABLE, "unexpected answer to %s from %s",
                         req->method, jq_client_get_url (client));
      return NULL;
    }
  return g_steal_pointer (&result);
}

/* wait() called until job @number has ended or @timeout seconds have
 * passed.  A call answered early while the job is pending (the server's
 * waiters are all taken) is asked again a second later.  NULL with
 * *@exit_code when the server cannot be asked. */
static xmlrpc_value *
wait_for (JqClient *client, gint64 number, gint64 timeout, int *exit_code)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  gint64 deadline = g_get_monotonic_time () + timeout * G_USEC_PER_SEC;
  g_autoptr (xmlrpc_value) result = NULL;
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();
      if (result != NULL && (!is_pending (result) || now >= deadline))
        break;
      if (result != NULL)
        g_usleep (MIN (G_USEC_PER_SEC, deadline - now));
      now = g_get_monotonic_time ();
      gint64 left = MAX (deadline - now, 0) / G_USEC_PER_SEC;
      g_clear_pointer (&result, xmlrpc_DECREF);
      g_autoptr (GError) error = NULL;
      g_autoptr (xmlrpc_value) params = xmlrpc_build_value (
          &env, "(ii)", (int) number, (int) MIN (left, WAIT_CALL_SECONDS));
      result = jq_client_call (client, "wait", params, &error);
      if (result == NULL)
        {
          gboolean refused = is_refusal (error);
          *exit_code = fail (refused ? EXIT_REFUSED : EXIT_UNREACHABLE,
                             "job %" G_GINT64_FORMAT ": %s", number,
                             error->message);
          break;
        }
      if (!answer_has_shape ("wait", result))
        {
          *exit_code = fail (EXIT_UNREACHABLE, "unexpected answer to wait "
                             "from %s", jq_client_get_url (client));
          g_clear_pointer (&result, xmlrpc_DECREF);
          break;
        }
    }
  xmlrpc_env_clean (&env);
  return g_steal_pointer (&result);
}

/* submit's answer; with add --wait, *@result becomes the job's end and
 * the request a wait's.  With --json one document in all: the answer,
 * and under "result" what wait() told.  Returns the exit status, or -1
 * with *@exit_code when the wait could not be done. */
static int
show_submit (JqClient *client, Request *req, xmlrpc_value **result,
             int *exit_code)
{
  gint64 code = get_int (*result, "code", -1);
  gint64 number = get_int (*result, "jobnumber", 0);
  gboolean changed = get_int (*result, "priority_changed", 0);
  static const char *const texts[] = {
    "", "", "empty task", "not authorized", "duplicate, not added"
  };
  if (opt_json)
    ;
  else if (code == 0 && number > 0 && changed)
    printf ("priority of waiting job %" G_GINT64_FORMAT " changed to %"
            G_GINT64_FORMAT "\n", number, req->a);
  else if (code == 0 && number > 0)
    printf ("job %" G_GINT64_FORMAT " added\n", number);
  else if (code == 0)
    printf ("nothing queued: the task ['isup'] only asks whether the "
            "server is up\n");
  else if (code == 4 && number > 0)
    printf ("duplicate of waiting job %" G_GINT64_FORMAT ", not added\n",
            number);
  else
    printf ("%s\n", code >= 2 && code <= 4 ? texts[code] : "?");
  if (!(req->add_wait && code == 0 && number > 0))
    {
      if (opt_json)
        print_json (*result);
      return code == 0 ? EXIT_OK : EXIT_REFUSED;
    }
  /* As "wait N": repeated calls until the job has ended. */
  req->a = number;
  g_autoptr (xmlrpc_value) submitted = g_steal_pointer (result);
  *result = wait_for (client, number, JQ_WAIT_MAX_SECONDS, exit_code);
  if (*result == NULL)
    return -1;
  if (opt_json)
    {
      xmlrpc_env env;
      xmlrpc_env_init (&env);
      xmlrpc_struct_set_value (&env, submitted, "result", *result);
      print_json (submitted);
      xmlrpc_env_clean (&env);
    }
  req->method = "wait";
  return EXIT_OK;
}

/* wait's answer: the job's exit status as ours. */
static int
show_wait (const Request *req, xmlrpc_value *result)
{
  g_autofree char *state = get_string (result, "state");
  if (g_strcmp0 (state, "finished") == 0)
    {
      gint64 code = get_int (result, "exit_code", 0);
      gint64 sig = get_int (result, "signal", 0);
      /* An exit code is 0-255, or minus the signal (1-127) that ended
       * the job: 256 once printed exit status 0, a success that never
       * was. */
      if (code > 255 || sig < 0 || sig > 127 || (code < 0 && code != -sig))
        return fail (EXIT_UNREACHABLE, "unexpected answer to wait: exit "
                     "code %" G_GINT64_FORMAT ", signal %" G_GINT64_FORMAT,
                     code, sig);
      if (!opt_json)
        printf ("job %" G_GINT64_FORMAT " finished, exit code %"
                G_GINT64_FORMAT "%s\n", req->a, code,
                get_int (result, "maxruntime_hit", 0)
                  ? " (exceeded maxruntime)" : "");
      return sig > 0 ? (int) (128 + sig) : (int) (code & 0xff);
    }
  if (!opt_json)
    printf ("job %" G_GINT64_FORMAT ": %s\n", req->a, state);
  return g_strcmp0 (state, "failed-to-start") == 0 ? EXIT_NOT_STARTED
    : (g_strcmp0 (state, "waiting") == 0
       || g_strcmp0 (state, "running") == 0) ? EXIT_TIMEOUT
    : EXIT_REFUSED;
}

/* Prints the answer as the method's table, or as JSON; returns the exit
 * status. */
static int
show_answer (JqClient *client, Request *req, xmlrpc_value **result)
{
  int status = EXIT_OK;
  if (opt_json && strcmp (req->method, "submit") != 0)
    print_json (*result);
  if (strcmp (req->method, "status") == 0 && !opt_json)
    show_status (*result);
  else if (strcmp (req->method, "listjobs") == 0 && !opt_json)
    show_list (*result);
  else if (strcmp (req->method, "history") == 0 && !opt_json)
    show_history (*result);
  else if (strcmp (req->method, "submit") == 0)
    {
      int exit_code = EXIT_UNREACHABLE;
      status = show_submit (client, req, result, &exit_code);
      if (status < 0)
        return exit_code;
    }
  gboolean shown = strcmp (req->method, "status") == 0
                   || strcmp (req->method, "listjobs") == 0
                   || strcmp (req->method, "history") == 0
                   || strcmp (req->method, "submit") == 0;
  if (strcmp (req->method, "wait") == 0)
    status = show_wait (req, *result);
  else if (!opt_json && !shown)
    printf ("ok\n");
  return status;
}

int
main (int argc, char **argv)
{
  Request req = { 0 };
  int next = 0, exit_code = EXIT_OK;
  /* Each line leaves at once: "job N added" must be in a file that
   * stdout goes to before add --wait waits, a kill may come. */
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (!read_options (argc, argv, &req, &next, &exit_code))
    return exit_code;

  xmlrpc_env env;
  xmlrpc_env_init (&env);
  gboolean ok = build_call (&env, argv[next], argv + next + 1,
                            argc - next - 1, &req);
  /* Nothing of @params is used when the env faulted: it may be anything. */
  if (env.fault_occurred)
    req.params = NULL;
  xmlrpc_env_clean (&env);
  g_autoptr (xmlrpc_value) params = req.params;
  g_autofree char *why = req.why;
  if (!ok)
    {
      if (!req.why_not_usage)
        usage (stderr);
      if (why != NULL)
        return fail (EXIT_USAGE, "%s", why);
      return fail (EXIT_USAGE, "bad arguments for \"%s\"", argv[next]);
    }

  g_autoptr (JqClient) client = connect_server (&req, &exit_code);
  if (client == NULL)
    return exit_code;
  /* wait: calls of at most WAIT_CALL_SECONDS each, up to its -t. */
  g_autoptr (xmlrpc_value) result = strcmp (req.method, "wait") == 0
    ? wait_for (client, req.a, req.timeout, &exit_code)
    : call_server (client, &req, &exit_code);
  if (result == NULL)
    return exit_code;
  return show_answer (client, &req, &result);
}
