/* Bots' log levels and their names: what bots.ini's log levels say.
 * Apart from the log itself (log.h), so that the clients, which read
 * bots.ini but write no log, carry no log sink. */
#pragma once

#include <glib.h>

/* Bots 3's levels, and Bots 4's extra ones (STDOUT to START).  The values
 * are Bots 4's, except STARTINFO, which is Bots 3's 25 here and ranks as
 * Bots 4's 28 in the Bots 4 style.  In the Bots 3 style the extra levels
 * are written, and filtered, as INFO. */
typedef enum {
  JQ_LOG_DEBUG = 10,
  JQ_LOG_STDOUT = 11,
  JQ_LOG_STDERR = 12,
  JQ_LOG_INFO = 20,
  JQ_LOG_STARTINFO = 25,
  JQ_LOG_DONE = 26,
  JQ_LOG_START = 27,
  JQ_LOG_WARNING = 30,
  JQ_LOG_ERROR = 40,
  JQ_LOG_CRITICAL = 50,
} JqLogLevel;

/* Parses a level name (DEBUG, STDOUT, STDERR, INFO, STARTINFO, DONE,
 * START, WARNING, ERROR, CRITICAL; any case).  Returns FALSE for anything
 * else. */
gboolean jq_log_level_parse (const char *name, JqLogLevel *out);

/* The name Bots prints for @level, e.g. "STARTINFO". */
const char *jq_log_level_name (JqLogLevel level);

/* How many rotated files Bots 3 keeps next to the live one (Bots 4's
 * log_file_number is a bots.ini key). */
#define JQ_LOG_BACKUP_COUNT 10
