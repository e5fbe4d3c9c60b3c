/* Doing work as another user: a child that drops to that user. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "runas.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

/* The largest file src/ownedfile.c reads through a child (a wheel's
 * RECORD), and the byte that says how the read went. */
#define OUT_LIMIT (4 * 1024 * 1024 + 1)

void
jq_runas_user (uid_t uid, gid_t fallback_gid, JqUser *user)
{
  struct passwd *pw = getpwuid (uid);
  user->uid = uid;
  user->gid = pw != NULL ? pw->pw_gid : fallback_gid;
}

gboolean
jq_runas_needed (const JqUser *user)
{
  return geteuid () == 0 && user->uid != 0;
}

/* Whether every id of this process is @uid's and @gid's, and root cannot
 * be had back by any of them. */
static gboolean
root_is_gone (uid_t uid, gid_t gid)
{
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid (&ru, &eu, &su) != 0 || getresgid (&rg, &eg, &sg) != 0)
    return FALSE;
  if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid
      || sg != gid)
    return FALSE;
  return setuid (0) != 0 && seteuid (0) != 0 && setgid (0) != 0
         && setegid (0) != 0;
}

gboolean
jq_runas_drop (const char *name, uid_t uid, gid_t gid, const char **step)
{
  /* Groups first: once the uid is dropped they cannot be changed. */
  if ((name != NULL ? initgroups (name, gid) : setgroups (0, NULL)) != 0)
    *step = name != NULL ? "initgroups" : "setgroups";
  else if (setresgid (gid, gid, gid) != 0)
    *step = "setresgid";
  else if (setresuid (uid, uid, uid) != 0)
    *step = "setresuid";
  else if (!root_is_gone (uid, gid))
    {
      *step = "checking that root cannot be regained";
      errno = EPERM;
    }
  else
    return TRUE;
  return FALSE;
}

gboolean
jq_runas_become (const JqUser *user)
{
  if (!jq_runas_needed (user))
    return TRUE;
  struct passwd *pw = getpwuid (user->uid);
  g_autofree char *name = pw != NULL ? g_strdup (pw->pw_name) : NULL;
  g_autofree char *home = pw != NULL ? g_strdup (pw->pw_dir) : NULL;
  const char *step = NULL;
  if (!jq_runas_drop (name, user->uid, user->gid, &step))
    return FALSE;
  g_setenv ("HOME", home != NULL ? home : "/", TRUE);
  if (name != NULL)
    {
      g_setenv ("USER", name, TRUE);
      g_setenv ("LOGNAME", name, TRUE);
    }
  return TRUE;
}

/* The child's side: become the user, send stdout to @fd (>= 0), run. */
static G_NORETURN void
child_run (const JqUser *user, JqRunasFunc func, gpointer data, int fd)
{
  if (!jq_runas_become (user))
    {
      fprintf (stderr, "bots-jobqueue-switch: cannot become user %u: %s\n",
               (unsigned) user->uid, g_strerror (errno));
      _exit (125);
    }
  if (fd >= 0 && dup2 (fd, STDOUT_FILENO) < 0)
    _exit (125);
  int rc = func (data);
  fflush (stdout);
  fflush (stderr);
  _exit (rc & 0xff);
}

/* Reads @fd into @out until end of file or @deadline (monotonic us, 0 =
 * none).  FALSE on time-out. */
static gboolean
read_all (int fd, GString *out, gint64 deadline)
{
  char buf[4096];
  for (;;)
    {
      int wait_ms = -1;
      if (deadline > 0)
        {
          gint64 left = deadline - g_get_monotonic_time ();
          if (left <= 0)
            return FALSE;
          wait_ms = (int) MIN (left / 1000 + 1, G_MAXINT);
        }
      struct pollfd p = { .fd = fd, .events = POLLIN };
      int n = poll (&p, 1, wait_ms);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        return FALSE;
      ssize_t got = read (fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return TRUE;
      if (out->len < OUT_LIMIT)
        g_string_append_len (out, buf, MIN ((gsize) got, OUT_LIMIT - out->len));
    }
}

static int
wait_child (pid_t pid, GError **error)
{
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "waitpid: %s", g_strerror (errno));
        return -1;
      }
  if (WIFEXITED (status) && WEXITSTATUS (status) != 125)
    return WEXITSTATUS (status);
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s",
               WIFEXITED (status) ? "the child could not become the user"
                                  : "the child was killed");
  return -1;
}

