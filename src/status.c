/* The status page, its JSON and the metrics: what they show and how it is
 * gathered.
 *
 * The runs of the last 24 hours are the history's (history.c: at most
 * JQ_HISTORY_KEEP, seeded from the journal at start).  The loop thread
 * keeps the queue depth per minute (the largest seen in that minute,
 * sampled at every add, start and end and at every look; seeded from
 * the history's queueing and start times).  A
 * request takes a snapshot through the door -- references and counts,
 * never a walk over the waiting jobs: the first JQ_STATUS_NEXT_JOBS come
 * from jq_queue_list_first() and the rest is a count -- and builds its
 * text on its own thread. */
#include "build-config.h"

#include "status.h"

#include <string.h>

#include "error.h"
#include "history.h"
#include "snapshot.h"
#include "task.h"
#include "status-page.h"   /* generated from status-page.html */

#define DEPTH_MINUTES (24 * 60)
#define DAY_US ((gint64) 24 * 3600 * G_USEC_PER_SEC)
#define MINUTE_US ((gint64) 60 * G_USEC_PER_SEC)

typedef struct {
  gint64 minute;          /* unix minutes; 0: unused */
  guint  max_waiting;     /* the most seen in that minute */
  guint  last_waiting;    /* the last seen: holds until the next sample */
} DepthSlot;

struct _JqStatus {
  JqScheduler *scheduler;
  JqDoor      *door;
  JqMetrics   *metrics;                /* the scheduler's */
  JqHistory   *history;                /* the scheduler's: the runs */
  guint        subscription;           /* to the scheduler's events */
  DepthSlot    depth[DEPTH_MINUTES];   /* by minute % DEPTH_MINUTES */
  char        *time_zone;              /* settings.py's TIME_ZONE; NULL:
                                        * the system's */
  GTimeZone   *zone;                   /* that zone, for "now" */
};

static JqResult
ended_result (const JqEnded *e)
{
  if (e->finished.start_error != NULL)
    return JQ_RESULT_NOT_STARTED;
  if (e->finished.term_signal != 0)
    return JQ_RESULT_SIGNAL;
  return e->finished.exit_code == 0 ? JQ_RESULT_SUCCESS : JQ_RESULT_FAILURE;
}

/* ---------------------------------------------------------- loop side */

static void
note_depth (JqStatus *st, gint64 now_us, guint waiting)
{
  gint64 minute = now_us / MINUTE_US;
  DepthSlot *slot = &st->depth[minute % DEPTH_MINUTES];
  if (slot->minute != minute)
    *slot = (DepthSlot) { minute, waiting, waiting };
  else
    slot->max_waiting = MAX (slot->max_waiting, waiting);
  slot->last_waiting = waiting;
}

/* The queue depth is sampled at each start and end (the metrics count
 * them: they subscribe themselves). */
static void
on_event (const JqEvent *e, gpointer user_data)
{
  JqStatus *st = user_data;
  if (e->kind == JQ_EVENT_STARTED || e->kind == JQ_EVENT_FINISHED
      || e->kind == JQ_EVENT_START_FAILED)
    note_depth (st, g_get_real_time (), e->waiting);
}

static void
on_commit (gint64 duration_us, gpointer user_data)
{
  JqStatus *st = user_data;
  jq_metrics_observe_commit (st->metrics, duration_us);
}

typedef struct {
  gint64 at_us;
  int    change;      /* +1 queued, -1 left the queue */
} DepthChange;

static int
compare_changes (gconstpointer a, gconstpointer b)
{
  const DepthChange *x = a, *y = b;
  if (x->at_us != y->at_us)
    return x->at_us < y->at_us ? -1 : 1;
  return x->change - y->change;    /* leaving first: no false peak; a
                                    * job leaves after it came, so the
                                    * count never goes below 0 */
}

/* The queue depth of the past, as the history tells it: each finished
 * job waited from its queueing to its start.  So that a restart does
 * not blank the chart. */
