/* Limits the admin API (doc/admin-api.md) sets for both its sides: the
 * server refuses beyond them, and the admin tool says so before asking. */
#pragma once

/* history(limit): the most rows one call returns. */
#define JQ_HISTORY_MAX_LIMIT 100000

/* wait(number, timeout): the longest one call waits, in seconds (a day). */
#define JQ_WAIT_MAX_SECONDS 86400

/* The fault of every call made while the server stops: the admin tool
 * tells it from a refusal (its jobs are kept, not removed). */
#define JQ_SHUTTING_DOWN "the job queue server is shutting down"
