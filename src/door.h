/* The one door from other threads into the main loop: run a function on
 * the loop's thread and wait for it to finish. */
#pragma once

#include <glib.h>

typedef struct _JqDoor JqDoor;

typedef void (*JqDoorFunc) (gpointer data);

/* Called on the loop's thread around each batch of calls: @begin TRUE
 * before the first, FALSE after the last.  The journal hangs its
 * transaction here, so that calls arriving together commit together.
 * Returning FALSE (with @error) after the batch fails every call in it. */
typedef gboolean (*JqDoorBatchHook) (gboolean begin, gpointer user_data,
                                     GError **error);

/* A door into @context (the loop's context; not NULL). */
JqDoor *jq_door_new (GMainContext *context);

void jq_door_set_batch_hook (JqDoor *door, JqDoorBatchHook hook,
                             gpointer user_data);

/* Runs @func (@data) on the loop's thread and returns once it has run and
 * its batch is committed.  Thread-safe.  Calls that arrive while the loop
 * is busy run together, in arrival order, as one batch.  Called from the
 * loop's own thread it runs @func at once.  Returns FALSE and sets @error
 * when the door is closed (@func did not run) or the batch hook failed
 * (@func ran, but its effect is not durable). */
gboolean jq_door_call (JqDoor *door, JqDoorFunc func, gpointer data,
                       GError **error);

/* With @absorbing, the calls that arrive while a batch runs join it, up
 * to a bound, and share its batch hook's end: for a hook whose end is
 * dear (a commit that syncs the disk), so that more calls share each.
 * Off by default: without a dear end, the batch's first callers would
 * only wait longer for their answer.  Before the loop runs. */
void jq_door_set_absorbing (JqDoor *door, gboolean absorbing);

/* Calls waiting for the next batch now (tests). */
guint jq_door_get_waiting (JqDoor *door);

/* Runs what is pending, then refuses every later call.  Loop thread only. */
void jq_door_close (JqDoor *door);

/* Batches run so far: the server trims its heap once this stops moving. */
guint64 jq_door_get_batches (JqDoor *door);

void jq_door_free (JqDoor *door);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqDoor, jq_door_free)
