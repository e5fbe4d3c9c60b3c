/* A server started as root binds its ports, then runs as the user who owns
 * botssys (or [jobqueue] user) for good: it never opens a file in botssys
 * as root, and its jobs run as that user, as Bots' own processes do. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
  gboolean drop;   /* started as root and gives it up for @uid */
  uid_t    uid;
  gid_t    gid;    /* @name's primary group */
  char    *name;   /* the user's name; NULL when not started as root */
  char    *why;    /* how @name was chosen, for the log */
} JqRunAs;

/* Decides whom the server runs as.  Started as root: the user named by
 * @user ([jobqueue] user, nullable; only a bots.ini @ini_path that root
 * alone controls may name a user other than its owner), else the user
 * who controls @ini_path when not root, else the owner of @botssys (of its
 * nearest existing parent while it does not exist yet); root itself when
 * @user is "root" or when botssys belongs to root (@drop FALSE then).
 * Started as another user: that user, and @user, when set, must name it.
 * FALSE and sets @error when @user is no user of this system, botssys
 * belongs to a uid without a user, or @user cannot be become.  Free @out
 * with jq_privdrop_clear(). */
gboolean jq_privdrop_choose (const char *user, const char *ini_path,
                             const char *botssys, JqRunAs *out,
                             GError **error);

/* Gives up root for @who's user for good: its groups (initgroups), its
 * group and its user (real, effective and saved), then checks that root
 * cannot be regained.  Call after binding the ports, before any thread is
 * started or any file in botssys is opened.  FALSE and sets @error when
 * any step fails; the caller must then exit. */
gboolean jq_privdrop_drop (const JqRunAs *who, GError **error);

void jq_privdrop_clear (JqRunAs *who);
