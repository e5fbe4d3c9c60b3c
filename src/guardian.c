/* The guardian (guardian.h).  One socket pair (SOCK_SEQPACKET: one
 * message per send, and end of file once every other end is closed).
 * Each job's process, before its exec, sends its pid with a pidfd of
 * itself (SCM_RIGHTS); the server sends the pid negated when the job has
 * ended.  The guardian holds the only end of its side, so when the
 * server dies (however) the kernel closes the server's end and the
 * guardian reads end of file: it kills every group still listed and
 * exits.
 *
 * A group is named by its leader's pidfd, never by its number: the
 * signal goes to the process group of that very process
 * (PIDFD_SIGNAL_PROCESS_GROUP), which lives as long as any member does
 * and whose number cannot be reused meanwhile.  A number alone could
 * name a stranger's group by then: a job whose exec failed was never
 * released, a job that ended while the server died had its pid reaped
 * before it could be released (an outside test: a group made later with
 * the failed job's pid was killed with the server).  On a kernel without
 * that flag (before Linux 6.9) the number is signalled only while the
 * leader's pidfd says it has not been reaped, which holds the number too.
 *
 * The guardian is forked from a threaded process: it calls only
 * async-signal-safe functions until it exits, on memory allocated
 * before the fork. */
#include "build-config.h"

#include "guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1U << 2)   /* Linux 6.9 */
#endif

/* More jobs at once than nr_threads ever allows; beyond it a job is not
 * guarded (its own process still dies with the server). */
#define GUARDED_MAX 4096

struct _JqGuardian {
  pid_t pid;
  int   fd;      /* the server's end; close-on-exec */
};

typedef struct {
  pid_t pid;
  int   pidfd;
} Guarded;

/* @sig to the process group led by @g's process, and to no other. */
static int
signal_group (const Guarded *g, int sig)
{
  if (syscall (SYS_pidfd_send_signal, g->pidfd, sig, NULL,
               PIDFD_SIGNAL_PROCESS_GROUP) == 0)
    return 0;
  if (errno != EINVAL)
    return -1;
  /* An older kernel: the number is the group's while its leader is not
   * reaped (a zombie still holds it). */
  if (syscall (SYS_pidfd_send_signal, g->pidfd, 0, NULL, 0) != 0)
    return -1;
  return kill (-g->pid, sig);
}

static void
forget (Guarded *groups, gsize *n, gsize i)
{
  close (groups[i].pidfd);
  groups[i] = groups[--*n];
}

/* The server says @pid's job has ended.  A pid may be listed twice (a
 * job's number reused by the next one before the first's end was
 * told): the one whose process has ended goes. */
static void
release (Guarded *groups, gsize *n, pid_t pid)
{
  gsize found = *n;
  for (gsize i = 0; i < *n; i++)
    if (groups[i].pid == pid)
      {
        struct pollfd p = { .fd = groups[i].pidfd, .events = POLLIN };
        found = i;
        if (poll (&p, 1, 0) == 1)
          break;
      }
  if (found < *n)
    forget (groups, n, found);
}

/* Room for one more: the groups that have no member left go. */
static void
make_room (Guarded *groups, gsize *n)
{
  for (gsize i = 0; i < *n;)
    if (signal_group (&groups[i], 0) != 0 && errno == ESRCH)
      forget (groups, n, i);
    else
      i++;
}

/* One message: a pid with its pidfd (a job enlisting), or a pid negated
 * (its end).  FALSE at end of file: the server is gone. */
static gboolean
receive (int fd, Guarded *groups, gsize *n)
{
  gint32 record = 0;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } control;
  struct iovec iov = { .iov_base = &record, .iov_len = sizeof record };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  ssize_t got = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
  if (got < 0)
    return errno == EINTR || errno == ENOBUFS || errno == ETOOMANYREFS;
  if (got == 0)
    return FALSE;
  int pidfd = -1;
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS
      && c->cmsg_len == CMSG_LEN (sizeof (int)))
    memcpy (&pidfd, CMSG_DATA (c), sizeof pidfd);
  if (record < 0)
    release (groups, n, -record);
  if (record <= 0 || pidfd < 0 || got != (ssize_t) sizeof record)
    {
      if (pidfd >= 0)
        close (pidfd);
      return TRUE;
    }
  if (*n == GUARDED_MAX)
    make_room (groups, n);
  if (*n < GUARDED_MAX)
    groups[(*n)++] = (Guarded) { .pid = record, .pidfd = pidfd };
  else
    close (pidfd);
  return TRUE;
}

G_GNUC_NORETURN static void
guard (int fd, Guarded *groups)
{
  gsize n = 0;
  while (receive (fd, groups, &n))
    ;
  for (gsize i = 0; i < n; i++)
    signal_group (&groups[i], SIGKILL);
  _exit (0);
}

JqGuardian *
jq_guardian_start (GError **error)
{
  int fds[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "cannot make the jobs' guardian a socket: %s",
                   g_strerror (saved));
      return NULL;
    }
  Guarded *groups = g_new (Guarded, GUARDED_MAX);
  pid_t pid = fork ();
  if (pid == 0)
    {
      /* Its own session (so its own group), out of the terminal's and
       * the server's group's signals, and not a job to the fence
       * (fence.c); nothing open but its end of the socket. */
      setsid ();
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

pid_t
jq_guardian_pid (const JqGuardian *g)
{
  return g->pid;
}

/* Sends @record with @pidfd, never blocking and never raising SIGPIPE:
 * a guardian that is gone or does not read cannot be told, and must
 * not hold up a job's start or the server's loop. */
static gboolean
send_record (int fd, gint32 record, int pidfd)
{
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } control;
  struct iovec iov = { .iov_base = &record, .iov_len = sizeof record };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (pidfd >= 0)
    {
      memset (&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &pidfd, sizeof pidfd);
    }
  ssize_t sent;
  do
    sent = sendmsg (fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  return sent == (ssize_t) sizeof record;
}

gboolean
jq_guardian_enlist_self (int fd)
{
  pid_t self = (pid_t) syscall (SYS_getpid);
  int pidfd = (int) syscall (SYS_pidfd_open, self, 0U);
  if (pidfd < 0)
    return FALSE;
  gboolean sent = send_record (fd, (gint32) self, pidfd);
  close (pidfd);
  return sent;
}

gboolean
jq_guardian_enlist (JqGuardian *g, int pidfd, pid_t pid)
{
  return send_record (g->fd, (gint32) pid, pidfd);
}

void
jq_guardian_release (JqGuardian *g, pid_t pgid)
{
  /* A guardian that died cannot be told; the job has ended anyway. */
  send_record (g->fd, -(gint32) pgid, -1);
}

void
jq_guardian_free (JqGuardian *g, gboolean reap)
{
  if (g == NULL)
    return;
  close (g->fd);
  while (reap && waitpid (g->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  g_free (g);
}
