/* main() of bots-job2queue: Bots' command-line client that queues one job.
 *
 * The command line, the answers and the exit codes are PROTOCOL section 7
 * to the letter, since crontabs and schedulers in the field call it. */
#include "build-config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <xmlrpc-c/client.h>

#include "config.h"
#include "error.h"
#include "ini.h"

/* How long to wait for a server that accepted the connection but does not
 * answer; a refused connection fails at once. */
#define CALL_TIMEOUT_MS 5000

enum {
  EXIT_ADDED = 0,
  EXIT_NOT_ADDED = 1,
  EXIT_NO_TASK = 2,
  EXIT_NOT_AUTHORIZED = 3,
  EXIT_DUPLICATE = 4,
};

static const char *const answers[] = {
  [EXIT_ADDED] = "OK, job added to queue.",
  [EXIT_NOT_ADDED] = "Error, job not added to queue. Can not contact "
                     "jobqueue-server",
  [EXIT_NO_TASK] = "Error, no task specified.",
  [EXIT_NOT_AUTHORIZED] = "Error, invalid task (not authorized).",
  [EXIT_DUPLICATE] = "Duplicate, job already in queue, not added.",
};

static void
usage (FILE *to)
{
  fprintf (to,
    "Usage: bots-job2queue [-c<configdir>] [-p<priority>] task [task-arguments...]\n"
    "\n"
    "Places a job in the Bots job queue; the job queue server runs it when\n"
    "the jobs before it have ended.\n"
    "\n"
    "  -c<configdir>  folder holding bots.ini (default: config, or\n"
    "                 $BOTS_DIR/config when BOTS_DIR is set).  A -c<dir>\n"
    "                 in the task's own arguments also selects it.\n"
    "  -p<priority>   1 (runs first) to 9; default 5\n"
    "  -h, --help, ?, /?  show this help\n"
    "\n"
    "Options are read only before the task: everything from the first\n"
    "argument that is not an option belongs to the task.\n"
    "\n"
    "Exit status: 0 added; 1 not added (server not reachable, or jobqueue\n"
    "not enabled); 2 no task; 3 task not authorized; 4 duplicate.\n"
    "\n"
    "Examples:\n"
    "  bots-job2queue bots-engine\n"
    "  bots-job2queue -p3 bots-engine --new -Cconfigprod\n"
    "  bots-job2queue -p1 bots-engine -cconfig2 myroute\n"
    "  bots-job2queue /usr/local/bin/my_program my_parm_1 my_parm_2\n");
}

static int
answer (int code)
{
  printf ("%s\n", answers[code]);
  return code;
}

/* Calls addjob on the server; returns its answer, or -1 with @error. */
static int
call_addjob (const char *url, char **task, int priority, GError **error)
{
  xmlrpc_env env;
  xmlrpc_client *client = NULL;
  struct xmlrpc_curl_xportparms curl = { 0 };
  struct xmlrpc_clientparms parms = { 0 };
  int code = -1;

  xmlrpc_env_init (&env);
  curl.timeout = CALL_TIMEOUT_MS;
  curl.dont_advertise = TRUE;
  parms.transport = "curl";
  parms.transportparmsP = &curl;
  parms.transportparm_size = XMLRPC_CXPSIZE (timeout);

  xmlrpc_client_setup_global_const (&env);
  if (!env.fault_occurred)
    xmlrpc_client_create (&env, XMLRPC_CLIENT_NO_FLAGS, "bots-job2queue",
                          PACKAGE_VERSION, &parms,
                          XMLRPC_CPSIZE (transportparm_size), &client);
  xmlrpc_value *argv = env.fault_occurred ? NULL : xmlrpc_array_new (&env);
  for (gsize i = 0; !env.fault_occurred && task[i] != NULL; i++)
    {
      xmlrpc_value *s = xmlrpc_string_new (&env, task[i]);
      if (!env.fault_occurred)
        {
          xmlrpc_array_append_item (&env, argv, s);
          xmlrpc_DECREF (s);
        }
    }
  xmlrpc_value *params = NULL, *result = NULL;
  if (!env.fault_occurred)
    params = xmlrpc_build_value (&env, "(Vi)", argv, priority);
  xmlrpc_server_info *server = NULL;
  if (!env.fault_occurred)
    server = xmlrpc_server_info_new (&env, url);
  if (!env.fault_occurred)
    xmlrpc_client_call2 (&env, client, server, "addjob", params, &result);
  if (!env.fault_occurred)
    xmlrpc_read_int (&env, result, &code);
  if (env.fault_occurred)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s",
                   env.fault_string);
      code = -1;
    }

  if (result)
    xmlrpc_DECREF (result);
  if (params)
    xmlrpc_DECREF (params);
  if (argv)
    xmlrpc_DECREF (argv);
  if (server)
    xmlrpc_server_info_free (server);
  if (client)
    xmlrpc_client_destroy (client);
  xmlrpc_client_teardown_global_const ();
  xmlrpc_env_clean (&env);
  return code;
}

