/* Bots' log levels by name: see loglevel.h. */
#include "loglevel.h"

static const struct {
  JqLogLevel  level;
  const char *name;
} level_names[] = {
  { JQ_LOG_DEBUG, "DEBUG" },     { JQ_LOG_INFO, "INFO" },
  { JQ_LOG_STARTINFO, "STARTINFO" }, { JQ_LOG_WARNING, "WARNING" },
  { JQ_LOG_ERROR, "ERROR" },     { JQ_LOG_CRITICAL, "CRITICAL" },
  { JQ_LOG_STDOUT, "STDOUT" },   { JQ_LOG_STDERR, "STDERR" },
  { JQ_LOG_DONE, "DONE" },       { JQ_LOG_START, "START" },
};

gboolean
jq_log_level_parse (const char *name, JqLogLevel *out)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (name));
  for (gsize i = 0; i < G_N_ELEMENTS (level_names); i++)
    if (g_ascii_strcasecmp (trimmed, level_names[i].name) == 0)
      {
        *out = level_names[i].level;
        return TRUE;
      }
  return FALSE;
}

const char *
jq_log_level_name (JqLogLevel level)
{
  for (gsize i = 0; i < G_N_ELEMENTS (level_names); i++)
    if (level_names[i].level == level)
      return level_names[i].name;
  return "LEVEL";
}
