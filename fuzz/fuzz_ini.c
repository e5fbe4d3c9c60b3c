/* libFuzzer target: the bots.ini reader and the settings read from it. */
#include <stdint.h>

#include "config.h"
#include "ini.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  JqIni *ini = jq_ini_parse ((const char *) data, size, "fuzz.ini", &error);
  if (ini == NULL)
    {
      /* A refusal must say where. */
      if (error == NULL || error->message == NULL)
        __builtin_trap ();
      g_error_free (error);
      return 0;
    }
  JqConfig *config = jq_config_from_ini (ini, "/bots/config", &error);
  if (config == NULL)
    g_error_free (error);
  jq_config_free (config);
  jq_ini_free (ini);
  return 0;
}
