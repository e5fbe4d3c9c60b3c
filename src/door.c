/* Calls from the Abyss threads into the main loop.
 *
 * Callers append to the open batch under a mutex; the first caller of a
 * batch wakes the loop through an eventfd the loop watches.  The loop then
 * takes the batch (later callers start a new one), runs it between the
 * batch hook's begin and end, and wakes that batch's callers.  When the
 * batch's end is dear (a commit that syncs), the calls that arrive while
 * it runs join it (jq_door_set_absorbing).  Nothing of the loop's state
 * is touched from another thread.
 *
 * A context switch is the dearest part of a call, so the callers' path
 * avoids every lock but the door's own: each call waits on a semaphore of
 * its own (a condition variable shared by all woke the callers of later
 * batches too, and one per batch woke its callers to queue up again on the
 * door's mutex), the loop is woken by a plain write instead of attaching a
 * GLib source (which takes the context's lock, contended by the loop
 * itself), and the loop's thread is remembered instead of asking
 * g_main_context_is_owner() (the same lock) on every call.  A semaphore,
 * not a mutex and condition pair, because the caller's stack frame holding
 * it may be gone the moment the caller sees it posted, and glibc's
 * sem_post() is safe against that. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "door.h"

#include <errno.h>
#include <glib-unix.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "protocol.h"

/* A batch takes in the calls that arrive while it runs up to this many
 * (a bound on the last one's wait; a commit of this many adds takes a
 * few milliseconds). */
#define MAX_BATCH_CALLS 512

typedef struct {
  JqDoorFunc func;
  gpointer   data;
  GError    *error;      /* set when the batch failed */
  sem_t      done;       /* posted once the call's batch is committed */
} Call;

struct _JqDoor {
  GMainContext   *context;
  GMutex          lock;
  GPtrArray      *open;         /* Call*, on the callers' stacks: the
                                 * batch taking calls; NULL when none */
  int             wake_fd;      /* eventfd: a batch is open */
  GSource        *wake_source;  /* the loop's watch on wake_fd */
  GThread        *loop_thread;  /* the thread that ran a batch; atomic */
  gboolean        closed;
  gboolean        absorbing;    /* calls join the running batch */
  JqDoorBatchHook hook;
  gpointer        hook_data;
  guint64         batches;      /* loop thread only */
};

static gboolean on_wake (int fd, GIOCondition condition, gpointer user_data);

JqDoor *
jq_door_new (GMainContext *context)
{
  JqDoor *door = g_new0 (JqDoor, 1);
  door->context = g_main_context_ref (context);
  g_mutex_init (&door->lock);
  door->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  /* Only at start-up, with a handful of descriptors open; GLib's own main
   * context aborts the same way when it cannot get its eventfd. */
  if (door->wake_fd < 0)
    g_error ("door: cannot create an eventfd: %s", g_strerror (errno));
  door->wake_source = g_unix_fd_source_new (door->wake_fd, G_IO_IN);
  g_source_set_callback (door->wake_source, G_SOURCE_FUNC (on_wake), door,
                         NULL);
  g_source_set_static_name (door->wake_source, "jq-door");
  /* GLib takes a source's descriptors out of the poll set while it is
   * dispatched, unless it may recurse, and puts them back after; each of
   * the two changes writes the context's wake-up descriptor, so every
   * batch cost two writes, a read and a loop turn more (issue 23).
   * on_wake() is never run again from inside itself: nothing in the
   * server iterates the loop's context but the loop. */
  g_source_set_can_recurse (door->wake_source, TRUE);
  g_source_attach (door->wake_source, context);
  return door;
}

void
jq_door_set_batch_hook (JqDoor *door, JqDoorBatchHook hook,
                        gpointer user_data)
{
  door->hook = hook;
  door->hook_data = user_data;
}

/* Moves the calls that arrived meanwhile into @calls, while it holds
 * fewer than MAX_BATCH_CALLS. */
static void
absorb (JqDoor *door, GPtrArray *calls)
{
  if (calls->len >= MAX_BATCH_CALLS)
    return;
  g_mutex_lock (&door->lock);
  g_autoptr (GPtrArray) more = g_steal_pointer (&door->open);
  /* Their first caller woke the loop for them: taken here, that wake-up
   * would find nothing.  Under the lock, so that it cannot be the next
   * batch's wake-up that is taken. */
  eventfd_t ignored;
  if (more != NULL)
    eventfd_read (door->wake_fd, &ignored);
  g_mutex_unlock (&door->lock);
  for (guint i = 0; more != NULL && i < more->len; i++)
    g_ptr_array_add (calls, more->pdata[i]);
}

