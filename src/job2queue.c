/* main() of bots-job2queue: Bots' command-line client that queues one job.
 *
 * The command line, the answers and the exit codes are PROTOCOL section 7
 * to the letter, since crontabs and schedulers in the field call it. */
#include "build-config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include "client.h"
#include "config.h"
#include "error.h"
#include "ini.h"

/* How long to wait for a server that accepted the connection but does not
 * answer; a refused connection fails at once.  While another user holds
 * every connection, the server closes those beyond that user's share and
 * Abyss looks for room every 2 s: cron's calls then took 4.7 to 6.8 s,
 * and some went past a 5 s bound (outside tester). */
#define CALL_TIMEOUT_MS 20000

enum {
  EXIT_ADDED = 0,
  EXIT_NOT_ADDED = 1,
  EXIT_NO_TASK = 2,
  EXIT_NOT_AUTHORIZED = 3,
  EXIT_DUPLICATE = 4,
};

/* The call went out and no answer came: the job may be queued, so "not
 * added" would be a lie.  PROTOCOL section 7 has no exit status for
 * "unknown"; 1, its error, makes a cron job's owner look. */
#define UNKNOWN_TEXT "Error, no answer from jobqueue-server: the job may " \
                     "have been added to queue."

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
    "  -c<configdir>  the config folder, found as Bots finds it; default:\n"
    "                 config (Bots 3), or $BOTS_CONFIG_DIR,\n"
    "                 ~/.bots/env/$BOTSENV/config (Bots 4).  A -c<dir>\n"
    "                 in the task's own arguments also selects it.\n"
    "  -p<priority>   1 (runs first) to 9; default 5\n"
    "  -h, --help, ?, /?  show this help\n"
    "\n"
    "Options are read only before the task: everything from the first\n"
    "argument that is not an option belongs to the task.\n"
    "\n"
    "Exit status: 0 added; 1 not added (server not reachable, or jobqueue\n"
    "not enabled), or not known (the server did not answer); 2 no task;\n"
    "3 task not authorized; 4 duplicate.\n"
    "\n"
    "Examples:\n"
    "  bots-job2queue bots-engine\n"
    "  bots-job2queue -p3 bots-engine --new -Cconfigprod\n"
    "  bots-job2queue -p1 bots-engine -cconfig2 myroute\n"
    "  bots-job2queue /usr/local/bin/my_program my_parm_1 my_parm_2\n");
}

/* Bots 3's bots-job2queue.py printed these; it knew no other answers. */
static const char *const bots3_answers[] = {
  [EXIT_ADDED] = "OK, job is added to queue",
  [EXIT_NOT_ADDED] = "Error, job not to jobqueue. Can not contact "
                     "jobqueue-server",
  [EXIT_DUPLICATE] = "Duplicate job, not added.",
};

/* The wording of the installed Bots (0 while it is unknown: ours). */
static int bots_version;

static int
answer (int code)
{
  const char *text = answers[code];
  if (bots_version == 3 && code < (int) G_N_ELEMENTS (bots3_answers)
      && bots3_answers[code] != NULL)
    text = bots3_answers[code];
  printf ("%s\n", text);
  return code;
}

/* The int code in an answer: submit's struct {code, jobnumber} or
 * addjob's int.  FALSE when there is none. */
static gboolean
read_code (xmlrpc_value *result, gboolean submitted, int *code)
{
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  g_autoptr (xmlrpc_value) code_v = NULL;
  if (submitted && xmlrpc_value_type (result) == XMLRPC_TYPE_STRUCT)
    xmlrpc_struct_find_value (&env, result, "code", &code_v);
  else if (!submitted)
    {
      xmlrpc_INCREF (result);
      code_v = result;
    }
  gboolean ok = FALSE;
  if (!env.fault_occurred && code_v != NULL
      && xmlrpc_value_type (code_v) == XMLRPC_TYPE_INT)
    {
      xmlrpc_read_int (&env, code_v, code);
      ok = !env.fault_occurred;
    }
  xmlrpc_env_clean (&env);
  return ok;
}

/* Calls submit (else addjob) on the server.  Returns TRUE with its answer
 * in *@code (any int: the caller judges it), or FALSE with @error when the
 * server cannot be reached or answers anything but an int. */
static gboolean
call_addjob (const JqConfig *config, char **task, int priority, int *code,
             GError **error)
{
  g_autoptr (JqClient) client = jq_client_new (config, CALL_TIMEOUT_MS,
                                               error);
  if (client == NULL)
    return FALSE;
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  g_autoptr (xmlrpc_value) argv = jq_client_strings (
      &env, (const char *const *) task);
  g_autoptr (xmlrpc_value) params = env.fault_occurred
    ? NULL : xmlrpc_build_value (&env, "(Vi)", argv, priority);
  if (env.fault_occurred)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s", env.fault_string);
      xmlrpc_env_clean (&env);
      return FALSE;
    }
  xmlrpc_env_clean (&env);
  /* submit() tells us a refusal that addjob hides from a Bots 3
   * installation's callers; a server without it (Bots' own) answers
   * addjob truly.  Only a server that does not know submit is asked
   * again: a refusal asked twice would be logged twice. */
  g_autoptr (GError) local = NULL;
  g_autoptr (xmlrpc_value) result = jq_client_call (client, "submit", params,
                                                    &local);
  gboolean submitted = result != NULL;
  if (result == NULL && g_error_matches (local, JQ_ERROR, JQ_ERROR_INVALID)
      && strstr (local->message, "is not supported") != NULL)
    result = jq_client_call (client, "addjob", params, error);
  else if (result == NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  if (result == NULL)
    return FALSE;
  if (read_code (result, submitted, code))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "%s: unexpected answer to %s",
               jq_client_get_url (client),
               submitted ? "submit (no int code)" : "addjob (not an int)");
  return FALSE;
}

