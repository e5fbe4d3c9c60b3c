/* Calls from the Abyss threads into the main loop.
 *
 * Callers append to a pending list under a mutex; the first caller of a
 * batch attaches an idle source to the loop's context.  When it fires, the
 * loop takes the whole list, runs it between the batch hook's begin and
 * end, marks every call done and wakes the callers.  Nothing of the loop's
 * state is touched from another thread. */
#include "door.h"

#include "error.h"

typedef struct {
  JqDoorFunc func;
  gpointer   data;
  gboolean   done;       /* guarded by the door's lock */
  GError    *error;      /* set when the batch failed */
} Call;

struct _JqDoor {
  GMainContext   *context;
  GMutex          lock;
  GCond           done_cond;
  GPtrArray      *pending;      /* Call*, owned by the callers' stacks */
  GSource        *source;       /* attached to run them; NULL when none */
  gboolean        closed;
  JqDoorBatchHook hook;
  gpointer        hook_data;
  guint64         batches;      /* loop thread only */
};

JqDoor *
jq_door_new (GMainContext *context)
{
  JqDoor *door = g_new0 (JqDoor, 1);
  door->context = g_main_context_ref (context);
  g_mutex_init (&door->lock);
  g_cond_init (&door->done_cond);
  door->pending = g_ptr_array_new ();
  return door;
}

void
jq_door_set_batch_hook (JqDoor *door, JqDoorBatchHook hook,
                        gpointer user_data)
{
  door->hook = hook;
  door->hook_data = user_data;
}

static void
run_batch (JqDoor *door, GPtrArray *batch)
{
  g_autoptr (GError) error = NULL;
  if (door->hook != NULL)
    door->hook (TRUE, door->hook_data, NULL);
  for (guint i = 0; i < batch->len; i++)
    {
      Call *call = batch->pdata[i];
      call->func (call->data);
    }
  if (door->hook != NULL && !door->hook (FALSE, door->hook_data, &error))
    for (guint i = 0; i < batch->len; i++)
      ((Call *) batch->pdata[i])->error = g_error_copy (error);
  door->batches++;
}

static gboolean
drain (gpointer user_data)
{
  JqDoor *door = user_data;

  g_mutex_lock (&door->lock);
  GPtrArray *batch = door->pending;
  door->pending = g_ptr_array_new ();
  g_clear_pointer (&door->source, g_source_unref);
  g_mutex_unlock (&door->lock);

  run_batch (door, batch);

  g_mutex_lock (&door->lock);
  for (guint i = 0; i < batch->len; i++)
    ((Call *) batch->pdata[i])->done = TRUE;
  g_cond_broadcast (&door->done_cond);
  g_mutex_unlock (&door->lock);
  g_ptr_array_unref (batch);
  return G_SOURCE_REMOVE;
}

static gboolean
refuse_closed (GError **error)
{
  g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
               "the job queue server is shutting down");
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
  Call call = { func, data, FALSE, NULL };

  if (g_main_context_is_owner (door->context))
    {
      if (door->closed)
        return refuse_closed (error);
      g_autoptr (GPtrArray) one = g_ptr_array_new ();
      g_ptr_array_add (one, &call);
      run_batch (door, one);
      return finish_call (&call, error);
    }

  g_mutex_lock (&door->lock);
  if (door->closed)
    {
      g_mutex_unlock (&door->lock);
      return refuse_closed (error);
    }
  g_ptr_array_add (door->pending, &call);
  if (door->source == NULL)
    {
      /* An explicit source, not g_main_context_invoke(): that may run the
       * function right here when the context happens to be free. */
      door->source = g_idle_source_new ();
      g_source_set_priority (door->source, G_PRIORITY_DEFAULT);
      g_source_set_callback (door->source, drain, door, NULL);
      g_source_set_static_name (door->source, "jq-door");
      g_source_attach (door->source, door->context);
    }
  while (!call.done)
    g_cond_wait (&door->done_cond, &door->lock);
  g_mutex_unlock (&door->lock);
  return finish_call (&call, error);
}

void
jq_door_close (JqDoor *door)
{
  g_mutex_lock (&door->lock);
  door->closed = TRUE;
  if (door->source != NULL)
    g_source_destroy (door->source);
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
  g_ptr_array_unref (door->pending);
  g_mutex_clear (&door->lock);
  g_cond_clear (&door->done_cond);
  g_main_context_unref (door->context);
  g_free (door);
}
