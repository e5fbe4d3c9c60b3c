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

/* Whether @caller may remove or reprioritise a job queued by uid @owner
 * (G_MAXUINT32: unknown): an admin may steer any, a known user its own.
 * A NULL caller is the server itself. */
gboolean jq_caller_may_steer (const JqCaller *caller, guint32 owner);

/* [jobqueue] admin_users and admin_group, resolved once. */
typedef struct _JqAdmins JqAdmins;

/* @users (names) and @group (a name, nullable).  Names not known to the
 * user or group database are ignored and appended, comma-separated, to
 * @unknown (nullable) for the start-up log. */
JqAdmins *jq_admins_new (const char *const *users, const char *group,
                         GString *unknown);

/* Whether @uid is one of the users or a member of the group (its primary
 * group or a supplementary one, as the group database says now). */
gboolean jq_admins_include (const JqAdmins *admins, uid_t uid);

void jq_admins_free (JqAdmins *admins);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqAdmins, jq_admins_free)

/* The suffix every change's log line ends with: " (by user NAME)"; ""
 * for a NULL caller, and for the server's own user when @bots_line (a
 * line Bots itself writes, kept word for word for Bots' own callers). */
const char *jq_caller_suffix (const JqCaller *caller, gboolean bots_line,
                              char *buf, gsize size);