/* The options, up to the first argument that is not one: sets
 * *@config_option, *@priority and *@task.  FALSE when the program ends
 * here, with *@exit_code. */
static gboolean
read_options (int argc, char **argv, const char **config_option,
              int *priority, char ***task, int *exit_code)
{
  int i = 1;
  for (; i < argc; i++)
    {
      const char *arg = argv[i];
      if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0
          || strcmp (arg, "?") == 0 || strcmp (arg, "/?") == 0)
        {
          usage (stdout);
          *exit_code = 0;
          return FALSE;
        }
      if (g_str_has_prefix (arg, "-c"))
        {
          if (arg[2] == '\0')
            {
              fprintf (stderr, "bots-job2queue: -c needs the folder glued "
                       "to it, e.g. -cconfig\n\n");
              usage (stderr);
              *exit_code = EXIT_NOT_ADDED;
              return FALSE;
            }
          *config_option = arg + 2;
        }
      else if (g_str_has_prefix (arg, "-p"))
        {
          gint64 p;
          if (!jq_ini_parse_int (arg + 2, &p) || p < G_MININT || p > G_MAXINT)
            {
              fprintf (stderr, "bots-job2queue: priority \"%s\" is not a "
                       "number\n\n", arg + 2);
              usage (stderr);
              *exit_code = EXIT_NOT_ADDED;
              return FALSE;
            }
          *priority = (int) p;
        }
      else if (arg[0] == '-')
        {
          fprintf (stderr, "bots-job2queue: unknown option %s (options go "
                   "before the task)\n\n", arg);
          usage (stderr);
          *exit_code = EXIT_NOT_ADDED;
          return FALSE;
        }
      else
        break;
    }
  *task = argv + i;
  return TRUE;
}

/* A task XML-RPC cannot carry (bad UTF-8, a character beyond U+FFFF or a
 * control character) is refused here, with the argument and why: sent, it
 * would come back as a fault and be reported as a server that cannot be
 * contacted.  FALSE when refused, answered. */
static gboolean
task_can_be_sent (char **task)
{
  g_autoptr (GError) error = NULL;
  if (jq_client_check_strings ((const char *const *) task, &error))
    return TRUE;
  printf ("Error, job not added to queue.\n");
  fprintf (stderr, "bots-job2queue: %s; the server was not asked\n",
           error->message);
  return FALSE;
}

/* bots.ini, when the job queue is enabled there; else NULL, answered. */
static JqConfig *
load_config (const char *config_option)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JqConfig) config = jq_config_load_from_option (config_option,
                                                            &error);
  if (config == NULL)
    {
      /* Not "Can not contact jobqueue-server": the server was never
       * asked, and the message says what is missing instead. */
      printf ("Error, job not added to queue.\n");
      fprintf (stderr, "bots-job2queue: %s\n", error->message);
      return NULL;
    }
  bots_version = config->bots_version;
  if (!config->enabled)
    {
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: the jobqueue is not enabled in %s "
               "([jobqueue] enabled = True)\n", config->ini_path);
      return NULL;
    }
  return g_steal_pointer (&config);
}

/* Queues @task and answers as Bots' bots-job2queue does; returns the exit
 * status. */
static int
add_job (const JqConfig *config, char **task, int priority)
{
  g_autoptr (GError) error = NULL;
  int code = 0;
  if (!call_addjob (config, task, priority, &code, &error)
      && g_error_matches (error, JQ_ERROR, JQ_ERROR_UNANSWERED))
    {
      printf ("%s\n", UNKNOWN_TEXT);
      fprintf (stderr, "bots-job2queue: %s; bots-jobqueue list (or the "
               "server's log) says whether it was queued\n", error->message);
      return EXIT_NOT_ADDED;
    }
  if (error != NULL)
    {
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: %s\n", error->message);
      return EXIT_NOT_ADDED;
    }
  switch (code)
    {
    case EXIT_ADDED:
    case EXIT_NO_TASK:
    case EXIT_NOT_AUTHORIZED:
    case EXIT_DUPLICATE:
      return answer (code);
    default:
      answer (EXIT_NOT_ADDED);
      fprintf (stderr, "bots-job2queue: unexpected answer %d from the "
               "server\n", code);
      return EXIT_NOT_ADDED;
    }
}

int
main (int argc, char **argv)
{
  const char *config_option = NULL;
  int priority = 5, exit_code = 0;
  char **task = NULL;
  if (!read_options (argc, argv, &config_option, &priority, &task,
                     &exit_code))
    return exit_code;
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

  if (!task_can_be_sent (task))
    return EXIT_NOT_ADDED;
  g_autoptr (JqConfig) config = load_config (config_option);
  if (config == NULL)
    return EXIT_NOT_ADDED;
  return add_job (config, task, priority);
}
