/* Job marks in the environment, and finding marked jobs in /proc. */
#include "jobmark.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

GStrv
jq_jobmark_environ (const char *const *base, guint64 queue_id,
                    guint64 number)
{
  char id[17], job[21];
  g_snprintf (id, sizeof id, "%016" G_GINT64_MODIFIER "x", queue_id);
  g_snprintf (job, sizeof job, "%" G_GUINT64_FORMAT, number);
  GStrv env = g_strdupv ((char **) base);
  env = g_environ_setenv (env, JQ_JOBMARK_QUEUE_ENV, id, TRUE);
  return g_environ_setenv (env, JQ_JOBMARK_JOB_ENV, job, TRUE);
}

/* The fields of /proc/PID/stat that say what kind of process it is. */
typedef struct {
  char               state;
  int                pgrp;
  int                session;
  unsigned long long start_ticks;   /* since boot */
} ProcStat;

static gboolean
read_stat (const char *proc_root, int pid, ProcStat *out)
{
  g_autofree char *path = g_strdup_printf ("%s/%d/stat", proc_root, pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  /* The command may hold spaces and parentheses: parse after the last ')'.
   * Then: state ppid pgrp session ...; starttime is field 22. */
  const char *p = strrchr (text, ')');
  return p != NULL
         && sscanf (p + 1, " %c %*d %d %d %*d %*d %*u %*u %*u %*u %*u %*u "
                    "%*u %*d %*d %*d %*d %*d %*d %llu", &out->state,
                    &out->pgrp, &out->session, &out->start_ticks) == 4;
}

/* The value of @name in an environ file (NUL-separated entries). */
static const char *
environ_lookup (const char *data, gsize len, const char *name)
{
  gsize name_len = strlen (name);
  for (const char *p = data, *end = data + len; p < end;
       p += strnlen (p, end - p) + 1)
    if ((gsize) (end - p) > name_len && strncmp (p, name, name_len) == 0
        && p[name_len] == '=')
      return p + name_len + 1;
  return NULL;
}

/* The job number process @pid is marked with for @queue_id, or 0.  Only
 * our own user's processes count: jobs run as the server does, and a
 * server running as root must not wait for whatever another user started
 * with a copied mark. */
static guint64
marked_number (const char *proc_root, int pid, const char *queue_id)
{
  g_autofree char *dir = g_strdup_printf ("%s/%d", proc_root, pid);
  g_autofree char *path = g_build_filename (dir, "environ", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  GStatBuf st;
  if (g_stat (dir, &st) != 0 || st.st_uid != geteuid ()
      || !g_file_get_contents (path, &data, &len, NULL))
    return 0;
  /* g_file_get_contents adds a NUL: the last entry is terminated too. */
  const char *id = environ_lookup (data, len, JQ_JOBMARK_QUEUE_ENV);
  const char *job = environ_lookup (data, len, JQ_JOBMARK_JOB_ENV);
  guint64 number = 0;
  if (id == NULL || job == NULL || strcmp (id, queue_id) != 0
      || !g_ascii_string_to_unsigned (job, 10, 1, G_MAXUINT64, &number,
                                      NULL))
    return 0;
  return number;
}

/* Calls @visit for every live process of @proc_root that carries the
 * mark of queue @queue_id, with the job number it is marked with; with
 * @leaders_only, only a process-group leader that is not a session
 * leader counts (a job, not what it left behind after setsid()). */
static void
for_each_marked (const char *proc_root, guint64 queue_id,
                 gboolean leaders_only,
                 void (*visit) (int pid, guint64 number, gpointer data),
                 gpointer data)
{
  char id[17];
  g_snprintf (id, sizeof id, "%016" G_GINT64_MODIFIER "x", queue_id);
  g_autoptr (GDir) dir = g_dir_open (proc_root, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      guint64 pid = 0;
      ProcStat st;
      if (!g_ascii_string_to_unsigned (name, 10, 2, G_MAXINT, &pid, NULL)
          || !read_stat (proc_root, (int) pid, &st)
          || (leaders_only
              && (st.pgrp != (int) pid || st.session == (int) pid))
          || st.state == 'Z' || st.state == 'X')
        continue;
      guint64 number = marked_number (proc_root, (int) pid, id);
      if (number != 0)
        visit ((int) pid, number, data);
    }
}

static void
keep_leader (int pid, guint64 number, gpointer data)
{
  g_hash_table_replace (data, g_memdup2 (&number, sizeof number),
                        GINT_TO_POINTER (pid));
}

GHashTable *
jq_jobmark_find (const char *proc_root, guint64 queue_id)
{
  GHashTable *found = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                             g_free, NULL);
  for_each_marked (proc_root, queue_id, TRUE, keep_leader, found);
  return found;
}

typedef struct {
  guint64 number;   /* 0: every job's */
  GArray *pids;
} JobPids;

static void
keep_job_pid (int pid, guint64 number, gpointer data)
{
  JobPids *want = data;
  if (want->number == 0 || number == want->number)
    g_array_append_val (want->pids, pid);
}

GArray *
jq_jobmark_find_job (const char *proc_root, guint64 queue_id, guint64 number)
{
  JobPids want = { number, g_array_new (FALSE, FALSE, sizeof (int)) };
  for_each_marked (proc_root, queue_id, FALSE, keep_job_pid, &want);
  return want.pids;
}

guint64
jq_jobmark_number (const char *proc_root, int pid, guint64 queue_id)
{
  char id[17];
  g_snprintf (id, sizeof id, "%016" G_GINT64_MODIFIER "x", queue_id);
  return marked_number (proc_root, pid, id);
}

/* Seconds since @st's process started; FALSE when unknown. */
static gboolean
started_ago (const ProcStat *st, double *ago)
{
  g_autofree char *uptime_text = NULL;
  double uptime = 0;
  if (!g_file_get_contents ("/proc/uptime", &uptime_text, NULL, NULL)
      || sscanf (uptime_text, "%lf", &uptime) != 1)
    return FALSE;
  *ago = uptime - (double) st->start_ticks / sysconf (_SC_CLK_TCK);
  return TRUE;
}

int
jq_jobmark_process_group (const char *proc_root, int pid)
{
  ProcStat st;
  return read_stat (proc_root, pid, &st) ? st.pgrp : -1;
}

gboolean
jq_jobmark_is_same_process (int pid, gint64 started_us)
{
  ProcStat st;
  double ago = 0;
  if (pid <= 1 || started_us <= 0 || !read_stat ("/proc", pid, &st)
      || st.pgrp != pid || st.state == 'Z' || !started_ago (&st, &ago))
    return FALSE;
  double recorded_ago = (double) (g_get_real_time () - started_us) / 1e6;
  return ABS (ago - recorded_ago) < 2.0;
}

gint64
jq_jobmark_started_us (int pid)
{
  ProcStat st;
  double ago = 0;
  if (pid <= 1 || !read_stat ("/proc", pid, &st) || !started_ago (&st, &ago))
    return 0;
  return g_get_real_time () - (gint64) (ago * 1e6);
}
