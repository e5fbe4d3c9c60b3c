/* Tests of the XML-RPC layer in-process: request bodies in, response XML
 * out, through the real method handlers, screening and door. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <xmlrpc-c/base.h>

#include "config.h"
#include "rpc.h"

typedef struct {
  JqConfig    *config;
  JqLog       *log;
  JqDoor      *door;
  JqScheduler *scheduler;
  JqRpc       *rpc;
  JqMethods   *methods;
  char        *bin;       /* the PATH: a bots-engine to authorize */
} Fixture;

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  static const char ini_text[] = "[jobqueue]\nenabled = true\n";
  g_autoptr (JqIni) ini = jq_ini_parse (ini_text, sizeof ini_text - 1,
                                        "bots.ini", NULL);
  JqRunnerSettings settings = { 0 };

  /* Tasks are authorized on real files: a bots-engine on PATH. */
  f->bin = g_dir_make_tmp ("jqrpc-XXXXXX", NULL);
  g_autofree char *engine = g_build_filename (f->bin, "bots-engine", NULL);
  assert_true (g_file_set_contents (engine, "#!/bin/sh\n", -1, NULL));
  assert_int_equal (g_chmod (engine, 0755), 0);
  g_setenv ("PATH", f->bin, TRUE);
  f->config = jq_config_from_ini (ini, "/nonexistent/config", NULL);
  f->log = jq_log_new (NULL, JQ_LOG_CRITICAL, FALSE, JQ_LOG_CRITICAL, NULL);
  /* The test thread owns the loop's context, so door calls run inline. */
  assert_true (g_main_context_acquire (g_main_context_default ()));
  f->door = jq_door_new (g_main_context_default ());
  f->scheduler = jq_scheduler_new (f->config, f->log, &settings, NULL);
  /* A stopped scheduler still answers every call but launches nothing:
   * these tests are about the protocol, not processes. */
  jq_scheduler_stop (f->scheduler, NULL, NULL);
  f->methods = jq_methods_new (f->scheduler, f->door, f->log);
  f->rpc = jq_rpc_new (f->methods, NULL, f->log);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  jq_rpc_free (f->rpc);
  jq_methods_free (f->methods);
  jq_scheduler_free (f->scheduler);
  jq_door_free (f->door);
  g_main_context_release (g_main_context_default ());
  jq_log_free (f->log);
  jq_config_free (f->config);
  g_autofree char *engine = g_build_filename (f->bin, "bots-engine", NULL);
  g_unlink (engine);
  g_rmdir (f->bin);
  g_free (f->bin);
  g_free (f);
  return 0;
}

/* Sends @body; returns the result value (caller DECREFs), or NULL with
 * *@fault_string set (caller frees) for a fault. */
static xmlrpc_value *
call (Fixture *f, const char *body, char **fault_string)
{
  g_autoptr (GBytes) reply = jq_rpc_process (f->rpc, body, strlen (body));
  gsize len;
  const char *xml = g_bytes_get_data (reply, &len);
  xmlrpc_env env;
  xmlrpc_value *result = NULL;
  int code = 0;
  const char *fs = NULL;

  xmlrpc_env_init (&env);
  xmlrpc_parse_response2 (&env, xml, len, &result, &code, &fs);
  assert_false (env.fault_occurred);
  xmlrpc_env_clean (&env);
  if (fs != NULL)
    {
      assert_int_equal (code, 1);
      *fault_string = g_strdup (fs);
      free ((void *) fs);
      return NULL;
    }
  *fault_string = NULL;
  return result;
}

static int
call_int (Fixture *f, const char *body)
{
  g_autofree char *fault = NULL;
  xmlrpc_value *v = call (f, body, &fault);
  if (v == NULL)
    fail_msg ("unexpected fault: %s", fault);
  xmlrpc_env env;
  int n = -1;
  xmlrpc_env_init (&env);
  xmlrpc_read_int (&env, v, &n);
  assert_false (env.fault_occurred);
  xmlrpc_DECREF (v);
  return n;
}

static void
expect_fault (Fixture *f, const char *body, const char *needle)
{
  g_autofree char *fault = NULL;
  xmlrpc_value *v = call (f, body, &fault);
  if (v != NULL)
    {
      xmlrpc_DECREF (v);
      fail_msg ("expected a fault containing \"%s\"", needle);
    }
  if (strstr (fault, needle) == NULL)
    fail_msg ("fault \"%s\" lacks \"%s\"", fault, needle);
}

