/* The durability setting ([jobqueue] durability): how much of the queue
 * survives what.  Apart from the journal, so that the clients, which read
 * the configuration too, do not link the journal's SQLite. */
#pragma once

#include <glib.h>

typedef enum {
  JQ_DURABILITY_FULL,   /* fsync at each commit: survives a power loss */
  JQ_DURABILITY_FAST,   /* survives a crash of the server, not of the OS */
  JQ_DURABILITY_NONE,   /* no journal: the queue lives in memory only */
} JqDurability;

/* Parses "full", "fast" or "none" (any case). */
gboolean jq_durability_parse (const char *text, JqDurability *out);
const char *jq_durability_name (JqDurability durability);
