/* Failure injection for the integration tests, built only into
 * tests/bots-jobqueueserver-faults (server.c compiled with
 * -DJQ_FAULT_INJECTION); the installed server carries none of it. */
#pragma once

#include "runner.h"

/* Reads BOTS_JOBQUEUE_TEST_CRASH_AFTER_START (a job number): the server
 * then kills itself (SIGKILL) right after starting that job, before the
 * start is committed, so that a test can land a crash in that window of
 * a few milliseconds. */
/* BOTS_JOBQUEUE_MAXRUNTIME_IN_SECONDS=1: bots.ini's maxruntime counts
 * seconds instead of minutes. */
void jq_faults_install (JqRunnerSettings *settings);
