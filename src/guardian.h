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

/* The descriptor a job's process enlists its process group through,
 * with jq_guardian_enlist_self(), between fork and exec. */
int jq_guardian_fd (const JqGuardian *g);

/* The guardian's process, for a child watch: a guardian that ended (a
 * kill of its own) is replaced by the server. */
pid_t jq_guardian_pid (const JqGuardian *g);

/* Async-signal-safe, for the job's process before its exec: enlists its
 * own process group, by a pidfd of itself.  Never blocks.  FALSE when
 * the guardian cannot be told. */
gboolean jq_guardian_enlist_self (int fd);

/* Enlists the group of a job already running, @pid (the group's leader)
 * through @pidfd, which stays the caller's: for a new guardian. */
gboolean jq_guardian_enlist (JqGuardian *g, int pidfd, pid_t pid);

/* The job whose process group is @pgid has ended: its group is no
 * longer killed when the server dies. */
void jq_guardian_release (JqGuardian *g, pid_t pgid);

/* Ends the guardian (the groups still enlisted are killed: a server that
 * stops has ended its jobs already) and, with @reap, reaps it (without:
 * it was reaped already).  NULL is ignored. */
void jq_guardian_free (JqGuardian *g, gboolean reap);
