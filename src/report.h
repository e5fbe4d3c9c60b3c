/* Error reports: what Bots mails to its administrators, handed to a
 * command of the administrator's choosing (a sendmail, a script). */
#pragma once

#include <glib.h>

#include "config.h"
#include "log.h"
#include "job.h"

typedef struct _JqReporter JqReporter;

/* A reporter following @config: it sends only when [settings]
 * sendreportiferror is true and [jobqueue] report_command is set.
 * @config and @log must outlive it. */
JqReporter *jq_reporter_new (const JqConfig *config, JqLog *log);

/* Runs the report command with the message on its standard input
 * ("To:", "Subject:", a blank line, @body) and the subject also in
 * $BOTS_JOBQUEUE_SUBJECT.  Asynchronous; a command that cannot start or
 * fails is logged as a warning and otherwise ignored. */
void jq_reporter_send (JqReporter *reporter, const char *subject,
                       const char *body);

/* Counts a job's outcome for the "failed in a row" report: @failed TRUE
 * for a failure.  Sends that report when the run of failures reaches
 * [jobqueue] report_failures_in_a_row. */
void jq_reporter_count (JqReporter *reporter, gboolean failed);

/* The reports about one job (their wording lives here): it passed its
 * maxruntime, it ended with a non-zero @exit_code (sent only when
 * [jobqueue] report_failed_jobs is on), or it could not be started. */
void jq_reporter_timed_out (JqReporter *reporter, JqJob *job);
void jq_reporter_failed (JqReporter *reporter, JqJob *job, int exit_code);
void jq_reporter_start_failed (JqReporter *reporter, JqJob *job,
                               const char *why);

void jq_reporter_free (JqReporter *reporter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqReporter, jq_reporter_free)
