/* libFuzzer target: the clients' reading of an answer.  Whatever a peer on
 * the port sends back, the parser returns a value or an error, never
 * crashes, and a value it returns can be serialized again. */
#include "build-config.h"

#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "message.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  xmlrpc_value *v = jq_message_parse_response ((const char *) data, size,
                                               &error);
  if ((v == NULL) == (error == NULL))
    __builtin_trap ();
  if (v != NULL)
    {
      xmlrpc_env env;
      xmlrpc_env_init (&env);
      xmlrpc_mem_block *out = xmlrpc_mem_block_new (&env, 0);
      xmlrpc_serialize_response2 (&env, out, v, xmlrpc_dialect_i8);
      if (env.fault_occurred)
        __builtin_trap ();
      xmlrpc_mem_block_free (out);
      xmlrpc_env_clean (&env);
      xmlrpc_DECREF (v);
    }
  else if (error->domain != JQ_ERROR)
    __builtin_trap ();
  g_clear_error (&error);
  return 0;
}
