/* File descriptors as a budget (see fdbudget.h). */
#include "fdbudget.h"

#include <sys/resource.h>

JqFdBudget
jq_fdbudget_plan (guint64 limit, guint64 was, guint nr_threads,
                  guint other_conn, guint per_conn, guint max_conn)
{
  JqFdBudget b = { .limit = limit, .was = was };
  per_conn = MAX (per_conn, 1);
  guint64 kept = JQ_FDBUDGET_SERVER
                 + (guint64) nr_threads * JQ_FDBUDGET_PER_JOB;
  guint64 left = limit > kept ? limit - kept : 0;
  if (other_conn > 0)
    b.other_connections = (guint) CLAMP (left / per_conn / 4, 1, other_conn);
  b.reserve = kept + (guint64) b.other_connections * per_conn;
  left = limit > b.reserve ? limit - b.reserve : 0;
  b.connections = (guint) CLAMP (left / per_conn, 1, MAX (max_conn, 1));
  return b;
}

JqFdBudget
jq_fdbudget_take (guint nr_threads, guint other_conn, guint per_conn,
                  guint max_conn)
{
  struct rlimit lim;
  if (getrlimit (RLIMIT_NOFILE, &lim) != 0)
    return jq_fdbudget_plan (1024, 1024, nr_threads, other_conn, per_conn,
                             max_conn);
  guint64 was = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max)
    {
      struct rlimit raised = lim;
      raised.rlim_cur = lim.rlim_max;
      /* An infinite hard limit is refused for NOFILE (above
       * /proc/sys/fs/nr_open): the soft limit then stays. */
      if (setrlimit (RLIMIT_NOFILE, &raised) == 0)
        lim.rlim_cur = lim.rlim_max;
    }
  return jq_fdbudget_plan (lim.rlim_cur, was, nr_threads, other_conn,
                           per_conn, max_conn);
}
