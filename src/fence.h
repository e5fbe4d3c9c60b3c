/* The leader's fence: its jobs end before its lease can run out, even
 * when the main loop is held (a libpq call waiting on a silent network,
 * a reconnect).  A thread of its own waits for the deadline that each
 * renewal pushes on, and at that moment kills (SIGKILL) the process
 * group of every child of this server that leads a group of its own:
 * the jobs, which runner.c starts so.  doc/durability.md ("Fencing")
 * gives the argument and the clock assumptions. */
#pragma once

#include <glib.h>

typedef struct _JqFence JqFence;

/* Starts the thread, unarmed.  When it has killed something, @fired
 * is called on the main loop (default context) at G_PRIORITY_HIGH, so
 * before the child watches report the killed jobs' ends. */
JqFence *jq_fence_new (GSourceFunc fired, gpointer data);

/* Sets the deadline (monotonic, g_get_monotonic_time's microseconds);
 * 0 disarms.  Any thread. */
void jq_fence_arm (JqFence *fence, gint64 deadline_us);

/* How many job groups the fence has killed since the last call (main
 * loop: for the log). */
guint jq_fence_take_killed (JqFence *fence);

/* Kills the process group of every child of this process that leads
 * its own group in this process's session (not the jobs' guardian, which
 * leads a session of its own); returns how many.  @proc_root is "/proc" but for
 * tests. */
guint jq_fence_kill_children (const char *proc_root);

/* Stops the thread (a deadline not yet reached kills nothing). */
void jq_fence_free (JqFence *fence);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqFence, jq_fence_free)
