/* The launch gap's stamp without the C library, for make bench: like
 * bench/stamp.c it appends its start and end times (CLOCK_MONOTONIC, ns)
 * to the file named by argv[1], but the start is read by its very first
 * instructions and the end just before it exits.  A static glibc program
 * runs its own start-up first (CPU feature probes, tunables, TLS, its
 * relocations) and its exit handlers last: on a virtual machine where
 * each probe and page fault leaves the guest, that alone took about as
 * long as the server's own part of the gap (doc/performance.md).  This
 * one measures what the issue asks: from one job's last instruction to
 * the next one's first.  x86-64 Linux only (configure builds it there). */
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>

static long
sys3 (long number, long a, long b, long c)
{
  long r;
  __asm__ volatile ("syscall" : "=a" (r) : "a" (number), "D" (a), "S" (b),
                    "d" (c) : "rcx", "r11", "memory");
  return r;
}

static long long
now_ns (void)
{
  struct timespec ts;
  sys3 (SYS_clock_gettime, CLOCK_MONOTONIC, (long) &ts, 0);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Writes @v in decimal at @p; returns its length. */
static int
put_number (char *p, long long v)
{
  char digits[24];
  int n = 0, len = 0;
  do
    digits[n++] = (char) ('0' + v % 10);
  while ((v /= 10) > 0);
  while (n > 0)
    p[len++] = digits[--n];
  return len;
}

/* Called by _start below with the initial stack: argc, then argv. */
__attribute__ ((used, noreturn)) static void
stamp_main (long *stack)
{
  long long start = now_ns ();
  long argc = stack[0];
  char **argv = (char **) (stack + 1);
  long status = 2;
  if (argc >= 2)
    {
      long fd = sys3 (SYS_open, (long) argv[1],
                      O_WRONLY | O_APPEND | O_CREAT, 0644);
      status = 1;
      if (fd >= 0)
        {
          char line[64];
          int n = put_number (line, start);
          line[n++] = ' ';
          /* the write and close after this are the job's last work; the
           * end is read before them, as bench/stamp.c does */
          n += put_number (line + n, now_ns ());
          line[n++] = '\n';
          status = sys3 (SYS_write, fd, (long) line, n) == n ? 0 : 1;
          sys3 (SYS_close, fd, 0, 0);
        }
    }
  sys3 (SYS_exit_group, status, 0, 0);
  __builtin_unreachable ();
}

__asm__ (".globl _start\n"
         "_start:\n"
         "  mov %rsp, %rdi\n"
         "  and $-16, %rsp\n"
         "  call stamp_main\n"
         "  hlt\n");
