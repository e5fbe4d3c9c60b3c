/* The connection gate: refuses with HTTP 503 what Abyss cannot take, and
 * at the limit takes connections beyond a user's share (share.h) from
 * the user who holds them.  A thread of its own beside Abyss's accept
 * loop, on the same listening socket. */
#pragma once

#include <glib.h>

#include "log.h"

typedef struct _JqGate JqGate;

/* Starts the gate on @listen_fd (borrowed; Abyss accepts on it), for at
 * most @max_conn connections of which a user other than root and the
 * server's own may hold @share_percent; @log (borrowed) gets its lines.
 * NULL when it cannot be started (no eventfd): Abyss then serves alone,
 * without 503s. */
JqGate *jq_gate_start (int listen_fd, guint max_conn, guint share_percent,
                       JqLog *log);

/* Stops the gate's thread and frees it. */
void jq_gate_stop (JqGate *gate);