static void
seed_depth (JqStatus *st)
{
  gint64 now = g_get_real_time ();
  g_autoptr (GPtrArray) runs = jq_history_recent (st->history, 0);
  g_autoptr (GArray) changes = g_array_new (FALSE, FALSE,
                                            sizeof (DepthChange));
  for (guint i = 0; i < runs->len; i++)
    {
      const JqFinished *f = &((JqEnded *) runs->pdata[i])->finished;
      gint64 left = f->started_us ? f->started_us : f->ended_us;
      if (left < now - DAY_US || f->queued_us <= 0 || left <= f->queued_us)
        continue;     /* started the moment it came: it never waited */
      DepthChange in = { f->queued_us, +1 }, out = { left, -1 };
      g_array_append_val (changes, in);
      g_array_append_val (changes, out);
    }
  g_array_sort (changes, compare_changes);
  int waiting = 0;
  for (guint i = 0; i < changes->len; i++)
    {
      DepthChange *c = &g_array_index (changes, DepthChange, i);
      waiting = MAX (waiting + c->change, 0);
      if (c->at_us >= now - DAY_US)
        note_depth (st, c->at_us, (guint) waiting);
    }
}

JqStatus *
jq_status_new (JqScheduler *scheduler, JqDoor *door)
{
  JqStatus *st = g_new0 (JqStatus, 1);
  st->scheduler = scheduler;
  st->door = door;
  st->metrics = jq_scheduler_get_metrics (scheduler);
  st->history = jq_scheduler_get_history (scheduler);
  seed_depth (st);
  st->subscription = jq_events_subscribe (jq_scheduler_get_events (scheduler),
                                          on_event, st);
  jq_journal_set_commit_observer (jq_scheduler_get_journal (scheduler),
                                  on_commit, st);
  return st;
}

JqMetrics *
jq_status_get_metrics (JqStatus *st)
{
  return st->metrics;
}

void
jq_status_note_answer (JqStatus *st, int code)
{
  jq_metrics_count_answer (st->metrics, code);
  note_depth (st, g_get_real_time (),
              jq_scheduler_count_waiting (st->scheduler));
}

void
jq_status_free (JqStatus *st)
{
  if (st == NULL)
    return;
  jq_events_unsubscribe (jq_scheduler_get_events (st->scheduler),
                         st->subscription);
  jq_journal_set_commit_observer (jq_scheduler_get_journal (st->scheduler),
                                  NULL, NULL);
  g_free (st->time_zone);
  if (st->zone != NULL)
    g_time_zone_unref (st->zone);
  g_free (st);
}

void
jq_status_set_time_zone (JqStatus *st, const char *zone)
{
  g_free (st->time_zone);
  if (st->zone != NULL)
    g_time_zone_unref (st->zone);
  st->zone = zone != NULL ? g_time_zone_new_identifier (zone) : NULL;
  st->time_zone = st->zone != NULL ? g_strdup (zone) : NULL;
  if (st->zone == NULL)
    st->zone = g_time_zone_new_local ();
}

/* "now" as ISO 8601 with the offset of the zone times are shown in. */
static void
append_now_iso (GString *out, const JqStatus *st, gint64 now_us)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (
      now_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) t = utc && st->zone
    ? g_date_time_to_timezone (utc, st->zone) : NULL;
  g_autofree char *iso = t ? g_date_time_format_iso8601 (t) : NULL;
  g_string_append (out, ",\"now_iso\":");
  if (iso != NULL)
    jq_status_append_json_string (out, iso);
  else
    g_string_append (out, "null");
  g_string_append (out, ",\"time_zone\":");
  if (st->time_zone != NULL)
    jq_status_append_json_string (out, st->time_zone);
  else
    g_string_append (out, "null");
}

/* ---------------------------------------------------------- snapshot */

typedef struct {
  JqJob *job;
  int    priority;      /* as it was: it can change while waiting */
} Waiting;