#define ADDJOB(task_values, prio) \
  "<?xml version='1.0'?><methodCall><methodName>addjob</methodName>" \
  "<params><param><value><array><data>" task_values "</data></array>" \
  "</value></param><param><value><int>" prio "</int></value></param>" \
  "</params></methodCall>"
#define S(x) "<value><string>" x "</string></value>"
#define NOARGS(m) "<methodCall><methodName>" m "</methodName><params/>" \
  "</methodCall>"

static void
test_addjob_codes (void **state)
{
  Fixture *f = *state;
  assert_int_equal (call_int (f, ADDJOB (S ("bots-engine") S ("-cc"), "5")),
                    0);
  assert_int_equal (call_int (f, ADDJOB (S ("bots-engine") S ("-cc"), "5")),
                    4);
  assert_int_equal (call_int (f, ADDJOB (S ("bots-engine") S ("-cc"), "1")),
                    0);
  assert_int_equal (call_int (f, ADDJOB ("", "5")), 2);
  assert_int_equal (call_int (f, ADDJOB (S ("rm"), "5")), 3);
  assert_int_equal (call_int (f, ADDJOB (S ("isup"), "5")), 0);
  /* a bare <value> is a string too */
  assert_int_equal (call_int (f, ADDJOB ("<value>bots-engine</value>", "2")),
                    0);
  assert_int_equal (jq_scheduler_count_waiting (f->scheduler),
                    2);
}

static void
test_listjobs_and_getjob (void **state)
{
  Fixture *f = *state;
  g_autofree char *fault = NULL;

  assert_int_equal (call_int (f, NOARGS ("listjobs")), 0);
  assert_int_equal (call_int (f, NOARGS ("getjob")), 0);
  call_int (f, ADDJOB (S ("bots-engine") S ("-ca"), "7"));
  call_int (f, ADDJOB (S ("bots-engine") S ("-cb"), "3"));

  xmlrpc_value *list = call (f, NOARGS ("listjobs"), &fault);
  assert_non_null (list);
  xmlrpc_env env;
  xmlrpc_env_init (&env);
  int prio, number;
  const char *a0, *a1;
  xmlrpc_decompose_value (&env, list, "((ii(ss))*)", &prio, &number, &a0,
                          &a1);
  assert_false (env.fault_occurred);
  assert_int_equal (prio, 3);
  assert_int_equal (number, 2);
  assert_string_equal (a1, "-cb");
  free ((void *) a0);
  free ((void *) a1);
  assert_int_equal (xmlrpc_array_size (&env, list), 2);
  xmlrpc_DECREF (list);

  xmlrpc_value *job = call (f, NOARGS ("getjob"), &fault);
  xmlrpc_decompose_value (&env, job, "(ii(ss))", &prio, &number, &a0, &a1);
  assert_int_equal (number, 2);
  free ((void *) a0);
  free ((void *) a1);
  xmlrpc_DECREF (job);
  assert_int_equal (jq_scheduler_count_waiting (f->scheduler),
                    1);
  assert_int_equal (call_int (f, NOARGS ("clearjobq")), 0);
  assert_int_equal (call_int (f, NOARGS ("listjobs")), 0);
  xmlrpc_env_clean (&env);
}

static void
test_faults (void **state)
{
  Fixture *f = *state;
  expect_fault (f, NOARGS ("nosuch"), "method \"nosuch\" is not supported");
  expect_fault (f, "<methodCall><methodName>addjob</methodName><params>"
                   "<param><value><int>1</int></value></param></params>"
                   "</methodCall>", "takes 2 arguments, 1 given");
  expect_fault (f, ADDJOB (S ("a") "<value><int>1</int></value>", "5"),
                "item 1 is not a string");
  expect_fault (f, ADDJOB (S ("bots-engine"), "x"), "not an integer");
  expect_fault (f, "<methodCall><methodName>addjob</methodName><params>"
                   "<param><value><array><data/></array></value></param>"
                   "<param><value><string>5</string></value></param>"
                   "</params></methodCall>", "priority must be an integer");
  expect_fault (f, "", "not a valid XML-RPC call");
  expect_fault (f, "garbage", "not a valid XML-RPC call");
  expect_fault (f, "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"
                   NOARGS ("listjobs"), "DOCTYPE and ENTITY");
  expect_fault (f, ADDJOB (S ("a&#0;b"), "5"), "not a valid XML-RPC");
  assert_int_equal (jq_scheduler_count_waiting (f->scheduler),
                    0);
}

