/* The guardian (guardian.h).  One pipe: each job's process writes its
 * pid, positive, before its exec; the server writes the pid negated when
 * the job has ended.  The guardian holds the only read end and no write
 * end, so when the server dies (however) the kernel closes the server's
 * end and the guardian reads end of file: it kills every group still
 * listed and exits.  Records are 4 bytes, so each write is atomic.  The
 * guardian is forked from a threaded process: it calls only
 * async-signal-safe functions until it exits, on memory allocated
 * before the fork. */
#include "build-config.h"

#include "guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

/* More jobs at once than nr_threads ever allows; beyond it a job is not
 * guarded (its own process still dies with the server). */
#define GUARDED_MAX 4096

struct _JqGuardian {
  pid_t pid;
  int   fd;      /* the write end; close-on-exec */
};

G_GNUC_NORETURN static void
guard (int fd, pid_t *groups)
{
  gsize n = 0;
  gint32 record;
  for (;;)
    {
      ssize_t got = read (fd, &record, sizeof record);
      if (got < 0 && errno == EINTR)
        continue;
      if (got != (ssize_t) sizeof record)
        break;                          /* end of file: the server is gone */
      if (record > 0 && n < GUARDED_MAX)
        groups[n++] = record;
      else if (record < 0)
        for (gsize i = 0; i < n; i++)
          if (groups[i] == -record)
            {
              groups[i] = groups[--n];
              break;
            }
    }
  for (gsize i = 0; i < n; i++)
    kill (-groups[i], SIGKILL);
  _exit (0);
}

JqGuardian *
jq_guardian_start (GError **error)
{
  int fds[2];
  if (pipe2 (fds, O_CLOEXEC) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot make the jobs' guardian a pipe: %s",
                   g_strerror (saved));
      return NULL;
    }
  pid_t *groups = g_new (pid_t, GUARDED_MAX);
  pid_t pid = fork ();
  if (pid == 0)
    {
      /* Its own group, out of the terminal's and the server's signals;
       * nothing open but its end of the pipe. */
      setpgid (0, 0);
      signal (SIGINT, SIG_IGN);
      signal (SIGTERM, SIG_IGN);
      signal (SIGHUP, SIG_IGN);
      signal (SIGQUIT, SIG_IGN);
      close (fds[1]);
      if (fds[0] > 0)
        syscall (SYS_close_range, 0U, (unsigned) fds[0] - 1, 0U);
      syscall (SYS_close_range, (unsigned) fds[0] + 1, ~0U, 0U);
      guard (fds[0], groups);
    }
  int saved = errno;
  g_free (groups);
  close (fds[0]);
  if (pid < 0)
    {
      close (fds[1]);
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot start the jobs' guardian: %s", g_strerror (saved));
      return NULL;
    }
  JqGuardian *g = g_new0 (JqGuardian, 1);
  g->pid = pid;
  g->fd = fds[1];
  return g;
}

int
jq_guardian_fd (const JqGuardian *g)
{
  return g->fd;
}

gboolean
jq_guardian_enlist_self (int fd)
{
  gint32 record = (gint32) syscall (SYS_getpid);
  return write (fd, &record, sizeof record) == (ssize_t) sizeof record;
}

void
jq_guardian_release (JqGuardian *g, pid_t pgid)
{
  gint32 record = -(gint32) pgid;
  /* A guardian that died cannot be told; the job has ended anyway. */
  if (write (g->fd, &record, sizeof record) != (ssize_t) sizeof record)
    return;
}

void
jq_guardian_free (JqGuardian *g)
{
  if (g == NULL)
    return;
  close (g->fd);
  while (waitpid (g->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  g_free (g);
}
