/* Doing work as another user, so that root never acts on files, nor runs
 * programs, that another user controls (issue 19).
 *
 * A child process drops to the user (supplementary groups, group, user,
 * in that order, and checks that root cannot be regained) and does the
 * work there; the kernel then refuses whatever that user may not do, so
 * no link the user planted can lead root anywhere. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
  uid_t uid;
  gid_t gid;      /* the user's own group (passwd), else the file's */
} JqUser;

/* @user for @uid: the group of its passwd entry, else @fallback_gid (a
 * uid without an entry, e.g. a file of a removed user). */
void jq_runas_user (uid_t uid, gid_t fallback_gid, JqUser *user);

/* Whether running as @user means changing identity: this process is root
 * and @user is not. */
gboolean jq_runas_needed (const JqUser *user);

/* Becomes @user for good when jq_runas_needed(): supplementary groups of
 * its passwd entry (none without one), group, user; then HOME, USER and
 * LOGNAME are the user's.  FALSE (errno set) when any step fails or root
 * could be regained; the caller must then not go on. */
gboolean jq_runas_become (const JqUser *user);

/* Gives up root for good: the groups of user @name (none when NULL), then
 * group @gid and user @uid, real, effective and saved; then checks that
 * root cannot be regained.  FALSE (errno set, *@step naming the step that
 * failed) when any step fails; the caller must then not go on. */
gboolean jq_runas_drop (const char *name, uid_t uid, gid_t gid,
                        const char **step);

typedef int (*JqRunasFunc) (gpointer data);

/* Runs @func (@data) in a child process that has become @user (see
 * jq_runas_become; a plain child when not needed), and returns its
 * result (0..255).  The child's standard output goes into @out when
 * non-NULL (at most 4 MiB and a byte kept), else to ours.  @timeout_ms > 0: a child
 * still running then is killed.  -1 and @error set when the child cannot
 * be started, cannot become @user, is killed or times out. */
int jq_runas_call (const JqUser *user, JqRunasFunc func, gpointer data,
                   GString *out, int timeout_ms, GError **error);

/* Who runs a program made of the files @paths (NULL-terminated; e.g. a
 * script and its interpreter) when root would: the owner of the first of
 * them, or of a link or folder on their way (deepest first, links
 * resolved and as written, every link of a chain of links too), that is
 * not root.  Root only when all of it
 * is root's and no folder on the way is writable by group or others
 * without the sticky bit, nor any of the files: FALSE and @error set
 * then, naming the path.  Not root: this process's own user. */
gboolean jq_runas_path_user (const char *const *paths, JqUser *who, GError **error);
