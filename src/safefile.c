/* The server's own files in botssys, never reached through a link.
 *
 * A server started as root gives up root before it opens anything in
 * botssys (src/privdrop.h), so a link planted there acts with the rights
 * of the user who planted it.  These checks hold the line even so, and
 * for a server that was never root: whatever is opened is the regular
 * file it claims to be, and ours.  The check is made on the opened
 * descriptor (fstat), so nothing can be swapped between look and use. */
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* "bots (uid 1001)", or "uid 1234" for a uid without a user. */
static char *
describe_uid (uid_t uid)
{
  struct passwd *pw = getpwuid (uid);
  return pw != NULL
    ? g_strdup_printf ("%s (uid %u)", pw->pw_name, (unsigned) uid)
    : g_strdup_printf ("uid %u", (unsigned) uid);
}

/* Why @st, found at @path, is not a file of ours; NULL when it is. */
static char *
refusal (const struct stat *st, const char *path)
{
  if (S_ISLNK (st->st_mode))
    return g_strdup ("it is a symbolic link, which the server never "
                     "follows there; remove the link");
  if (!S_ISREG (st->st_mode))
    return g_strdup ("it is not a regular file");
  if (st->st_uid != geteuid ())
    {
      g_autofree char *owner = describe_uid (st->st_uid);
      g_autofree char *self = describe_uid (geteuid ());
      return g_strdup_printf ("it is owned by %s, not by %s, the user the "
                              "server runs as (left by a server run as "
                              "another user? chown it to that user, or "
                              "remove it)", owner, self);
    }
  return NULL;
}

static void
set_refused (GError **error, const char *what, const char *path,
             const char *why)
{
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "refusing the %s %s: %s", what,
               path, why);
}

int
jq_safefile_open (const char *path, int flags, mode_t mode, const char *what,
                  GError **error)
{
  int fd = open (path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0)
    {
      int saved = errno;
      struct stat st;
      /* O_NOFOLLOW says ELOOP for a link: say which. */
      if (saved == ELOOP && lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
        {
          g_autofree char *why = refusal (&st, path);
          set_refused (error, what, path, why);
        }
      else
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot open %s %s: %s",
                     what, path, g_strerror (saved));
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot look at %s %s: %s",
                   what, path, g_strerror (saved));
      close (fd);
      return -1;
    }
  g_autofree char *why = refusal (&st, path);
  if (why != NULL)
    {
      set_refused (error, what, path, why);
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
jq_safefile_check (const char *path, const char *what, GError **error)
{
  struct stat st;
  if (lstat (path, &st) != 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        return TRUE;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot look at %s %s: %s",
                   what, path, g_strerror (saved));
      return FALSE;
    }
  g_autofree char *why = refusal (&st, path);
  if (why != NULL)
    set_refused (error, what, path, why);
  return why == NULL;
}

gboolean
jq_safefile_check_dir (const char *dir, const char *what, GError **error)
{
  struct stat st;
  if (stat (dir, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot look at %s %s: %s",
                   what, dir, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      set_refused (error, what, dir, "it is not a folder");
      return FALSE;
    }
  if (st.st_uid != geteuid () && st.st_uid != 0)
    {
      g_autofree char *owner = describe_uid (st.st_uid);
      g_autofree char *self = describe_uid (geteuid ());
      g_autofree char *why = g_strdup_printf (
          "it is owned by %s, not by %s, the user the server runs as; "
          "chown it to that user", owner, self);
      set_refused (error, what, dir, why);
      return FALSE;
    }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    {
      g_autofree char *why = g_strdup_printf (
          "other users can write in it (mode %04o), and could put links "
          "there for the files the server opens by name; chmod go-w it",
          (unsigned) (st.st_mode & 07777));
      set_refused (error, what, dir, why);
      return FALSE;
    }
  return TRUE;
}
