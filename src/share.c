/* Each user's share of the connections (share.h). */
#include "share.h"

#include <stdlib.h>

guint
jq_share_per_user (guint max_conn, guint percent)
{
  guint64 share = (guint64) max_conn * MIN (percent, 100) / 100;
  return (guint) MAX (share, 1);
}

/* By uid, then the longest idle first. */
static gint
by_uid_then_idle (gconstpointer a, gconstpointer b)
{
  const JqShareConn *x = a, *y = b;
  if (x->uid != y->uid)
    return x->uid < y->uid ? -1 : 1;
  return x->idle_ms > y->idle_ms ? -1 : x->idle_ms < y->idle_ms ? 1 : 0;
}

guint
jq_share_plan (JqShareConn *conns, guint n, guint per_user, guint32 *uid)
{
  guint cut = 0, most = 0;
  if (n > 0)
    qsort (conns, n, sizeof *conns, by_uid_then_idle);
  for (guint start = 0; start < n;)
    {
      guint end = start;
      while (end < n && conns[end].uid == conns[start].uid)
        end++;
      guint held = end - start;
      guint over = held > per_user ? held - per_user : 0;
      for (guint i = start; i < end; i++)
        conns[i].cut = i - start < over;
      if (over > most)
        {
          most = over;
          if (uid != NULL)
            *uid = conns[start].uid;
        }
      cut += over;
      start = end;
    }
  return cut;
}
