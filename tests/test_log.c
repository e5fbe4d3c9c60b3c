/* Tests of the log: Bots' line format, levels, midnight rotation (with an
 * injected clock) and the number of old files kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <utime.h>

#include "log.h"

typedef struct {
  char  *dir;
  char  *path;
  gint64 now;          /* unix seconds the fake clock reports */
} Fixture;

static GDateTime *
fake_clock (gpointer user_data)
{
  Fixture *f = user_data;
  return g_date_time_new_from_unix_local (f->now);
}

static gint64
utc (int y, int mo, int d, int h, int mi, int s)
{
  g_autoptr (GDateTime) t = g_date_time_new_utc (y, mo, d, h, mi, s);
  return g_date_time_to_unix (t);
}

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->dir = g_dir_make_tmp ("jqlog-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "logging", "jobqueue.log", NULL);
  f->now = utc (2026, 11, 27, 23, 59, 0);
  *state = f;
  return 0;
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        remove_tree (p);
      else
        g_unlink (p);
    }
  g_rmdir (dir);
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->path);
  g_free (f);
  return 0;
}

static char *
read_file (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("<missing>");
  return text;
}

static JqLog *
open_log (Fixture *f, JqLogLevel file_level)
{
  g_autoptr (GError) error = NULL;
  JqLog *log = jq_log_new (f->path, file_level, FALSE, JQ_LOG_CRITICAL,
                           &error);
  assert_non_null (log);
  jq_log_set_clock (log, fake_clock, f);
  return log;
}

static void
test_format_line (void **state)
{
  g_autoptr (GDateTime) t = g_date_time_new_local (2026, 11, 27, 14, 3, 7);
  g_autofree char *a = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_INFO,
                                           "Added job 12, priority 5: "
                                           "['bots-engine', '-cconfig']");
  g_autofree char *b = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_STARTINFO,
                                           "Bots jobqueue started.");
  g_autofree char *c = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_ERROR, "x");
  assert_string_equal (a, "20261127 14:03:07 INFO     : Added job 12, "
                          "priority 5: ['bots-engine', '-cconfig']\n");
  assert_string_equal (b, "20261127 14:03:07 STARTINFO: Bots jobqueue "
                          "started.\n");
  assert_string_equal (c, "20261127 14:03:07 ERROR    : x\n");
}

static void
test_levels (void **state)
{
  JqLogLevel l;
  assert_true (jq_log_level_parse ("STARTINFO", &l));
  assert_int_equal (l, 25);
  assert_true (jq_log_level_parse ("debug", &l));
  assert_int_equal (l, 10);
  assert_true (jq_log_level_parse (" Critical ", &l));
  assert_int_equal (l, 50);
  assert_false (jq_log_level_parse ("NOTICE", &l));
  assert_false (jq_log_level_parse ("", &l));
  assert_string_equal (jq_log_level_name (JQ_LOG_WARNING), "WARNING");
}

static void
test_file_level_filters (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_STARTINFO);
  jq_log_write (log, JQ_LOG_INFO, "not written");
  jq_log_write (log, JQ_LOG_STARTINFO, "started %d", 1);
  jq_log_write (log, JQ_LOG_ERROR, "an error");
  g_autofree char *text = read_file (f->path);
  assert_null (strstr (text, "not written"));
  assert_string_equal (text, "20261127 23:59:00 STARTINFO: started 1\n"
                             "20261127 23:59:00 ERROR    : an error\n");
}

static void
test_rotates_at_midnight (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  jq_log_write (log, JQ_LOG_INFO, "before midnight");
  f->now = utc (2026, 11, 27, 23, 59, 59);
  jq_log_write (log, JQ_LOG_INFO, "still before");
  f->now = utc (2026, 11, 28, 0, 0, 1);
  jq_log_write (log, JQ_LOG_INFO, "after midnight");

  g_autofree char *backup = g_strconcat (f->path, ".2026-11-27", NULL);
  g_autofree char *old = read_file (backup);
  g_autofree char *live = read_file (f->path);
  assert_non_null (strstr (old, "before midnight"));
  assert_non_null (strstr (old, "still before"));
  assert_null (strstr (old, "after midnight"));
  assert_string_equal (live, "20261128 00:00:01 INFO     : after midnight\n");

  /* The next rollover is the following midnight, not sooner. */
  f->now = utc (2026, 11, 28, 23, 0, 0);
  jq_log_write (log, JQ_LOG_INFO, "same day");
  g_autofree char *next = g_strconcat (f->path, ".2026-11-28", NULL);
  assert_false (g_file_test (next, G_FILE_TEST_EXISTS));
}