typedef struct {
  JqStatus  *st;
  gboolean   full;          /* FALSE: only the gauges (metrics) */
  JqSnapshot now;           /* the server's state (snapshot.h) */
  JqGauges   gauges;        /* of it, for the metrics */
  GArray    *next;          /* Waiting */
  GPtrArray *runs;          /* JqEnded refs, oldest end first */
  GArray    *depth;         /* DepthSlot, oldest first */
} Snapshot;

static void
waiting_clear (gpointer p)
{
  jq_job_unref (((Waiting *) p)->job);
}

static void
snapshot_on_loop (gpointer data)
{
  Snapshot *s = data;
  JqScheduler *sch = s->st->scheduler;
  /* status.json does not show the cluster (status() does). */
  jq_snapshot_take (&s->now, sch, NULL, s->full);
  s->gauges.waiting = s->now.waiting;
  s->gauges.running = s->now.running_here;
  s->gauges.paused = s->now.paused;
  s->gauges.started_us = s->now.totals.since_us;
  note_depth (s->st, s->now.now_us, s->now.waiting);
  if (!s->full)
    return;
  g_autoptr (GPtrArray) first = jq_scheduler_list_first (sch,
                                                         JQ_STATUS_NEXT_JOBS);
  for (guint i = 0; i < first->len; i++)
    {
      Waiting w = { jq_job_ref (first->pdata[i]),
                    jq_job_get_priority (first->pdata[i]) };
      g_array_append_val (s->next, w);
    }
  s->runs = jq_history_recent (s->st->history, s->now.now_us - DAY_US);
  gint64 minute = s->now.now_us / MINUTE_US;
  for (gint64 m = minute - DEPTH_MINUTES + 1; m <= minute; m++)
    {
      DepthSlot *slot = &s->st->depth[m % DEPTH_MINUTES];
      if (slot->minute == m)
        g_array_append_val (s->depth, *slot);
    }
}

static void
snapshot_clear (Snapshot *s)
{
  jq_snapshot_clear (&s->now);
  g_array_unref (s->next);
  g_clear_pointer (&s->runs, g_ptr_array_unref);
  g_array_unref (s->depth);
}

/* ---------------------------------------------------------- JSON */

