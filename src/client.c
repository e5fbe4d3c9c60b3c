/* xmlrpc-c client calls for the command-line programs. */
#include "build-config.h"

#include "client.h"

#include <string.h>
#include <xmlrpc-c/client.h>

#include "error.h"
#include "message.h"

struct _JqClient {
  xmlrpc_client      *client;
  xmlrpc_server_info *server;
  char               *url;
};

/* The server listens on loopback unless bind says otherwise; a wildcard
 * bind is reached through loopback too. */
static const char *
server_host (const JqConfig *config)
{
  if (strcmp (config->bind, "0.0.0.0") == 0 || strcmp (config->bind, "::") == 0)
    return "127.0.0.1";
  return config->bind;
}

JqClient *
jq_client_new (const JqConfig *config, guint timeout_ms, GError **error)
{
  xmlrpc_env env;
  struct xmlrpc_curl_xportparms curl = { 0 };
  struct xmlrpc_clientparms parms = { 0 };
  g_autoptr (JqClient) c = g_new0 (JqClient, 1);

  /* Never send loopback calls through an HTTP proxy from the environment. */
  g_setenv ("no_proxy", "*", TRUE);
  g_setenv ("NO_PROXY", "*", TRUE);
  c->url = g_strdup_printf (strchr (server_host (config), ':')
                              ? "http://[%s]:%u/RPC2" : "http://%s:%u/RPC2",
                            server_host (config), config->port);
  xmlrpc_env_init (&env);
  curl.timeout = timeout_ms;
  curl.dont_advertise = TRUE;
  parms.transport = "curl";
  parms.transportparmsP = &curl;
  parms.transportparm_size = XMLRPC_CXPSIZE (timeout);
  xmlrpc_client_setup_global_const (&env);
  if (!env.fault_occurred)
    xmlrpc_client_create (&env, XMLRPC_CLIENT_NO_FLAGS, PACKAGE_NAME,
                          PACKAGE_VERSION, &parms,
                          XMLRPC_CPSIZE (transportparm_size), &c->client);
  if (!env.fault_occurred)
    c->server = xmlrpc_server_info_new (&env, c->url);
  if (env.fault_occurred)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s", env.fault_string);
      xmlrpc_env_clean (&env);
      return NULL;
    }
  xmlrpc_env_clean (&env);
  return g_steal_pointer (&c);
}

const char *
jq_client_get_url (JqClient *c)
{
  return c->url;
}

/* The call goes out as xmlrpc-c serializes it, but the answer is read by
 * src/message.c: xmlrpc-c 1.33's own response parser crashes on some
 * answers (an <i8> out of range), and whatever listens on the port may
 * answer anything.  Nor does its 512 KiB limit on responses
 * (XMLRPC_XML_SIZE_LIMIT_ID) apply: listjobs answers every waiting job,
 * which passes 512 KiB with about 1,500 of Bots 3's tasks.  The bound is
 * its curl transport's: it collects the answer in one xmlrpc_mem_block,
 * which holds at most JQ_CLIENT_MAX_ANSWER bytes, and says no more than
 * libcurl's "Failure writing output to destination" when one is larger. */
/* Whether xmlrpc-c's transport failure @text says the call never reached
 * the server: no connection was made (refused, or the connection itself
 * timed out: libcurl words these so), or the server answered with an HTTP
 * error, which ours gives only to a call it does not run (a 503 when all
 * connections are taken, a 4xx for a request it refuses).  Anything else
 * (a timeout after the call was sent, a connection ended without an
 * answer, a message not known here) leaves the outcome unknown: a server
 * at its connection limit takes a waiting connection, and runs the call
 * in it, after the caller gave up. */
static gboolean
never_reached (const char *text)
{
  static const char *const before_sending[] = {
    "Failed to connect to",           /* refused, unreachable */
    "Connection timed out after",     /* the connection, not the answer */
    "Couldn't connect to server",
    "Could not resolve", "Couldn't resolve",
    "HTTP response code is",          /* xmlrpc-c: an HTTP error status */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (before_sending); i++)
    if (strstr (text, before_sending[i]) != NULL)
      return TRUE;
  return FALSE;
}

