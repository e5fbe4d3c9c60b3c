/* Failure injection for the integration tests (see faults.h). */
#include "faults.h"

#include <signal.h>
#include <unistd.h>

#define CRASH_AFTER_START_ENV "BOTS_JOBQUEUE_TEST_CRASH_AFTER_START"
#define MAXRUNTIME_IN_SECONDS_ENV "BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS"

static guint64 crash_after_start;

static void
crash_after (JqJob *job, gpointer data)
{
  if (jq_job_get_number (job) == crash_after_start)
    kill (getpid (), SIGKILL);
}

void
jq_faults_install (JqRunnerSettings *settings)
{
  const char *crash = g_getenv (CRASH_AFTER_START_ENV);
  crash_after_start = crash ? g_ascii_strtoull (crash, NULL, 10) : 0;
  if (crash_after_start != 0)
    settings->after_spawn = crash_after;
  /* Tests of maxruntime cannot wait minutes. */
  if (g_strcmp0 (g_getenv (MAXRUNTIME_IN_SECONDS_ENV), "1") == 0)
    settings->maxruntime_ms = settings->maxruntime_minutes * 1000;
}
