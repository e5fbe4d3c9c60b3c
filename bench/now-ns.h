/* The bench programs' clock: CLOCK_MONOTONIC in ns, the clock the
 * stamps write and bench.py compares. */
#pragma once

#include <time.h>

static inline long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
