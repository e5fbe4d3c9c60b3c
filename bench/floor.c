/* The machine's floor for make bench's launch gap: starts a stamp job N
 * times back to back with nothing but vfork(), execve() and waitpid(),
 * the least any job queue can do between one job and the next on this
 * kernel.  The gap it gives beside the server's, in the same minute,
 * splits the server's figure into what the server itself adds and what
 * the kernel (the process's end, its start) and the stamp's own start-up
 * cost whoever launches it (doc/performance.md).
 *
 * usage: floor N STAMP FILE [BUSY_US]: runs STAMP FILE I for I in
 * 0..N-1, each after the previous one has been reaped; exits 1 when one
 * fails.  With BUSY_US, the parent computes for that long after each
 * vfork() returns, as the server does its work after a spawn (the
 * watches, the commit of the moves): how much that delays the job's
 * first instruction (doc/performance.md, "The launch gap, sixth
 * round"). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "now-ns.h"

extern char **environ;

int
main (int argc, char **argv)
{
  if ((argc != 4 && argc != 5) || atoi (argv[1]) <= 0)
    {
      fprintf (stderr, "usage: floor N STAMP FILE [BUSY_US]\n");
      return 2;
    }
  int n = atoi (argv[1]);
  long long busy_ns = argc == 5 ? atoll (argv[4]) * 1000 : 0;
  for (int i = 0; i < n; i++)
    {
      char number[16];
      snprintf (number, sizeof number, "%d", i);
      char *args[] = { argv[2], argv[3], number, NULL };
      pid_t pid = vfork ();
      if (pid == 0)
        {
          execve (argv[2], args, environ);
          _exit (127);
        }
      for (long long until = now_ns () + busy_ns; busy_ns > 0 && now_ns () < until;)
        ;
      int status;
      if (pid < 0 || waitpid (pid, &status, 0) != pid
          || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
        {
          fprintf (stderr, "floor: run %d of %s failed\n", i, argv[2]);
          return 1;
        }
    }
  return 0;
}
