/* Who made a call: the user behind a connection (peer.h found the uid),
 * named for the log and judged for the admin steps. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
  gboolean known;       /* FALSE: the kernel did not say (another host) */
  uid_t    uid;         /* valid when known */
  gboolean own;         /* the server's own user: Bots' own callers */
  gboolean admin;       /* may steer every job, pause, resume, clear */
  char     label[96];   /* for the log: "user NAME", "uid N", or "an
                         * unknown caller at ADDRESS" */
} JqCaller;

/* Fills @caller for @uid (@known) or, unknown, for a caller at @address
 * (nullable numeric text).  Looks the name up in the user database; sets
 * own (the process's effective uid now) and admin as root and own only
 * (the server applies [jobqueue] admin_users and admin_group on top). */
void jq_caller_init (JqCaller *caller, gboolean known, uid_t uid,
                     const char *address);

/* The server itself, for calls that do not come over a connection
 * (tests, jq_rpc_process). */
void jq_caller_init_self (JqCaller *caller);

/* The suffix every change's log line ends with: " (by user NAME)"; ""
 * for a NULL caller, and for the server's own user when @bots_line (a
 * line Bots itself writes, kept word for word for Bots' own callers). */
const char *jq_caller_suffix (const JqCaller *caller, gboolean bots_line,
                              char *buf, gsize size);