int
jq_runas_call (const JqUser *user, JqRunasFunc func, gpointer data,
               GString *out, int timeout_ms, GError **error)
{
  int fds[2] = { -1, -1 };
  if (out != NULL && pipe2 (fds, O_CLOEXEC) != 0)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "pipe: %s", g_strerror (errno));
      return -1;
    }
  fflush (stdout);
  fflush (stderr);
  pid_t pid = fork ();
  if (pid < 0)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "fork: %s", g_strerror (errno));
      if (out != NULL)
        close (fds[0]), close (fds[1]);
      return -1;
    }
  if (pid == 0)
    child_run (user, func, data, fds[1]);
  if (out == NULL)
    return wait_child (pid, error);
  close (fds[1]);
  gint64 deadline = timeout_ms > 0
    ? g_get_monotonic_time () + (gint64) timeout_ms * 1000 : 0;
  gboolean done = read_all (fds[0], out, deadline);
  close (fds[0]);
  if (!done)
    kill (pid, SIGKILL);
  int rc = wait_child (pid, error);
  if (!done)
    {
      g_clear_error (error);
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "no answer within %d seconds", timeout_ms / 1000);
      return -1;
    }
  return rc;
}

/* Whether @st lets others than its owner change what is there. */
static gboolean
writable_by_others (const struct stat *st)
{
  if (S_ISLNK (st->st_mode))
    return FALSE;
  if (S_ISDIR (st->st_mode) && (st->st_mode & S_ISVTX))
    return FALSE;
  return (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* Walks @path from its end to / (lstat of each prefix), noting the first
 * owner that is not root into *@uid (when still 0) and a prefix
 * writable by others into *@shared (when still NULL). */
static void
walk_owners (const char *path, uid_t *uid, gid_t *gid, char **shared)
{
  g_autofree char *p = g_strdup (path);
  while (p[0] == '/')
    {
      struct stat st;
      if (lstat (p, &st) == 0)
        {
          if (*uid == 0 && st.st_uid != 0)
            *uid = st.st_uid, *gid = st.st_gid;
          if (*shared == NULL && writable_by_others (&st))
            *shared = g_strdup (p);
        }
      char *slash = strrchr (p, '/');
      if (slash == p)
        {
          if (p[1] == '\0')
            break;
          p[1] = '\0';
        }
      else
        *slash = '\0';
    }
}

/* Walks every link of the chain @path leads through, as written, and
 * the folder each of them is in, links resolved: a root-owned link may
 * lead to another user's link, which that user can point anywhere, and
 * neither @path as written nor its end (realpath) shows that middle
 * link.  At most 40 links, as the kernel follows. */
static void
walk_link_chain (const char *path, uid_t *uid, gid_t *gid, char **shared)
{
  g_autofree char *p = g_strdup (path);
  for (int hop = 0; hop < 40 && p[0] == '/'; hop++)
    {
      walk_owners (p, uid, gid, shared);
      g_autofree char *dir = g_path_get_dirname (p);
      g_autofree char *real_dir = realpath (dir, NULL);
      if (real_dir != NULL)
        walk_owners (real_dir, uid, gid, shared);
      struct stat st;
      if (lstat (p, &st) != 0 || !S_ISLNK (st.st_mode))
        return;
      g_autofree char *target = g_file_read_link (p, NULL);
      if (target == NULL)
        return;
      char *next = g_path_is_absolute (target)
                   ? g_strdup (target)
                   : g_build_filename (real_dir ? real_dir : dir, target, NULL);
      g_free (p);
      p = next;
    }
}

gboolean
jq_runas_path_user (const char *const *paths, JqUser *who, GError **error)
{
  if (geteuid () != 0)
    {
      *who = (JqUser) { geteuid (), getegid () };
      return TRUE;
    }
  uid_t uid = 0;
  gid_t gid = 0;
  g_autofree char *shared = NULL;
  for (gsize i = 0; paths[i] != NULL; i++)
    {
      struct stat st;
      if (uid == 0 && stat (paths[i], &st) == 0 && st.st_uid != 0)
        uid = st.st_uid, gid = st.st_gid;
      g_autofree char *real = realpath (paths[i], NULL);
      if (real != NULL)
        walk_owners (real, &uid, &gid, &shared);
      if (g_path_is_absolute (paths[i]))
        walk_link_chain (paths[i], &uid, &gid, &shared);
    }
  if (uid != 0)
    {
      jq_runas_user (uid, gid, who);
      return TRUE;
    }
  if (shared != NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                   "%s is root's but others may write to it; run this as the user "
                   "who owns the Bots installation", shared);
      return FALSE;
    }
  *who = (JqUser) { 0, 0 };
  return TRUE;
}
