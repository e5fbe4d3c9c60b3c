/* The guardian of a shared queue's jobs: a small process that outlives
 * the server by a moment and kills the process groups of the jobs that
 * were running when the server died.  A job's own process gets a
 * parent-death signal; the processes it started (a wrapper's engine) do
 * not, and on a cluster the next leader, maybe on another host, would run
 * the job again beside them (doc/durability.md, "Failover"). */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct _JqGuardian JqGuardian;

/* Forks the guardian; NULL and @error set when it cannot. */
JqGuardian *jq_guardian_start (GError **error);

/* The descriptor a job's process writes its pid (its process group) to,
 * with jq_guardian_enlist_self(), between fork and exec. */
int jq_guardian_fd (const JqGuardian *g);

/* Async-signal-safe, for the job's process before its exec: enlists its
 * own process group.  FALSE when the guardian cannot be told. */
gboolean jq_guardian_enlist_self (int fd);

/* The job whose process group is @pgid has ended: its group is no
 * longer killed when the server dies. */
void jq_guardian_release (JqGuardian *g, pid_t pgid);

/* Ends the guardian (the groups still enlisted are killed: a server that
 * stops has ended its jobs already) and reaps it.  NULL is ignored. */
void jq_guardian_free (JqGuardian *g);