static void
test_keeps_ten_backups (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  for (int day = 0; day < 14; day++)
    {
      f->now = utc (2026, 12, 1 + day, 12, 0, 0);
      jq_log_write (log, JQ_LOG_INFO, "day %d", day);
    }
  /* The first write (Dec 1) rolled the Nov 27 file; then Dec 1..13 were
   * rolled in turn: 14 backups made, the 10 newest kept. */
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  int backups = 0;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "jobqueue.log."))
      backups++;
  assert_int_equal (backups, JQ_LOG_BACKUP_COUNT);
  g_autofree char *newest = g_strconcat (f->path, ".2026-12-13", NULL);
  g_autofree char *oldest_kept = g_strconcat (f->path, ".2026-12-04", NULL);
  g_autofree char *dropped = g_strconcat (f->path, ".2026-12-03", NULL);
  assert_true (g_file_test (newest, G_FILE_TEST_EXISTS));
  assert_true (g_file_test (oldest_kept, G_FILE_TEST_EXISTS));
  assert_false (g_file_test (dropped, G_FILE_TEST_EXISTS));
}

static void
test_other_files_untouched (void **state)
{
  Fixture *f = *state;
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *engine = g_build_filename (dir, "engine.log.2020-01-01",
                                              NULL);
  g_autofree char *odd = g_build_filename (dir, "jobqueue.log.old", NULL);
  g_file_set_contents (engine, "x", -1, NULL);
  g_file_set_contents (odd, "x", -1, NULL);
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  for (int day = 0; day < 13; day++)
    {
      f->now = utc (2027, 1, 1 + day, 12, 0, 0);
      jq_log_write (log, JQ_LOG_INFO, "day %d", day);
    }
  assert_true (g_file_test (engine, G_FILE_TEST_EXISTS));
  assert_true (g_file_test (odd, G_FILE_TEST_EXISTS));
}

/* A file last written two days ago rolls over at the first write, named
 * after the day it was last written, as Python's handler does. */
static void
test_rollover_from_file_age (void **state)
{
  Fixture *f = *state;
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_mkdir_with_parents (dir, 0755);
  g_file_set_contents (f->path, "old line\n", -1, NULL);
  struct utimbuf times = { 0 };
  times.actime = times.modtime = utc (2026, 11, 25, 10, 0, 0);
  assert_int_equal (utime (f->path, &times), 0);

  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  jq_log_write (log, JQ_LOG_INFO, "new line");
  g_autofree char *backup = g_strconcat (f->path, ".2026-11-25", NULL);
  g_autofree char *old = read_file (backup);
  g_autofree char *live = read_file (f->path);
  assert_string_equal (old, "old line\n");
  assert_non_null (strstr (live, "new line"));
  assert_null (strstr (live, "old line"));
}

static void
test_reopen_after_external_rotation (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  jq_log_write (log, JQ_LOG_INFO, "one");
  g_autofree char *moved = g_strconcat (f->path, ".1", NULL);
  assert_int_equal (g_rename (f->path, moved), 0);
  assert_true (jq_log_reopen (log, NULL));
  jq_log_write (log, JQ_LOG_INFO, "two");
  g_autofree char *live = read_file (f->path);
  assert_string_equal (live, "20261127 23:59:00 INFO     : two\n");
}

static void
test_unwritable_path (void **state)
{
  g_autoptr (GError) error = NULL;
  JqLog *log = jq_log_new ("/proc/no/such/jobqueue.log", JQ_LOG_INFO, FALSE,
                           JQ_LOG_INFO, &error);
  assert_null (log);
  assert_non_null (strstr (error->message, "/proc/no/such"));
}

static void
test_held_lines_arrive_at_release (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  jq_log_write (log, JQ_LOG_INFO, "alone");
  jq_log_hold (log);
  jq_log_hold (log);
  jq_log_write (log, JQ_LOG_INFO, "first of a batch");
  jq_log_write (log, JQ_LOG_INFO, "second of a batch");
  g_autofree char *during = read_file (f->path);
  assert_string_equal (during, "20261127 23:59:00 INFO     : alone\n");
  jq_log_release (log);
  g_autofree char *nested = read_file (f->path);
  assert_null (strstr (nested, "first of a batch"));
  jq_log_release (log);
  g_autofree char *after = read_file (f->path);
  assert_string_equal (after, "20261127 23:59:00 INFO     : alone\n"
                              "20261127 23:59:00 INFO     : first of a batch\n"
                              "20261127 23:59:00 INFO     : second of a batch\n");
  /* not held any more: written at once */
  jq_log_write (log, JQ_LOG_INFO, "later");
  g_autofree char *later = read_file (f->path);
  assert_non_null (strstr (later, "later"));
}

