/* The leader's fence (fence.h): a thread that ends this server's jobs at
 * its lease's deadline, whatever the main loop is doing.
 *
 * Why a thread: the main loop ends a lost lead's job itself (cluster.c
 * steps down at half a lease), but a libpq call may hold the loop (a
 * reconnect waits up to connect_timeout, 2 s), and a job that outlives
 * the lease may run beside the new leader's run of it.  This thread
 * only waits on a condition variable and, past the deadline, reads
 * /proc and calls kill(): it touches none of the loop's state.
 *
 * Which processes: the children of this process that lead their own
 * process group in its session, and those groups.  runner.c starts
 * every job so (and a job's own process, leading its group, cannot make
 * a session of its own); the server's other children (report commands)
 * stay in its own group, and the jobs' guardian (guardian.c) leads a
 * session of its own: the fence once killed it, and the server had none
 * until it noticed (an outside test).  A
 * child that has exited but is not yet reaped keeps its pid, so its
 * group cannot be another's.  Not covered: a job's descendant that left
 * the group with setsid() (the loop's termination finds it by its
 * marks), and a job adopted from before a restart (not a child). */
#include "build-config.h"

#include "fence.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _JqFence {
  GThread    *thread;
  GMutex      lock;
  GCond       changed;
  gint64      deadline_us;   /* monotonic; 0: unarmed.  Under lock */
  gboolean    quit;          /* under lock */
  guint       killed;        /* under lock: since jq_fence_take_killed */
  guint       fired_id;      /* under lock: the idle that tells the loop */
  GSourceFunc fired;
  gpointer    fired_data;
};

/* The parent, the process group and the session of @pid, from
 * /proc/PID/stat. */
static gboolean
read_stat (const char *proc_root, const char *pid, int *ppid, int *pgrp,
           int *session)
{
  g_autofree char *path = g_build_filename (proc_root, pid, "stat", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  /* "pid (comm) state ppid pgrp ...": comm may hold spaces and ')' */
  const char *end = strrchr (text, ')');
  char state;
  return end != NULL
         && sscanf (end + 1, " %c %d %d %d", &state, ppid, pgrp,
                    session) == 4;
}

guint
jq_fence_kill_children (const char *proc_root)
{
  DIR *dir = opendir (proc_root);
  if (dir == NULL)
    return 0;
  int self = (int) getpid ();
  int own_session = (int) getsid (0);
  guint killed = 0;
  struct dirent *e;
  while ((e = readdir (dir)) != NULL)
    {
      int ppid, pgrp, session;
      if (!g_ascii_isdigit (e->d_name[0])
          || !read_stat (proc_root, e->d_name, &ppid, &pgrp, &session))
        continue;
      int pid = atoi (e->d_name);
      if (ppid == self && pgrp == pid && session == own_session
          && kill (-pid, SIGKILL) == 0)
        killed++;
    }
  closedir (dir);
  return killed;
}

/* On the loop: the owner's callback, once. */
static gboolean
on_fired (gpointer data)
{
  JqFence *f = data;
  g_mutex_lock (&f->lock);
  f->fired_id = 0;
  g_mutex_unlock (&f->lock);
  f->fired (f->fired_data);
  return G_SOURCE_REMOVE;
}

static gpointer
watch (gpointer data)
{
  JqFence *f = data;
  g_mutex_lock (&f->lock);
  while (!f->quit)
    {
      if (f->deadline_us == 0)
        {
          g_cond_wait (&f->changed, &f->lock);
          continue;
        }
      if (g_get_monotonic_time () < f->deadline_us)
        {
          g_cond_wait_until (&f->changed, &f->lock, f->deadline_us);
          continue;
        }
      f->deadline_us = 0;
      /* The loop hears of it before the killed jobs' ends: it steps
       * down first, and records none of them as finished. */
      if (f->fired != NULL && f->fired_id == 0)
        f->fired_id = g_idle_add_full (G_PRIORITY_HIGH, on_fired, f, NULL);
      g_mutex_unlock (&f->lock);
      guint n = jq_fence_kill_children ("/proc");
      g_mutex_lock (&f->lock);
      f->killed += n;
    }
  g_mutex_unlock (&f->lock);
  return NULL;
}

JqFence *
jq_fence_new (GSourceFunc fired, gpointer data)
{
  JqFence *f = g_new0 (JqFence, 1);
  g_mutex_init (&f->lock);
  g_cond_init (&f->changed);
  f->fired = fired;
  f->fired_data = data;
  f->thread = g_thread_new ("jq-fence", watch, f);
  return f;
}

void
jq_fence_arm (JqFence *f, gint64 deadline_us)
{
  g_mutex_lock (&f->lock);
  f->deadline_us = deadline_us;
  g_cond_signal (&f->changed);
  g_mutex_unlock (&f->lock);
}

guint
jq_fence_take_killed (JqFence *f)
{
  g_mutex_lock (&f->lock);
  guint n = f->killed;
  f->killed = 0;
  g_mutex_unlock (&f->lock);
  return n;
}

void
jq_fence_free (JqFence *f)
{
  if (f == NULL)
    return;
  g_mutex_lock (&f->lock);
  f->quit = TRUE;
  g_cond_signal (&f->changed);
  g_mutex_unlock (&f->lock);
  g_thread_join (f->thread);
  g_clear_handle_id (&f->fired_id, g_source_remove);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->changed);
  g_free (f);
}