void
jq_status_append_json_string (GString *out, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      /* C1 controls and format characters (U+202E turns text around,
       * U+200B and U+FEFF hide), and the line separators that end a line
       * in JavaScript: escaped, never raw. */
      if (c >= 0x80 && (c <= 0x9f || c == 0x2028 || c == 0x2029
                        || g_unichar_type (c) == G_UNICODE_FORMAT))
        {
          jq_task_append_json_escape (out, c);
          continue;
        }
      if (c >= 0x80)
        {
          g_string_append_len (out, p, g_utf8_next_char (p) - p);
          continue;
        }
      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '<': case '>': case '&':
          g_string_append_printf (out, "\\u%04x", c);
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

/* @text as a JSON string of at most @max characters; returns how many it
 * wrote, and sets *@cut when that is not all.  Counting characters of the
 * valid text, not bytes of the escaped one: escaping makes at most 12
 * bytes of one (a "<" is \u003c, a format character beyond U+FFFF a
 * surrogate pair).  Reads no more of @text than @max + 1
 * characters can take (4 bytes each, or one invalid byte each), so that
 * long tasks cost little at every poll.  With @note, a cut text ends in
 * "... [cut: N bytes]". */
static glong
append_json_string_cut (GString *out, const char *text, glong max,
                        gboolean note, gboolean *cut)
{
  gsize len = strnlen (text, (gsize) max * 4 + 4);
  g_autofree char *valid = g_utf8_make_valid (text, len);
  glong chars = g_utf8_strlen (valid, -1);
  if (chars > max)
    {
      *g_utf8_offset_to_pointer (valid, max) = '\0';
      chars = max;
      *cut = TRUE;
      if (note)
        {
          char *noted = g_strdup_printf ("%s... [cut: %" G_GSIZE_FORMAT
                                         " bytes]", valid, strlen (text));
          g_free (valid);
          valid = noted;
        }
    }
  jq_status_append_json_string (out, valid);
  return chars;
}

/* "task":[...] of @shown, a task as jq_history_cut_task shows it: at
 * most JQ_STATUS_TASK_CHARS characters (a separator counts one), as the
 * log cuts a task: a task may hold 64 KiB, and 150 of them made one
 * answer of 38 MB.  A cut task is followed by its whole size,
 * "task_bytes" (its arguments' bytes, @bytes) and "task_arguments"
 * (@arguments). */
static void
append_shown_task (GString *out, const char *const *shown, gboolean cut,
                   gsize bytes, gsize arguments)
{
  g_string_append (out, "\"task\":[");
  for (gsize n = 0; shown[n] != NULL; n++)
    {
      if (n > 0)
        g_string_append_c (out, ',');
      jq_status_append_json_string (out, shown[n]);
    }
  g_string_append_c (out, ']');
  if (cut)
    g_string_append_printf (out, ",\"task_bytes\":%" G_GSIZE_FORMAT
                            ",\"task_arguments\":%" G_GSIZE_FORMAT, bytes,
                            arguments);
}

/* The history keeps a task as the page shows it. */
G_STATIC_ASSERT (JQ_STATUS_TASK_CHARS == JQ_HISTORY_TASK_CHARS);

/* "task":[...] of a waiting or running job's whole @argv. */
static void
append_task (GString *out, const char *const *argv)
{
  gboolean cut = FALSE;
  gsize bytes = 0, n = 0;
  g_auto (GStrv) shown = jq_history_cut_task (argv, JQ_STATUS_TASK_CHARS,
                                              &cut);
  for (; argv[n] != NULL; n++)
    bytes += strlen (argv[n]);
  append_shown_task (out, (const char *const *) shown, cut, bytes, n);
}

#define MS(us) ((gint64) (us) / 1000)

static const char *const result_names[JQ_RESULT_COUNT] = {
  "success", "failure", "signal", "not_started",
};

static void
append_finished (GString *out, const JqEnded *e)
{
  const JqFinished *r = &e->finished;
  g_string_append_printf (out, "{\"jobnumber\":%" G_GUINT64_FORMAT
                          ",\"priority\":%d,",
                          r->number, r->priority);
  append_shown_task (out, r->argv, e->task_cut, e->task_bytes,
                     e->task_arguments);
  g_string_append_printf (out, ",\"queued\":%" G_GINT64_FORMAT,
                          MS (r->queued_us));
  if (r->started_us != 0)
    g_string_append_printf (out, ",\"started\":%" G_GINT64_FORMAT,
                            MS (r->started_us));
  g_string_append_printf (out, ",\"ended\":%" G_GINT64_FORMAT
                          ",\"result\":\"%s\",\"maxruntime_hit\":%s",
                          MS (r->ended_us), result_names[ended_result (e)],
                          r->hit_maxruntime ? "true" : "false");
  if (r->start_error != NULL)
    {
      /* It quotes the task too (cut to JQ_TASK_SHOWN_MAX bytes by
       * task.c, but any text may follow). */
      g_string_append (out, ",\"start_error\":");
      gboolean cut = FALSE;
      append_json_string_cut (out, r->start_error, JQ_STATUS_TASK_CHARS,
                              TRUE, &cut);
    }
  else
    g_string_append_printf (out, ",\"exit_code\":%d", r->exit_code);
  if (r->term_signal != 0)
    g_string_append_printf (out, ",\"signal\":%d", r->term_signal);
  g_string_append_c (out, '}');
}

/* The head of status.json: the server's state, its clock and totals. */
static void
render_json_head (const Snapshot *s, GString *out)
{
  g_string_append (out, "{\"version\":");
  jq_status_append_json_string (out, PACKAGE_VERSION);
  g_string_append_printf (out, ",\"now\":%" G_GINT64_FORMAT
                          ",\"started\":%" G_GINT64_FORMAT
                          ",\"paused\":%s,\"journal\":%s,\"waiting\":%u",
                          MS (s->now.now_us), MS (s->now.totals.since_us),
                          s->now.paused ? "true" : "false",
                          s->now.journal ? "true" : "false", s->now.waiting);
  append_now_iso (out, s->st, s->now.now_us);
  g_string_append_printf (out, ",\"totals\":{\"added\":%" G_GUINT64_FORMAT
                          ",\"started\":%" G_GUINT64_FORMAT
                          ",\"succeeded\":%" G_GUINT64_FORMAT
                          ",\"failed\":%" G_GUINT64_FORMAT
                          ",\"start_failures\":%" G_GUINT64_FORMAT "}",
                          s->now.totals.added, s->now.totals.started,
                          s->now.totals.succeeded, s->now.totals.failed,
                          s->now.totals.start_failures);
}

static void
render_json (const Snapshot *s, GString *out)
{
  render_json_head (s, out);

  /* nr_threads may be 1000: the first JQ_STATUS_RUNNING_JOBS are listed. */
  g_string_append_printf (out, ",\"running_count\":%u,\"running\":[",
                          s->now.running->len);
  for (guint i = 0; i < s->now.running->len && i < JQ_STATUS_RUNNING_JOBS;
       i++)
    {
      JqJob *job = s->now.running->pdata[i];
      g_string_append_printf (out, "%s{\"jobnumber\":%" G_GUINT64_FORMAT
                              ",\"priority\":%d,\"pid\":%d,\"started\":%"
                              G_GINT64_FORMAT ",\"queued\":%" G_GINT64_FORMAT
                              ",", i ? "," : "",
                              jq_job_get_number (job),
                              jq_job_get_priority (job),
                              (int) g_array_index (s->now.pids, GPid, i),
                              MS (g_array_index (s->now.started_us, gint64, i)),
                              MS (jq_job_get_queued_us (job)));
      append_task (out, jq_job_get_argv (job));
      g_string_append_c (out, '}');
    }

  g_string_append (out, "],\"next\":[");
  for (guint i = 0; i < s->next->len; i++)
    {
      const Waiting *w = &g_array_index (s->next, Waiting, i);
      g_string_append_printf (out, "%s{\"jobnumber\":%" G_GUINT64_FORMAT
                              ",\"priority\":%d,\"queued\":%" G_GINT64_FORMAT
                              ",", i ? "," : "",
                              jq_job_get_number (w->job), w->priority,
                              MS (jq_job_get_queued_us (w->job)));
      append_task (out, jq_job_get_argv (w->job));
      g_string_append_c (out, '}');
    }

  /* Newest first, in full. */
  g_string_append (out, "],\"finished\":[");
  guint shown = 0;
  for (guint i = s->runs->len; i-- > 0 && shown < JQ_STATUS_FINISHED_JOBS;)
    {
      if (shown++ > 0)
        g_string_append_c (out, ',');
      append_finished (out, s->runs->pdata[i]);
    }

  /* The timeline: [number, started, ended, result, maxruntime_hit];
   * started is the end for a job that could not start. */
  g_string_append (out, "],\"runs\":[");
  for (guint i = 0; i < s->runs->len; i++)
    {
      const JqEnded *e = s->runs->pdata[i];
      const JqFinished *r = &e->finished;
      g_string_append_printf (out, "%s[%" G_GUINT64_FORMAT ",%" G_GINT64_FORMAT
                              ",%" G_GINT64_FORMAT ",\"%s\",%d]",
                              i ? "," : "", r->number,
                              MS (r->started_us ? r->started_us : r->ended_us),
                              MS (r->ended_us), result_names[ended_result (e)],
                              r->hit_maxruntime ? 1 : 0);
    }
  g_string_append (out, "],\"depth\":[");
  for (guint i = 0; i < s->depth->len; i++)
    {
      const DepthSlot *d = &g_array_index (s->depth, DepthSlot, i);
      g_string_append_printf (out, "%s[%" G_GINT64_FORMAT ",%u,%u]",
                              i ? "," : "", d->minute * 60000, d->max_waiting,
                              d->last_waiting);
    }
  g_string_append (out, "]}\n");
}

/* ---------------------------------------------------------- answers */

/* The icon browsers ask for at /favicon.ico whatever the page says (the
 * page itself names none): answered, so that a page view is not counted
 * as a refused request and does not fire alerts. */
static const char icon[] =
  "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">"
  "<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#2e9d4e\"/>"
  "<path d=\"M4 5h8M4 8h8M4 11h5\" stroke=\"#fff\" stroke-width=\"1.6\"/>"
  "</svg>\n";

/* "'sha256-BASE64'" of the page's text between @open and @close, for
 * the Content-Security-Policy.  (img-src allows data: for the page's
 * "no icon" link, href="data:,", which some browsers check against it.) */
static char *
page_hash (const char *open, const char *close)
{
  const char *start = strstr (jq_status_page, open);
  g_assert (start != NULL && strstr (start + 1, open) == NULL);
  start += strlen (open);
  const char *end = strstr (start, close);
  g_assert (end != NULL);
  guint8 digest[32];
  gsize len = sizeof digest;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) start, end - start);
  g_checksum_get_digest (sum, digest, &len);
  g_autofree char *b64 = g_base64_encode (digest, len);
  return g_strdup_printf ("'sha256-%s'", b64);
}