static void
test_comments_and_cdata (void **state)
{
  Fixture *f = *state;
  assert_int_equal (call_int (f, "<?xml version='1.0'?><!-- a comment -->"
                                 NOARGS ("listjobs")), 0);
  assert_int_equal (call_int (f, ADDJOB (
                                 "<value><string><![CDATA[bots-engine]]>"
                                 "</string></value>", "5")), 0);
}

static void
test_depth_limit (void **state)
{
  Fixture *f = *state;
  GString *deep = g_string_new ("<methodCall><methodName>addjob</methodName>"
                                "<params><param>");
  for (int i = 0; i < 40; i++)
    g_string_append (deep, "<value><array><data>");
  for (int i = 0; i < 40; i++)
    g_string_append (deep, "</data></array></value>");
  g_string_append (deep, "</param></params></methodCall>");
  expect_fault (f, deep->str, "nested deeper than 32");
  g_string_free (deep, TRUE);
}

/* jq_rpc_process takes a length, not a string: markup cut at the very end
 * of an unterminated buffer must not be read past (found by fuzzing). */
static void
test_unterminated_body (void **state)
{
  Fixture *f = *state;
  static const char *const tails[] = { "<", "<!", "<!-", "<![CDA", "<?", "</",
                                       "<a" };
  for (gsize i = 0; i < G_N_ELEMENTS (tails); i++)
    {
      gsize n = strlen (tails[i]);
      g_autofree char *exact = g_memdup2 (tails[i], n);  /* no NUL after */
      g_autoptr (GBytes) reply = jq_rpc_process (f->rpc, exact, n);
      assert_non_null (reply);
    }
}

/* xmlrpc-c 1.33 crashed on an <i8> that is not a number (found by
 * fuzzing): such bodies get a fault, and real numbers pass. */
static void
test_bad_integer_elements (void **state)
{
  Fixture *f = *state;
  static const char *const bad[] = { "<i8>U5</i8>", "<i8></i8>", "<i8>5x</i8>",
                                     "<int>--1</int>", "<i4>1 2</i4>",
                                     "<ex:i8>zz</ex:i8>",
                                     "<i8>123456789012345678901234</i8>" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *call = g_strdup_printf (
          "<methodCall><methodName>addjob</methodName><params><param><value>"
          "<array><data>" S ("bots-engine") "</data></array></value></param>"
          "<param><value>%s</value></param></params></methodCall>", bad[i]);
      expect_fault (f, call, "integer");
    }
  assert_int_equal (call_int (f, "<methodCall><methodName>addjob</methodName>"
                                 "<params><param><value><array><data>"
                                 S ("bots-engine") "</data></array></value>"
                                 "</param><param><value><i8>-7</i8></value>"
                                 "</param></params></methodCall>"), 0);
}

/* The three requests that killed the server through xmlrpc-c's parser
 * (issue 12): each gets a fault, and the queue still answers. */
static void
test_crash_inputs (void **state)
{
  Fixture *f = *state;
  expect_fault (f, "<methodCall><methodName>addjob</methodName><params>"
                   "<param><value><array><data>" S ("bots-engine") "</data>"
                   "</array></value></param><param><value>"
                   "<i8>99999999999999999999</i8></value></param></params>"
                   "</methodCall>", "out of its 64-bit range");
  expect_fault (f, "<methodCall><methodName>history</methodName><params>"
                   "<param><value><i8 >abc</i8></value></param></params>"
                   "</methodCall>", "not an integer");
  GString *deep = g_string_new ("<?xml version='1.0'?>");
  for (int i = 0; i < 7000; i++)
    g_string_append (deep, "<a b=\"/>\">");
  expect_fault (f, deep->str, "not XML-RPC");
  g_string_free (deep, TRUE);
  assert_int_equal (call_int (f, NOARGS ("listjobs")), 0);
}

static void
test_oversized_body (void **state)
{
  Fixture *f = *state;
  gsize n = JQ_RPC_MAX_BODY + 1;
  g_autofree char *body = g_malloc (n + 1);
  memset (body, ' ', n);
  body[n] = '\0';
  expect_fault (f, body, "over the limit");
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_addjob_codes),
    T (test_listjobs_and_getjob),
    T (test_faults),
    T (test_comments_and_cdata),
    T (test_depth_limit),
    T (test_unterminated_body),
    T (test_bad_integer_elements),
    T (test_crash_inputs),
    T (test_oversized_body),
  };
  return cmocka_run_group_tests_name ("rpc", tests, NULL, NULL);
}
