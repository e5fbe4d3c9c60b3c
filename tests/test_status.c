/* Tests of the status module's pure parts: JSON string escaping and the
 * paths it answers, the page's Content-Security-Policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "snapshot.h"
#include "status.h"

static char *
quoted (const char *text)
{
  GString *out = g_string_new (NULL);
  jq_status_append_json_string (out, text);
  return g_string_free (out, FALSE);
}

static void
test_json_escaping (void **state)
{
  static const struct { const char *in, *out; } cases[] = {
    { "bots-engine", "\"bots-engine\"" },
    { "<script>alert(1)</script>",
      "\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"" },
    { "a\"b\\c", "\"a\\\"b\\\\c\"" },
    { "tab\there\nnl\x01\x7f", "\"tab\\u0009here\\nnl\\u0001\\u007f\"" },
    { "&amp;", "\"\\u0026amp;\"" },
    { "caf\xc3\xa9", "\"caf\xc3\xa9\"" },          /* UTF-8 kept */
    { "bad\xff", "\"bad\xef\xbf\xbd\"" },          /* replaced, not passed */
    { "", "\"\"" },
    /* C1 controls, format characters (U+202E, U+200B, U+FEFF, U+E0041) */
    { "a\xc2\x85\xc2\x9b[2J", "\"a\\u0085\\u009b[2J\"" },
    { "\xe2\x80\xae\xe2\x80\x8b\xef\xbb\xbfx",
      "\"\\u202e\\u200b\\ufeffx\"" },
    { "\xf3\xa0\x81\x81", "\"\\udb40\\udc41\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = quoted (cases[i].in);
      assert_string_equal (got, cases[i].out);
    }
}

static void
test_paths (void **state)
{
  assert_int_equal (jq_status_match ("/"), JQ_STATUS_PAGE);
  assert_int_equal (jq_status_match ("/index.html"), JQ_STATUS_PAGE);
  assert_int_equal (jq_status_match ("/status.json"), JQ_STATUS_JSON);
  assert_int_equal (jq_status_match ("/metrics"), JQ_STATUS_METRICS);
  assert_int_equal (jq_status_match ("/RPC2"), JQ_STATUS_NONE);
  assert_int_equal (jq_status_match ("/metrics/"), JQ_STATUS_NONE);
  assert_int_equal (jq_status_match ("*"), JQ_STATUS_NONE);
  assert_int_equal (jq_status_match (NULL), JQ_STATUS_NONE);
  assert_int_equal (jq_status_match ("/favicon.ico"), JQ_STATUS_ICON);
  assert_int_equal (jq_status_match ("/favicon.ico/"), JQ_STATUS_NONE);
}

/* The page's script and style by their hash, nothing inline besides. */
static void
test_page_csp (void **state)
{
  const char *csp = jq_status_page_csp ();
  assert_null (strstr (csp, "unsafe"));
  assert_non_null (strstr (csp, "script-src 'sha256-"));
  assert_non_null (strstr (csp, "style-src 'sha256-"));
  assert_non_null (strstr (csp, "default-src 'none'"));
  assert_ptr_equal (jq_status_page_csp (), csp);      /* computed once */
}

/* The service manager's line, as the snapshot has it. */
static void
test_snapshot_line (void **state)
{
  static const char *const task[] = { "bots-engine", NULL };
  JqSnapshot now = { .waiting = 3 };
  now.running = g_ptr_array_new_with_free_func ((GDestroyNotify) jq_job_unref);
  g_autofree char *idle = jq_snapshot_line (&now);
  assert_string_equal (idle, "idle, 3 waiting");
  g_ptr_array_add (now.running, jq_job_new (42, 5, task, 0));
  g_ptr_array_add (now.running, jq_job_new (43, 5, task, 0));
  now.paused = TRUE;
  g_autofree char *busy = jq_snapshot_line (&now);
  assert_string_equal (busy, "paused; running job 42, job 43, 3 waiting");
  jq_snapshot_clear (&now);
  assert_null (now.running);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_json_escaping),
    cmocka_unit_test (test_paths),
    cmocka_unit_test (test_page_csp),
    cmocka_unit_test (test_snapshot_line),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
