/* libFuzzer target: the whole request path.  Body bytes go through the
 * strict parser (src/message.c) and the real method handlers on a scratch
 * queue; the response is built and checked for its fixed prefix.  The
 * scheduler is stopped, so nothing is ever launched. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE (memmem) */

#include <stdint.h>
#include <string.h>

#include "config.h"
#include "door.h"
#include "log.h"
#include "rpc.h"
#include "scheduler.h"

static JqConfig *config;
static JqLog *log_sink;
static JqDoor *door;
static JqScheduler *scheduler;
static JqRpc *rpc;
static unsigned long runs;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  static const char ini_text[] = "[jobqueue]\nenabled = true\n"
                                 "authorized_tasks = *\n";
  JqIni *ini = jq_ini_parse (ini_text, sizeof ini_text - 1, "fuzz.ini", NULL);
  JqRunnerSettings settings = { 0 };

  config = jq_config_from_ini (ini, "/nonexistent/config", NULL);
  jq_ini_free (ini);
  log_sink = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  g_main_context_acquire (g_main_context_default ());
  door = jq_door_new (g_main_context_default ());
  scheduler = jq_scheduler_new (config, log_sink, &settings, NULL);
  jq_scheduler_stop (scheduler, NULL, NULL);
  rpc = jq_rpc_new (jq_methods_new (scheduler, door, log_sink), NULL,
                    log_sink);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GBytes *reply = jq_rpc_process (rpc, (const char *) data, size);
  gsize len = 0;
  const char *xml = g_bytes_get_data (reply, &len);
  /* Every answer is an XML-RPC response, whatever came in. */
  if (len < 20 || memmem (xml, len, "<methodResponse>", 16) == NULL)
    __builtin_trap ();
  g_bytes_unref (reply);
  /* Keep the scratch queue from growing without bound. */
  if (++runs % 1000 == 0)
    jq_scheduler_clear (scheduler, NULL);
  return 0;
}
