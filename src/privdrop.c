/* Whom the server runs as, and giving up root for good.
 *
 * botssys belongs to the Bots user, who can put links in it.  A server
 * that stayed root would open its lock file, log and journal through them
 * (emptying a root file, or creating /etc/ld.so.preload and writing
 * callers' text into it).  So a server started as root, once its ports
 * are bound, becomes the owner of botssys, the user that Bots' own
 * processes (GUI, dirmonitor, engine) run as: a link then reaches only
 * what that user could reach anyway.  A botssys that root owns has no
 * other user to become, and no other user can put links in it: the
 * server stays root there, and says so in the log. */
#include "build-config.h"

#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "runas.h"

/* The owner of @path, or of its nearest existing parent. */
static gboolean
owner_of (const char *path, uid_t *uid, char **found, GError **error)
{
  g_autofree char *at = g_strdup (path);
  struct stat st;
  while (stat (at, &st) != 0)
    {
      int saved = errno;
      g_autofree char *parent = g_path_get_dirname (at);
      if (saved != ENOENT || strcmp (parent, at) == 0)
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                       "cannot learn who owns botssys %s: %s", at,
                       g_strerror (saved));
          return FALSE;
        }
      g_free (at);
      at = g_steal_pointer (&parent);
    }
  *uid = st.st_uid;
  *found = g_steal_pointer (&at);
  return TRUE;
}

static void
set_user (JqRunAs *out, const struct passwd *pw, char *why)
{
  out->uid = pw->pw_uid;
  out->gid = pw->pw_gid;
  out->name = g_strdup (pw->pw_name);
  out->why = why;
  out->drop = pw->pw_uid != 0;
}

/* Started as a user other than root: that user stays. */
static gboolean
choose_unprivileged (const char *user, JqRunAs *out, GError **error)
{
  out->uid = geteuid ();
  out->gid = getegid ();
  if (user == NULL)
    return TRUE;
  struct passwd *pw = getpwnam (user);
  if (pw == NULL || pw->pw_uid != geteuid ())
    {
      struct passwd *self = getpwuid (geteuid ());
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] user = \"%s\", but the server was started "
                   "as %s, and only a server started as root can become "
                   "another user; start it as root or as %s%s", user,
                   self ? self->pw_name : "another user", user,
                   pw ? "" : " (which is no user of this system)");
      return FALSE;
    }
  return TRUE;
}

/* Whom a file of the Bots installation lets choose the user: the first
 * owner other than root of the files, the links and the folders on the
 * way to @path (runas.h), or root. */
static uid_t
controller_of (const char *path)
{
  const char *const paths[] = { path, NULL };
  JqUser who;
  if (!jq_runas_path_user (paths, &who, NULL))
    return 0;
  return who.uid;
}

/* @how: "the owner of" or "the user who controls" (a link or a folder on
 * the way is theirs, the file itself root's). */
static gboolean
set_user_by_uid (uid_t uid, const char *how, const char *what, JqRunAs *out,
                 GError **error)
{
  struct passwd *pw = getpwuid (uid);
  if (pw == NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "%s belongs to uid %u, which is no user of this system; "
                   "set [jobqueue] user to the user the server and its jobs "
                   "run as", what, (unsigned) uid);
      return FALSE;
    }
  set_user (out, pw, g_strdup_printf ("%s %s", how, what));
  return TRUE;
}

/* [jobqueue] user, from a bots.ini that @ini_owner controls: only a
 * bots.ini that root controls may name another user than its owner
 * (root above all), or the Bots user could make the server and its jobs
 * run as root by editing the file it owns. */
static gboolean
choose_named (const char *user, const char *botssys, uid_t ini_owner,
              const char *ini_path, JqRunAs *out, GError **error)
{
  struct passwd *pw = getpwnam (user);
  if (pw == NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] user = \"%s\" is no user of this system "
                   "(not found by getpwnam); name the user that owns "
                   "botssys %s", user, botssys);
      return FALSE;
    }
  if (ini_owner != 0 && pw->pw_uid != ini_owner)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_CONFIG,
                   "[jobqueue] user = \"%s\", but %s is controlled by uid "
                   "%u (the file, a link or a folder on its way): only a "
                   "bots.ini that root alone controls may name another user "
                   "than its owner; remove the key, or give the file and its "
                   "folders to root", user, ini_path, (unsigned) ini_owner);
      return FALSE;
    }
  set_user (out, pw, g_strdup ("[jobqueue] user"));
  return TRUE;
}

gboolean
jq_privdrop_choose (const char *user, const char *ini_path,
                    const char *botssys, JqRunAs *out, GError **error)
{
  *out = (JqRunAs) { 0 };
  if (geteuid () != 0)
    return choose_unprivileged (user, out, error);
  uid_t ini_owner = ini_path != NULL ? controller_of (ini_path) : 0;
  if (user != NULL)
    return choose_named (user, botssys, ini_owner, ini_path, out, error);
  uid_t owner;
  g_autofree char *found = NULL;
  if (!owner_of (botssys, &owner, &found, error))
    return FALSE;
  const char *how = "the owner of";
  /* A root folder that is really a link of the Bots user's (or lies in a
   * folder of theirs) is theirs. */
  if (owner == 0 && (owner = controller_of (botssys)) != 0)
    {
      g_free (found), found = g_strdup (botssys);
      how = "the user who controls (a link or a folder on the way)";
    }
  /* A bots.ini that another user controls decides botssys, the tasks
   * authorized and more: the server never runs as anyone else for it. */
  if (ini_owner != 0 && owner != ini_owner)
    return set_user_by_uid (ini_owner, "the user who controls", ini_path,
                            out, error);
  return set_user_by_uid (owner, how, found, out, error);
}

gboolean
jq_privdrop_drop (const JqRunAs *who, GError **error)
{
  const char *step = NULL;
  if (!jq_runas_drop (who->name, who->uid, who->gid, &step))
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot become user %s (uid %u, gid %u), %s: %s: %s",
                   who->name, (unsigned) who->uid, (unsigned) who->gid,
                   who->why, step, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

void
jq_privdrop_clear (JqRunAs *who)
{
  g_clear_pointer (&who->name, g_free);
  g_clear_pointer (&who->why, g_free);
}
