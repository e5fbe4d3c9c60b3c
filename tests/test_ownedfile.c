/* Tests of reading a file another user may control: only a regular file,
 * never more than the bound, an open that never waits, and as root, what
 * the controlling user may read and nothing more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "botsenv.h"
#include "error.h"
#include "ownedfile.h"

#define NOBODY 65534

static char *
write_file (const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename (dir, name, NULL);
  assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static void
remove_tree (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
}

static void
test_regular_and_bounded (void **state)
{
  (void) state;
  g_autofree char *dir = g_dir_make_tmp ("jqowned-XXXXXX", NULL);
  g_autofree char *small = write_file (dir, "small", "0123456789");
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  g_autofree char *all = jq_ownedfile_read (small, "it", 10,
                                            JQ_OWNEDFILE_WHOLE, &len, &error);
  assert_non_null (all);
  assert_int_equal (len, 10);
  assert_string_equal (all, "0123456789");
  /* one byte over the bound: refused whole, cut as a head */
  g_autofree char *over = jq_ownedfile_read (small, "it", 9,
                                             JQ_OWNEDFILE_WHOLE, NULL, &error);
  assert_null (over);
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_IO));
  g_clear_error (&error);
  g_autofree char *head = jq_ownedfile_read (small, "it", 4,
                                             JQ_OWNEDFILE_HEAD, &len, &error);
  assert_string_equal (head, "0123");
  assert_int_equal (len, 4);
  /* /dev/zero is endless, a FIFO would wait for a writer: both refused
   * at once, naming what the file must be */
  g_autofree char *zero = jq_ownedfile_read ("/dev/zero", "settings.py",
                                             1024, JQ_OWNEDFILE_HEAD, NULL,
                                             &error);
  assert_null (zero);
  assert_non_null (strstr (error->message, "settings.py must be one"));
  g_clear_error (&error);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  assert_int_equal (mkfifo (fifo, 0600), 0);
  assert_null (jq_ownedfile_read (fifo, "it", 1024, JQ_OWNEDFILE_WHOLE,
                                  NULL, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_IO));
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  assert_null (jq_ownedfile_read (missing, "it", 1024, JQ_OWNEDFILE_WHOLE,
                                  NULL, &error));
  assert_true (g_error_matches (error, JQ_ERROR, JQ_ERROR_NOT_FOUND));
  remove_tree (dir);
}

/* Root reading settings.py in a folder of another user, who made it a
 * link to a file only root may read: the secret is not read. */
static void
test_root_reads_as_the_controller (void **state)
{
  (void) state;
  if (geteuid () != 0)
    {
      skip ();
      return;
    }
  g_autofree char *dir = g_dir_make_tmp ("jqowned-XXXXXX", NULL);
  assert_int_equal (chmod (dir, 0755), 0);
  g_autofree char *secret = write_file (dir, "secret",
                                        "TIME_ZONE = 'Secret/Zone'\n");
  assert_int_equal (chmod (secret, 0600), 0);
  g_autofree char *config = g_build_filename (dir, "config", NULL);
  assert_int_equal (g_mkdir (config, 0755), 0);
  assert_int_equal (chown (config, NOBODY, NOBODY), 0);
  g_autofree char *settings = g_build_filename (config, "settings.py", NULL);
  assert_int_equal (symlink (secret, settings), 0);
  assert_int_equal (lchown (settings, NOBODY, NOBODY), 0);
  g_autofree char *zone = jq_botsenv_read_assignment (settings, "TIME_ZONE");
  assert_null (zone);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = jq_ownedfile_read (settings, "settings.py", 1024,
                                             JQ_OWNEDFILE_WHOLE, NULL,
                                             &error);
  assert_null (text);
  assert_non_null (strstr (error->message, "who controls it"));
  /* what that user may read is read as before */
  g_autofree char *own = write_file (config, "own.py",
                                     "TIME_ZONE = 'Europe/Amsterdam'\n");
  assert_int_equal (chown (own, NOBODY, NOBODY), 0);
  g_autofree char *read = jq_botsenv_read_assignment (own, "TIME_ZONE");
  assert_string_equal (read, "Europe/Amsterdam");
  remove_tree (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_regular_and_bounded),
    cmocka_unit_test (test_root_reads_as_the_controller),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