static void
test_bots4_zone_and_count (void **state)
{
  Fixture *f = *state;
  f->now = utc (2026, 11, 27, 22, 30, 0);
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  /* 23:30 UTC is 00:30 the next day in Amsterdam (UTC+1 in winter). */
  assert_true (jq_log_configure (log, JQ_LOG_STYLE_BOTS4,
                                 "Europe/Amsterdam", 3));
  jq_log_write (log, JQ_LOG_STARTINFO, "Bots jobqueue started.");
  jq_log_write (log, JQ_LOG_START, "Starting job 1");
  f->now = utc (2026, 11, 27, 23, 30, 0);
  jq_log_write (log, JQ_LOG_DONE, "Finished job 1");
  g_autofree char *backup = g_strconcat (f->path, ".2026-11-27", NULL);
  g_autofree char *old = read_file (backup);
  g_autofree char *live = read_file (f->path);
  assert_string_equal (old,
      "2026.11.27 23:30:00 STARTINFO [bots.jobqueueserver] Bots jobqueue started.\n"
      "2026.11.27 23:30:00 START     [bots.jobqueueserver] Starting job 1\n");
  assert_string_equal (live,
      "2026.11.28 00:30:00 DONE      [bots.jobqueueserver] Finished job 1\n");
  for (int day = 0; day < 6; day++)
    {
      f->now = utc (2026, 12, 1 + day, 12, 0, 0);
      jq_log_write (log, JQ_LOG_INFO, "day %d", day);
    }
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  int backups = 0;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "jobqueue.log."))
      backups++;
  assert_int_equal (backups, 3);
  /* An unknown zone is said, and the system's used. */
  assert_false (jq_log_configure (log, JQ_LOG_STYLE_BOTS4, "Mars/Olympus", 3));
}

static void
test_bots4_levels_rank (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_STARTINFO);
  jq_log_configure (log, JQ_LOG_STYLE_BOTS4, "UTC", 30);
  /* Bots 4's STARTINFO is 28: START (27) and DONE (26) stay below it. */
  jq_log_write (log, JQ_LOG_START, "start");
  jq_log_write (log, JQ_LOG_DONE, "done");
  jq_log_write (log, JQ_LOG_STARTINFO, "startinfo");
  g_autofree char *live = read_file (f->path);
  assert_null (strstr (live, "start\n"));
  assert_null (strstr (live, "done"));
  assert_non_null (strstr (live, "startinfo"));
  /* Bots 3 knows no START or DONE: they are INFO there. */
  g_autoptr (GDateTime) t = g_date_time_new_utc (2026, 1, 2, 3, 4, 5);
  g_autofree char *line = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t,
                                              JQ_LOG_DONE, "x");
  assert_string_equal (line, "20260102 03:04:05 INFO     : x\n");
  JqLogLevel l;
  assert_true (jq_log_level_parse ("stdout", &l));
  assert_int_equal (l, 11);
}

/* Nothing a message holds can start a line of its own or reach a
 * terminal as a control sequence. */
static void
test_format_line_cannot_be_forged (void **state)
{
  g_autoptr (GDateTime) t = g_date_time_new_local (2026, 11, 27, 14, 3, 7);
  g_autofree char *a = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_INFO, "Job 1 stdout:\n20261127 14:03:08 INFO     : "
      "Finished job 9, elapsed time 0:00:01, exit code 0\n\tok\n");
  assert_string_equal (a, "20261127 14:03:07 INFO     : Job 1 stdout:\n"
                          "    20261127 14:03:08 INFO     : Finished job 9, "
                          "elapsed time 0:00:01, exit code 0\n"
                          "    \tok\n");
  g_autofree char *b = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_ERROR, "\x1b[2J\rover\x7f\xc2\x9b\xe2\x80\xa8x\xff");
  assert_string_equal (b, "20261127 14:03:07 ERROR    : \\x1b[2J\\x0dover"
                          "\\x7f\\x9b\\u2028x\\xff\n");
  /* format characters (Cf): U+202E, U+200B, U+FEFF, U+E0041 */
  g_autofree char *d = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_INFO,
      "a\xe2\x80\xae" "b\xe2\x80\x8b" "c\xef\xbb\xbf\xf3\xa0\x81\x81");
  assert_string_equal (d, "20261127 14:03:07 INFO     : a\\u202eb\\u200bc"
                          "\\ufeff\\U000e0041\n");
  /* printable text, non-ASCII included, is left alone */
  g_autofree char *c = jq_log_format_line (JQ_LOG_STYLE_BOTS3, t, JQ_LOG_INFO,
                                           "caf\xc3\xa9 ['a\\nb']");
  assert_string_equal (c, "20261127 14:03:07 INFO     : caf\xc3\xa9 "
                          "['a\\nb']\n");
}

