/* For the differential test (tests/integration/test_python_messages.py):
 * reads XML-RPC calls from stdin, separated by NUL bytes, parses each with
 * src/message.c and writes it back as xmlrpc-c serializes it, or
 * "ERROR: <message>", each answer followed by a NUL byte.  Python then
 * compares what it reads from both. */
#include <stdio.h>
#include <string.h>
#include <glib.h>

#include "message.h"

static void
answer (const char *xml, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *method = NULL;
  xmlrpc_value *params = NULL;

  if (!jq_message_parse_call (xml, len, &method, &params, &error))
    printf ("ERROR: %s", error->message);
  else
    {
      xmlrpc_env env;
      xmlrpc_env_init (&env);
      xmlrpc_mem_block *out = xmlrpc_mem_block_new (&env, 0);
      xmlrpc_serialize_call2 (&env, out, method, params, xmlrpc_dialect_i8);
      if (env.fault_occurred)
        printf ("ERROR: cannot serialize: %s", env.fault_string);
      else
        fwrite (xmlrpc_mem_block_contents (out), 1,
                xmlrpc_mem_block_size (out), stdout);
      xmlrpc_mem_block_free (out);
      xmlrpc_DECREF (params);
      xmlrpc_env_clean (&env);
    }
  fputc ('\0', stdout);
}

int
main (void)
{
  GString *in = g_string_new (NULL);
  char buf[65536];
  size_t n;
  while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
    g_string_append_len (in, buf, n);
  const char *p = in->str, *end = in->str + in->len;
  while (p < end)
    {
      const char *nul = memchr (p, '\0', end - p);
      gsize len = nul ? (gsize) (nul - p) : (gsize) (end - p);
      answer (p, len);
      p += len + 1;
    }
  g_string_free (in, TRUE);
  return fflush (stdout) == 0 ? 0 : 1;
}