/* Runs @calls in one batch.  With @absorbing, the calls that arrive while it
 * runs join it, so that they share its commit (and its sync) instead of
 * waiting for it and then paying for one of their own. */
static void
run_batch (JqDoor *door, GPtrArray *calls, gboolean absorbing)
{
  g_autoptr (GError) error = NULL;
  if (door->hook != NULL)
    door->hook (TRUE, door->hook_data, NULL);
  for (guint i = 0; i < calls->len; i++)
    {
      Call *call = calls->pdata[i];
      call->func (call->data);
      if (absorbing && i + 1 == calls->len)
        absorb (door, calls);
    }
  if (door->hook != NULL && !door->hook (FALSE, door->hook_data, &error))
    for (guint i = 0; i < calls->len; i++)
      ((Call *) calls->pdata[i])->error = g_error_copy (error);
  door->batches++;
}

static void
drain (JqDoor *door)
{
  g_atomic_pointer_set (&door->loop_thread, g_thread_self ());
  g_mutex_lock (&door->lock);
  g_autoptr (GPtrArray) calls = g_steal_pointer (&door->open);
  g_mutex_unlock (&door->lock);
  if (calls == NULL)
    return;

  run_batch (door, calls, door->absorbing);
  /* Not a single call may be touched after its post. */
  for (guint i = 0; i < calls->len; i++)
    sem_post (&((Call *) calls->pdata[i])->done);
}

static gboolean
on_wake (int fd, GIOCondition condition, gpointer user_data)
{
  eventfd_t ignored;
  eventfd_read (fd, &ignored);   /* non-blocking: resets the count */
  drain (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
refuse_closed (GError **error)
{
  g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
               JQ_SHUTTING_DOWN);
  return FALSE;
}

static gboolean
finish_call (Call *call, GError **error)
{
  if (call->error == NULL)
    return TRUE;
  g_propagate_error (error, call->error);
  return FALSE;
}

gboolean
jq_door_call (JqDoor *door, JqDoorFunc func, gpointer data, GError **error)
{
  Call call = { .func = func, .data = data };

  GThread *loop_thread = g_atomic_pointer_get (&door->loop_thread);
  if (loop_thread == g_thread_self ()
      || (loop_thread == NULL && g_main_context_is_owner (door->context)))
    {
      if (door->closed)
        return refuse_closed (error);
      g_autoptr (GPtrArray) one = g_ptr_array_new ();
      g_ptr_array_add (one, &call);
      run_batch (door, one, FALSE);
      return finish_call (&call, error);
    }

  g_mutex_lock (&door->lock);
  if (door->closed)
    {
      g_mutex_unlock (&door->lock);
      return refuse_closed (error);
    }
  if (door->open == NULL)
    {
      door->open = g_ptr_array_new ();
      eventfd_write (door->wake_fd, 1);
    }
  sem_init (&call.done, 0, 0);
  g_ptr_array_add (door->open, &call);
  g_mutex_unlock (&door->lock);
  while (sem_wait (&call.done) != 0)
    ;                    /* EINTR */
  sem_destroy (&call.done);
  return finish_call (&call, error);
}

void
jq_door_set_absorbing (JqDoor *door, gboolean absorbing)
{
  door->absorbing = absorbing;
}

guint
jq_door_get_waiting (JqDoor *door)
{
  g_mutex_lock (&door->lock);
  guint n = door->open != NULL ? door->open->len : 0;
  g_mutex_unlock (&door->lock);
  return n;
}

void
jq_door_close (JqDoor *door)
{
  g_mutex_lock (&door->lock);
  door->closed = TRUE;
  g_mutex_unlock (&door->lock);
  /* Whoever got in before the close still gets an answer. */
  drain (door);
}

guint64
jq_door_get_batches (JqDoor *door)
{
  return door->batches;
}

void
jq_door_free (JqDoor *door)
{
  if (door == NULL)
    return;
  g_assert (door->open == NULL);   /* closing drained it */
  g_source_destroy (door->wake_source);
  g_source_unref (door->wake_source);
  close (door->wake_fd);
  g_mutex_clear (&door->lock);
  g_main_context_unref (door->context);
  g_free (door);
}
