/* The server's lock file. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "safefile.h"

int
jq_lockfile_acquire (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0750);
  /* Never through a link, and only a file of ours (safefile.h). */
  int fd = jq_safefile_open (path, O_RDWR | O_CREAT, 0640, "lock file",
                             error);
  if (fd < 0)
    return -1;
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      char holder[32] = "";
      ssize_t n = pread (fd, holder, sizeof holder - 1, 0);
      holder[n > 0 ? n : 0] = '\0';
      g_strstrip (holder);
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "another bots-jobqueueserver (process %s) is using %s; "
                   "only one server may run per botssys",
                   holder[0] ? holder : "unknown", dir);
      close (fd);
      return -1;
    }
  char pid[32];
  int len = g_snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
  /* The pid is a note for people; the lock holds without it, so a note
   * that cannot be written is left out. */
  gboolean noted = ftruncate (fd, 0) == 0 && pwrite (fd, pid, len, 0) == len;
  (void) noted;
  return fd;
}

gboolean
jq_lockfile_check (int fd, const char *path, GError **error)
{
  struct stat held, now;
  if (fd < 0 || fstat (fd, &held) != 0)
    return TRUE;                 /* nothing known to compare */
  if (g_lstat (path, &now) == 0 && now.st_dev == held.st_dev
      && now.st_ino == held.st_ino && held.st_nlink > 0)
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
               "lock file %s was deleted or replaced while the server ran: "
               "a second server could start on the same botssys and run "
               "jobs next to this one", path);
  return FALSE;
}

void
jq_lockfile_release (int fd)
{
  if (fd >= 0)
    close (fd);
}