const char *
jq_status_page_csp (void)
{
  static gsize once;
  static char *csp;
  if (g_once_init_enter (&once))
    {
      g_autofree char *script = page_hash ("<script>", "</script>");
      g_autofree char *style = page_hash ("<style>", "</style>");
      csp = g_strdup_printf ("default-src 'none'; script-src %s; "
                             "style-src %s; connect-src 'self'; "
                             "img-src 'self' data:; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'",
                             script, style);
      g_once_init_leave (&once, 1);
    }
  return csp;
}

JqStatusPath
jq_status_match (const char *path)
{
  if (g_strcmp0 (path, "/favicon.ico") == 0)
    return JQ_STATUS_ICON;
  if (g_strcmp0 (path, "/") == 0 || g_strcmp0 (path, "/index.html") == 0)
    return JQ_STATUS_PAGE;
  if (g_strcmp0 (path, "/status.json") == 0)
    return JQ_STATUS_JSON;
  if (g_strcmp0 (path, "/metrics") == 0)
    return JQ_STATUS_METRICS;
  return JQ_STATUS_NONE;
}

GBytes *
jq_status_answer (JqStatus *st, JqStatusPath what, const char **content_type,
                  GError **error)
{
  if (what == JQ_STATUS_PAGE)
    {
      /* The page is static; its script asks for the JSON. */
      *content_type = "text/html; charset=utf-8";
      return g_bytes_new_static (jq_status_page, sizeof jq_status_page - 1);
    }
  if (what == JQ_STATUS_ICON)
    {
      *content_type = "image/svg+xml";
      return g_bytes_new_static (icon, sizeof icon - 1);
    }
  g_return_val_if_fail (what == JQ_STATUS_JSON || what == JQ_STATUS_METRICS,
                        NULL);
  Snapshot s = {
    .st = st, .full = what == JQ_STATUS_JSON,
    .next = g_array_new (FALSE, FALSE, sizeof (Waiting)),
    .depth = g_array_new (FALSE, FALSE, sizeof (DepthSlot)),
  };
  g_array_set_clear_func (s.next, waiting_clear);
  if (!jq_door_call (st->door, snapshot_on_loop, &s, error))
    {
      snapshot_clear (&s);
      return NULL;
    }
  GString *out = g_string_sized_new (4096);
  if (what == JQ_STATUS_JSON)
    {
      *content_type = "application/json";
      render_json (&s, out);
    }
  else
    {
      *content_type = "text/plain; version=0.0.4; charset=utf-8";
      jq_metrics_render (st->metrics, &s.gauges, out);
    }
  snapshot_clear (&s);
  return g_string_free_to_bytes (out);
}
