/* What a running server does besides serving: the status line and the
 * watchdog of the service manager (notify.h), and handing freed heap back
 * after a burst.  Timers on the loop; none touches the queue. */
#pragma once

#include <glib.h>

#include "door.h"
#include "scheduler.h"

typedef struct _JqHousekeeping JqHousekeeping;

/* Tells the service manager the server is ready, with its first status
 * line, and starts the timers: the status line (when a service manager
 * listens), the watchdog (when it asks for one), the heap trim. */
JqHousekeeping *jq_housekeeping_start (JqScheduler *scheduler, JqDoor *door);

/* Stops the timers. */
void jq_housekeeping_free (JqHousekeeping *hk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqHousekeeping, jq_housekeeping_free)
