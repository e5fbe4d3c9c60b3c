/* Error reports through a command. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <unistd.h>

#include "task.h"

/* At most REPORT_BURST reports per REPORT_WINDOW_S seconds: 300 jobs that
 * could not start sent 301 mails in 5 s.  The rest of a window is counted
 * and told in one report when the window ends. */
#define REPORT_BURST 10
#define REPORT_WINDOW_S 60

struct _JqReporter {
  const JqConfig *config;
  JqLog          *log;
  char          **argv;        /* report_command, split as a shell would */
  guint           in_a_row;    /* consecutive failed jobs */
  guint           sent;        /* in this window */
  guint           held;        /* held back in this window */
  char           *first_held;  /* the first held back report's subject */
  guint           window_id;   /* ends the window */
};

JqReporter *
jq_reporter_new (const JqConfig *config, JqLog *log)
{
  JqReporter *r = g_new0 (JqReporter, 1);
  r->config = config;
  r->log = log;
  if (config->send_reports && config->report_command != NULL)
    r->argv = g_strdupv (config->report_command);
  return r;
}

/* One report on its way: the message is written to the command's stdin
 * while the command runs; both ends are watched by the main loop.  (GLib's
 * spawn and fd watches do this without GIO, which would add about 1 MB of
 * libraries to the server's resident size for this alone.) */
typedef struct {
  JqReporter *reporter;       /* only for the log; outlives its reports */
  char       *subject;
  char       *message;
  gsize       written;
  int         stdin_fd;       /* -1 once closed */
  guint       pending;        /* 2: the writing and the process */
} Sending;

static void
sending_unref (Sending *s)
{
  if (--s->pending > 0)
    return;
  g_free (s->subject);
  g_free (s->message);
  g_free (s);
}

static void
stop_writing (Sending *s, int error_number)
{
  if (error_number != 0)
    jq_log_write (s->reporter->log, JQ_LOG_WARNING,
                  "Error report \"%s\" not sent: %s", s->subject,
                  g_strerror (error_number));
  close (s->stdin_fd);
  s->stdin_fd = -1;
  sending_unref (s);
}

/* Writes what the pipe takes; TRUE while there is more to write. */
static gboolean
write_some (Sending *s)
{
  gsize len = strlen (s->message);
  while (s->written < len)
    {
      ssize_t n = write (s->stdin_fd, s->message + s->written,
                         len - s->written);
      if (n > 0)
        s->written += (gsize) n;
      else if (errno == EAGAIN)
        return TRUE;
      else if (errno != EINTR)
        {
          stop_writing (s, errno);
          return FALSE;
        }
    }
  stop_writing (s, 0);
  return FALSE;
}

