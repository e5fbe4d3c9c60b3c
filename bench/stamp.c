/* A trivial job for make bench's launch-gap figure: appends its start and
 * end times (CLOCK_MONOTONIC, ns) to the file named by argv[1]. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "now-ns.h"

int
main (int argc, char **argv)
{
  long long start = now_ns ();
  char line[64];
  if (argc < 2)
    return 2;
  int fd = open (argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0)
    return 1;
  int n = snprintf (line, sizeof line, "%lld %lld\n", start, now_ns ());
  ssize_t w = write (fd, line, (size_t) n);
  close (fd);
  return w == n ? 0 : 1;
}