/* The server listens on loopback unless bind says otherwise; a wildcard
 * bind is reached through loopback too. */
static const char *
server_host (const JqConfig *config)
{
  if (strcmp (config->bind, "0.0.0.0") == 0 || strcmp (config->bind, "::") == 0)
    return "127.0.0.1";
  return config->bind;
}

int
main (int argc, char **argv)
{
  const char *config_option = NULL;
  int priority = 5;
  int i = 1;

  /* Options, up to the first argument that is not one. */
  for (; i < argc; i++)
    {
      const char *arg = argv[i];
      if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0
          || strcmp (arg, "?") == 0 || strcmp (arg, "/?") == 0)
        {
          usage (stdout);
          return 0;
        }
      if (g_str_has_prefix (arg, "-c"))
        {
          if (arg[2] == '\0')
            {
              fprintf (stderr, "bots-job2queue: -c needs the folder glued "
                       "to it, e.g. -cconfig\n\n");
              usage (stderr);
              return EXIT_NOT_ADDED;
            }
          config_option = arg + 2;
        }
      else if (g_str_has_prefix (arg, "-p"))
        {
          gint64 p;
          if (!jq_parse_int (arg + 2, &p) || p < G_MININT || p > G_MAXINT)
            {
              fprintf (stderr, "bots-job2queue: priority \"%s\" is not a "
                       "number\n\n", arg + 2);
              usage (stderr);
              return EXIT_NOT_ADDED;
            }
          priority = (int) p;
        }
      else if (arg[0] == '-')
        {
          fprintf (stderr, "bots-job2queue: unknown option %s (options go "
                   "before the task)\n\n", arg);
          usage (stderr);
          return EXIT_NOT_ADDED;
        }
      else
        break;
    }
  char **task = argv + i;
  if (task[0] == NULL)
    {
      answer (EXIT_NO_TASK);
      fprintf (stderr, "Usage: bots-job2queue [-c<configdir>] "
               "[-p<priority>] task [task-arguments...]\n");
      return EXIT_NO_TASK;
    }
  /* A Bots engine run and its queue share a config: a -c<dir> among the
   * task's arguments selects ours too (the last one wins). */
  for (char **t = task + 1; *t != NULL; t++)
    if (g_str_has_prefix (*t, "-c") && (*t)[2] != '\0')
      config_option = *t + 2;

  g_autoptr (GError) error = NULL;
  g_autoptr (JqConfig) config = jq_config_load_from_option (config_option,
                                                            &error);
  if (config == NULL)
    {
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: %s\n", error->message);
      return EXIT_NOT_ADDED;
    }
  if (!config->enabled)
    {
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: the jobqueue is not enabled in %s "
               "([jobqueue] enabled = True)\n", config->ini_path);
      return EXIT_NOT_ADDED;
    }

  /* Never send loopback calls through an HTTP proxy from the environment. */
  g_setenv ("no_proxy", "*", TRUE);
  g_setenv ("NO_PROXY", "*", TRUE);
  g_autofree char *url = g_strdup_printf (
      strchr (server_host (config), ':') ? "http://[%s]:%u/RPC2"
                                         : "http://%s:%u/RPC2",
      server_host (config), config->port);
  int code = call_addjob (url, task, priority, &error);
  switch (code)
    {
    case EXIT_ADDED:
    case EXIT_NO_TASK:
    case EXIT_NOT_AUTHORIZED:
    case EXIT_DUPLICATE:
      return answer (code);
    case -1:
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: %s: %s\n", url, error->message);
      return EXIT_NOT_ADDED;
    default:
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: unexpected answer %d from %s\n",
               code, url);
      return EXIT_NOT_ADDED;
    }
}
