/* Load generator for make bench: N keep-alive connections, each sending
 * distinct addjob calls as fast as answers come, with per-call latency.
 *
 * Usage: loadgen PORT CONNECTIONS CALLS_PER_CONNECTION [TAG [PROGRAM]]
 * (PROGRAM: the task's program, bots-engine unless given)
 * Prints one line of JSON: calls, errors, seconds, per_second, p50_us,
 * p99_us, max_us. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int       port;
  int       id;
  long      calls;
  const char *tag;
  const char *program;
  uint32_t *latency_us;   /* calls entries */
  long      errors;
} Worker;

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
connect_to (int port)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (port) };
  int one = 1;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a) != 0)
    {
      perror ("loadgen: connect");
      exit (1);
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Reads one HTTP response; returns 1 when it says <int>0</int> or <i4>0,
 * 0 for another answer, -1 when the connection broke.  *closes is set
 * when the server closes the connection after this answer (HTTP/1.0 or
 * "Connection: close", as Python's standard XML-RPC server does): the
 * next call then opens a new connection, as a Python client would. */
static int
read_response (int fd, char *buf, size_t size, int *closes)
{
  size_t have = 0;
  char *body = NULL;
  long length = -1;
  for (;;)
    {
      ssize_t n = read (fd, buf + have, size - 1 - have);
      if (n <= 0)
        return -1;
      have += (size_t) n;
      buf[have] = '\0';
      if (body == NULL && (body = strstr (buf, "\r\n\r\n")) != NULL)
        {
          body += 4;
          char *cl = strcasestr (buf, "content-length:");
          length = cl ? strtol (cl + 15, NULL, 10) : 0;
          char *keep = strcasestr (buf, "connection:");
          *closes = strncmp (buf, "HTTP/1.0", 8) == 0
                    ? !(keep && keep < body
                        && strncasecmp (keep + 11 + strspn (keep + 11, " "),
                                        "keep-alive", 10) == 0)
                    : (keep && keep < body
                       && strncasecmp (keep + 11 + strspn (keep + 11, " "),
                                       "close", 5) == 0);
        }
      if (body != NULL && (long) (have - (size_t) (body - buf)) >= length)
        break;
    }
  return strstr (body, ">0</") != NULL;
}

static void *
work (void *arg)
{
  Worker *w = arg;
  char body[512], request[1024], reply[8192];
  int fd = connect_to (w->port);

  for (long i = 0; i < w->calls; i++)
    {
      int blen = snprintf (body, sizeof body,
        "<?xml version='1.0'?><methodCall><methodName>addjob</methodName>"
        "<params><param><value><array><data>"
        "<value><string>%s</string></value>"
        "<value><string>-c%s</string></value>"
        "<value><string>--run=%d-%ld</string></value>"
        "</data></array></value></param>"
        "<param><value><int>%ld</int></value></param></params></methodCall>",
        w->program, w->tag, w->id, i, 1 + i % 9);
      int rlen = snprintf (request, sizeof request,
        "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
        "Content-Length: %d\r\n\r\n%s", blen, body);
      uint64_t t0 = now_ns ();
      if (write (fd, request, (size_t) rlen) != rlen)
        {
          w->errors++;
          close (fd);
          fd = connect_to (w->port);
          continue;
        }
      int closes = 0;
      int ok = read_response (fd, reply, sizeof reply, &closes);
      w->latency_us[i] = (uint32_t) ((now_ns () - t0) / 1000);
      if (ok != 1)
        w->errors++;
      if (ok < 0 || closes)
        {
          close (fd);
          fd = connect_to (w->port);
        }
    }
  close (fd);
  return NULL;
}

static int
compare_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  if (argc < 4)
    {
      fprintf (stderr, "usage: loadgen PORT CONNECTIONS CALLS [TAG "
               "[PROGRAM]]\n");
      return 2;
    }
  int port = atoi (argv[1]), conns = atoi (argv[2]);
  long calls = atol (argv[3]);
  const char *tag = argc > 4 ? argv[4] : "bench";
  const char *program = argc > 5 ? argv[5] : "bots-engine";
  Worker *w = calloc ((size_t) conns, sizeof *w);
  pthread_t *t = calloc ((size_t) conns, sizeof *t);
  uint32_t *all = calloc ((size_t) (conns * calls), sizeof *all);

  uint64_t t0 = now_ns ();
  for (int i = 0; i < conns; i++)
    {
      w[i] = (Worker) { port, i, calls, tag, program,
                        all + (size_t) i * calls, 0 };
      pthread_create (&t[i], NULL, work, &w[i]);
    }
  long errors = 0;
  for (int i = 0; i < conns; i++)
    {
      pthread_join (t[i], NULL);
      errors += w[i].errors;
    }
  double seconds = (double) (now_ns () - t0) / 1e9;
  long n = conns * calls;
  qsort (all, (size_t) n, sizeof *all, compare_u32);
  printf ("{\"connections\": %d, \"calls\": %ld, \"errors\": %ld, "
          "\"seconds\": %.3f, \"per_second\": %.0f, \"p50_us\": %u, "
          "\"p99_us\": %u, \"max_us\": %u}\n", conns, n, errors, seconds,
          n / seconds, all[n / 2], all[(n * 99) / 100], all[n - 1]);
  free (all);
  free (t);
  free (w);
  return errors ? 1 : 0;
}