xmlrpc_value *
jq_client_call (JqClient *c, const char *method, xmlrpc_value *params,
                GError **error)
{
  xmlrpc_env env;
  xmlrpc_value *result = NULL;
  xmlrpc_mem_block *call = NULL, *answer = NULL;

  xmlrpc_env_init (&env);
  call = xmlrpc_mem_block_new (&env, 0);
  if (!env.fault_occurred)
    xmlrpc_serialize_call2 (&env, call, method, params, xmlrpc_dialect_i8);
  if (!env.fault_occurred)
    xmlrpc_client_transport_call2 (&env, c->client, c->server, call, &answer);
  if (env.fault_occurred)
    {
      /* xmlrpc-c leaves a poisoned pointer behind on failure */
      answer = NULL;
      if (strstr (env.fault_string, "Failure writing output") != NULL)
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s answered %s with "
                     "more than %d MiB, the most a client can hold "
                     "(xmlrpc-c 1.33's limit)", c->url, method,
                     JQ_CLIENT_MAX_ANSWER >> 20);
      else if (never_reached (env.fault_string))
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s", env.fault_string);
      else
        g_set_error (error, JQ_ERROR, JQ_ERROR_UNANSWERED, "%s: %s was "
                     "sent, but no answer came (%s)", c->url, method,
                     env.fault_string);
    }
  else
    {
      g_autoptr (GError) local = NULL;
      result = jq_message_parse_response (xmlrpc_mem_block_contents (answer),
                                          xmlrpc_mem_block_size (answer),
                                          &local);
      if (result == NULL && local->code == JQ_ERROR_INVALID)
        g_propagate_error (error, g_steal_pointer (&local));  /* a fault */
      else if (result == NULL)
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s answered something "
                     "that is not an XML-RPC response: %s", c->url,
                     local->message);
    }
  if (answer != NULL)
    xmlrpc_mem_block_free (answer);
  if (call != NULL)
    xmlrpc_mem_block_free (call);
  xmlrpc_env_clean (&env);
  return result;
}

/* Why @arg cannot travel in an XML-RPC string, or NULL when it can.
 * xmlrpc-c 1.33 holds only valid UTF-8 of the Basic Multilingual Plane
 * (its own refusal of a four-byte character prints the first byte sign-
 * extended, "0xfffffff0"), and XML 1.0 carries no control character but
 * tab, newline and carriage return: the server would refuse the call, and
 * the caller would be told the server cannot be reached. */
static char *
string_refusal (const char *arg)
{
  const char *end = NULL;
  if (!g_utf8_validate (arg, -1, &end))
    return g_strdup_printf ("it is not valid UTF-8 (byte 0x%02x at offset "
                            "%td), and XML-RPC carries only text",
                            (guint) (guchar) *end, end - arg);
  for (const char *p = arg; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (c > 0xffff)
        return g_strdup_printf ("it holds the character U+%04X (at offset "
                                "%td), beyond U+FFFF, which xmlrpc-c 1.33 "
                                "cannot hold", c, p - arg);
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r')
          || c == 0xfffe || c == 0xffff)
        return g_strdup_printf ("it holds the character U+%04X (at offset "
                                "%td), which XML 1.0 cannot carry", c,
                                p - arg);
    }
  return NULL;
}

gboolean
jq_client_check_strings (const char *const *argv, GError **error)
{
  for (gsize i = 0; argv[i] != NULL; i++)
    {
      g_autofree char *why = string_refusal (argv[i]);
      if (why == NULL)
        continue;
      /* At most 60 bytes of it, escaped: it may be anything. */
      g_autofree char *head = g_strndup (argv[i], 60);
      g_autofree char *shown = g_strescape (head, NULL);
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "argument %" G_GSIZE_FORMAT
                   " of the task (\"%s\"%s) cannot be sent: %s", i + 1,
                   shown, strlen (argv[i]) > 60 ? "..." : "", why);
      return FALSE;
    }
  return TRUE;
}

xmlrpc_value *
jq_client_strings (xmlrpc_env *env, const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  xmlrpc_value *array = xmlrpc_array_new (env);
  if (!env->fault_occurred && !jq_client_check_strings (argv, &error))
    xmlrpc_env_set_fault (env, XMLRPC_TYPE_ERROR, error->message);
  for (gsize i = 0; !env->fault_occurred && argv[i] != NULL; i++)
    {
      xmlrpc_value *s = xmlrpc_string_new (env, argv[i]);
      if (!env->fault_occurred)
        {
          xmlrpc_array_append_item (env, array, s);
          xmlrpc_DECREF (s);
        }
    }
  return array;
}

void
jq_client_free (JqClient *c)
{
  if (c == NULL)
    return;
  if (c->server != NULL)
    xmlrpc_server_info_free (c->server);
  if (c->client != NULL)
    {
      xmlrpc_client_destroy (c->client);
      xmlrpc_client_teardown_global_const ();
    }
  g_free (c->url);
  g_free (c);
}
