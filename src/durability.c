/* The durability setting: how much of the queue survives what. */
#include "durability.h"

gboolean
jq_durability_parse (const char *text, JqDurability *out)
{
  static const char *const names[] = { "full", "fast", "none" };
  g_autofree char *t = g_strstrip (g_strdup (text));
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (t, names[i]) == 0)
      {
        *out = (JqDurability) i;
        return TRUE;
      }
  return FALSE;
}

const char *
jq_durability_name (JqDurability durability)
{
  return durability == JQ_DURABILITY_FULL ? "full"
       : durability == JQ_DURABILITY_FAST ? "fast" : "none";
}