static void
test_limit_summarizes (void **state)
{
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  f->now = utc (2026, 11, 27, 12, 0, 0);
  g_autoptr (JqLogLimit) limit = jq_log_limit_new (log, "refused tasks", 3,
                                                   60);
  int written = 0;
  for (int i = 0; i < 1000; i++)
    written += jq_log_limit_write (limit, JQ_LOG_ERROR, "refused %d", i);
  assert_int_equal (written, 3);
  assert_int_equal (jq_log_limit_pending (limit), 997);
  f->now += 59;
  assert_false (jq_log_limit_write (limit, JQ_LOG_ERROR, "refused late"));
  f->now += 1;                  /* a new window: summary, then the record */
  assert_true (jq_log_limit_write (limit, JQ_LOG_ERROR, "refused next"));
  assert_int_equal (jq_log_limit_write (limit, JQ_LOG_ERROR, "x"), TRUE);
  assert_int_equal (jq_log_limit_write (limit, JQ_LOG_ERROR, "y"), TRUE);
  assert_false (jq_log_limit_write (limit, JQ_LOG_ERROR, "z"));
  assert_int_equal (jq_log_limit_flush (limit), 1);
  assert_int_equal (jq_log_limit_flush (limit), 0);
  g_autofree char *text = read_file (f->path);
  assert_string_equal (text,
      "20261127 12:00:00 ERROR    : refused 0\n"
      "20261127 12:00:00 ERROR    : refused 1\n"
      "20261127 12:00:00 ERROR    : refused 2\n"
      "20261127 12:01:00 ERROR    : 998 more refused tasks in the last 60 "
      "seconds were not logged one by one.\n"
      "20261127 12:01:00 ERROR    : refused next\n"
      "20261127 12:01:00 ERROR    : x\n"
      "20261127 12:01:00 ERROR    : y\n"
      "20261127 12:01:00 ERROR    : 1 more refused tasks in the last 60 "
      "seconds were not logged one by one.\n");
}

static void
test_discarded_lines_never_arrive (void **state)
{
  /* A batch whose journal commit failed: what it logged was not saved. */
  Fixture *f = *state;
  g_autoptr (JqLog) log = open_log (f, JQ_LOG_INFO);
  jq_log_hold (log);
  jq_log_write (log, JQ_LOG_INFO, "Added job 19, never saved");
  jq_log_discard (log);
  jq_log_write (log, JQ_LOG_CRITICAL, "why");
  g_autofree char *after = read_file (f->path);
  assert_string_equal (after, "20261127 23:59:00 CRITICAL : why\n");
  /* The next batch is logged as usual. */
  jq_log_hold (log);
  jq_log_write (log, JQ_LOG_INFO, "next");
  jq_log_release (log);
  g_autofree char *next = read_file (f->path);
  assert_non_null (strstr (next, "INFO     : next"));
}

int
main (void)
{
  /* Dates in the expectations are in UTC. */
  setenv ("TZ", "UTC", 1);
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_format_line),
    cmocka_unit_test (test_format_line_cannot_be_forged),
    T (test_limit_summarizes),
    cmocka_unit_test (test_levels),
    T (test_bots4_zone_and_count),
    T (test_bots4_levels_rank),
    T (test_file_level_filters),
    T (test_rotates_at_midnight),
    T (test_keeps_ten_backups),
    T (test_other_files_untouched),
    T (test_rollover_from_file_age),
    T (test_reopen_after_external_rotation),
    T (test_held_lines_arrive_at_release),
    T (test_discarded_lines_never_arrive),
    cmocka_unit_test (test_unwritable_path),
  };
  return cmocka_run_group_tests_name ("log", tests, NULL, NULL);
}
