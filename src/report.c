/* Error reports through a command. */
#include "report.h"

#include <gio/gio.h>

struct _JqReporter {
  const JqConfig *config;
  JqLog          *log;
  char          **argv;        /* report_command, split as a shell would */
  guint           in_a_row;    /* consecutive failed jobs */
  guint           sent;
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

typedef struct {
  JqReporter *reporter;       /* only for the log; outlives its reports */
  char       *subject;
} Sending;

static void
on_report_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Sending *s = user_data;
  GSubprocess *p = G_SUBPROCESS (source);
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (p, res, NULL, NULL, &error))
    jq_log_write (s->reporter->log, JQ_LOG_WARNING,
                  "Error report \"%s\" not sent: %s", s->subject,
                  error->message);
  else if (!g_subprocess_get_successful (p))
    jq_log_write (s->reporter->log, JQ_LOG_WARNING,
                  "Error report \"%s\": the report command failed (status "
                  "%d)", s->subject, g_subprocess_get_status (p));
  g_object_unref (p);
  g_free (s->subject);
  g_free (s);
}

void
jq_reporter_send (JqReporter *r, const char *subject, const char *body)
{
  if (r->argv == NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE
      | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "BOTS_JOBQUEUE_SUBJECT", subject,
                                TRUE);
  GSubprocess *p = g_subprocess_launcher_spawnv (
      launcher, (const char *const *) r->argv, &error);
  if (p == NULL)
    {
      jq_log_write (r->log, JQ_LOG_WARNING, "Error report \"%s\" not sent: "
                    "%s", subject, error->message);
      return;
    }
  g_autofree char *message = g_strdup_printf (
      "To: %s\nSubject: %s\n\n%s\n",
      r->config->report_to ? r->config->report_to : "root", subject, body);
  Sending *s = g_new0 (Sending, 1);
  s->reporter = r;
  s->subject = g_strdup (subject);
  r->sent++;
  jq_log_write (r->log, JQ_LOG_INFO, "Sending error report: %s", subject);
  g_subprocess_communicate_utf8_async (p, message, NULL, on_report_done, s);
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

guint
jq_reporter_get_sent (JqReporter *r)
{
  return r->sent;
}

void
jq_reporter_free (JqReporter *r)
{
  if (r == NULL)
    return;
  g_strfreev (r->argv);
  g_free (r);
}