static gboolean
on_stdin_ready (int fd, GIOCondition condition, gpointer user_data)
{
  return write_some (user_data) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
on_report_exit (GPid pid, int wait_status, gpointer user_data)
{
  Sending *s = user_data;
  g_autoptr (GError) error = NULL;
  if (!g_spawn_check_wait_status (wait_status, &error))
    jq_log_write (s->reporter->log, JQ_LOG_WARNING,
                  "Error report \"%s\": the report command failed (%s)",
                  s->subject, error->message);
  g_spawn_close_pid (pid);
  sending_unref (s);
}

static void spawn_report (JqReporter *r, const char *subject,
                          const char *body);

static gboolean
on_window_end (gpointer data)
{
  JqReporter *r = data;
  r->window_id = 0;
  r->sent = 0;
  if (r->held > 0)
    {
      g_autofree char *subject = g_strdup_printf (
          "[bots-jobqueue] %u more error reports in %d seconds", r->held,
          REPORT_WINDOW_S);
      g_autofree char *body = g_strdup_printf (
          "%u error reports were not sent one by one (at most %d are sent "
          "in %d seconds); the first of them: %s.  See the job queue log "
          "for each.", r->held, REPORT_BURST, REPORT_WINDOW_S,
          r->first_held);
      r->held = 0;
      g_clear_pointer (&r->first_held, g_free);
      r->sent = 1;
      r->window_id = g_timeout_add_seconds (REPORT_WINDOW_S, on_window_end,
                                            r);
      spawn_report (r, subject, body);
    }
  return G_SOURCE_REMOVE;
}

void
jq_reporter_send (JqReporter *r, const char *subject, const char *body)
{
  if (r->argv == NULL)
    return;
  if (r->window_id == 0)
    r->window_id = g_timeout_add_seconds (REPORT_WINDOW_S, on_window_end, r);
  if (r->sent >= REPORT_BURST)
    {
      if (r->held++ == 0)
        {
          r->first_held = g_strdup (subject);
          jq_log_write (r->log, JQ_LOG_WARNING, "More than %d error reports "
                        "in %d seconds; the rest are counted and told in "
                        "one report when the time is up.", REPORT_BURST,
                        REPORT_WINDOW_S);
        }
      return;
    }
  r->sent++;
  spawn_report (r, subject, body);
}

static void
spawn_report (JqReporter *r, const char *subject, const char *body)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (),
                                          "BOTS_JOBQUEUE_SUBJECT", subject,
                                          TRUE);
  GPid pid;
  int stdin_fd = -1;
  if (!g_spawn_async_with_pipes (NULL, r->argv, envp,
                                 G_SPAWN_SEARCH_PATH
                                 | G_SPAWN_DO_NOT_REAP_CHILD
                                 | G_SPAWN_STDOUT_TO_DEV_NULL
                                 | G_SPAWN_STDERR_TO_DEV_NULL,
                                 NULL, NULL, &pid, &stdin_fd, NULL, NULL,
                                 &error))
    {
      jq_log_write (r->log, JQ_LOG_WARNING, "Error report \"%s\" not sent: "
                    "%s", subject, error->message);
      return;
    }
  g_unix_set_fd_nonblocking (stdin_fd, TRUE, NULL);  /* a new pipe */
  Sending *s = g_new0 (Sending, 1);
  s->reporter = r;
  s->subject = g_strdup (subject);
  s->message = g_strdup_printf (
      "To: %s\nSubject: %s\n\n%s\n",
      r->config->report_to ? r->config->report_to : "root", subject, body);
  s->stdin_fd = stdin_fd;
  s->pending = 2;
  jq_log_write (r->log, JQ_LOG_INFO, "Sending error report: %s", subject);
  g_child_watch_add (pid, on_report_exit, s);
  if (write_some (s))
    g_unix_fd_add (stdin_fd, G_IO_OUT | G_IO_ERR | G_IO_HUP, on_stdin_ready,
                   s);
}

void
jq_reporter_count (JqReporter *r, gboolean failed)
{
  guint limit = r->config->report_failures_in_a_row;
  r->in_a_row = failed ? r->in_a_row + 1 : 0;
  if (limit > 0 && r->in_a_row == limit)
    {
      g_autofree char *subject = g_strdup_printf (
          "[bots-jobqueue] %u jobs in a row failed", limit);
      jq_reporter_send (r, subject, "The last jobs the Bots job queue ran "
                        "all failed; see the job queue log for each.");
    }
}

static void
report_job (JqReporter *r, JqJob *job, const char *what, const char *detail)
{
  g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
  g_autofree char *subject = g_strdup_printf ("[bots-jobqueue] Job %"
                                              G_GUINT64_FORMAT " %s",
                                              jq_job_get_number (job), what);
  g_autofree char *body = g_strdup_printf ("Job %" G_GUINT64_FORMAT " %s.\n"
                                           "Task: %s\n%s",
                                           jq_job_get_number (job), what,
                                           task, detail ? detail : "");
  jq_reporter_send (r, subject, body);
}

void
jq_reporter_timed_out (JqReporter *r, JqJob *job)
{
  g_autofree char *what = g_strdup_printf (
      "exceeded maxruntime of %u minutes", r->config->maxruntime_minutes);
  report_job (r, job, what, r->config->kill_jobs_in_timeout
              ? "It is being terminated (killjobsintimeout).\n" : NULL);
}

void
jq_reporter_failed (JqReporter *r, JqJob *job, int exit_code)
{
  if (!r->config->report_failed_jobs)
    return;
  g_autofree char *what = g_strdup_printf ("failed with exit code %d",
                                           exit_code);
  report_job (r, job, what, "Its output is in the job queue log.\n");
}

void
jq_reporter_start_failed (JqReporter *r, JqJob *job, const char *why)
{
  report_job (r, job, "could not be started", why);
}

void
jq_reporter_free (JqReporter *r)
{
  if (r == NULL)
    return;
  g_clear_handle_id (&r->window_id, g_source_remove);
  if (r->held > 0)
    jq_log_write (r->log, JQ_LOG_WARNING, "%u error reports held back were "
                  "not sent (the server stopped).", r->held);
  g_free (r->first_held);
  g_strfreev (r->argv);
  g_free (r);
}
