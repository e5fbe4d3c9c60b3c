/* The systemd drop-in of bots-jobqueue-switch.
 *
 * Written by root into /etc/systemd/system from paths read in the bots
 * user's bots.ini: a line break there could add any directive (an
 * ExecStartPre= run as root), so a path is written only when it is made
 * of characters that mean nothing to systemd. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "switchunit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define OWN_LINE "# bots package: "

const char *
jq_switchunit_dir (void)
{
  const char *dir = g_getenv ("BOTS_JOBQUEUE_SYSTEMD_DIR");
  if (dir != NULL && dir[0] != '\0')
    return dir;
  if (geteuid () == 0 && g_file_test ("/run/systemd/system", G_FILE_TEST_IS_DIR))
    return "/etc/systemd/system";
  return NULL;
}

/* Folders the sandbox keeps read-only for a reason, whatever bots.ini
 * says: neither they nor anything under them is made writable. */
static gboolean
system_folder (const char *p)
{
  static const char *const under[] = { "/etc", "/boot", "/efi", "/proc", "/sys", "/dev" };
  static const char *const exact[] = { "/", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib",
                                       "/usr/local", "/usr/local/bin", "/var", "/home" };
  g_autofree char *canon = g_canonicalize_filename (p, "/");
  for (gsize i = 0; i < G_N_ELEMENTS (under); i++)
    if (strcmp (canon, under[i]) == 0
        || (g_str_has_prefix (canon, under[i]) && canon[strlen (under[i])] == '/'))
      return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (exact); i++)
    if (strcmp (canon, exact[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
plain_path (const char *p)
{
  if (p == NULL || p[0] != '/' || system_folder (p))
    return FALSE;
  for (const char *c = p; *c; c++)
    if (!g_ascii_isalnum (*c) && strchr ("/._+,:@~-", *c) == NULL)
      return FALSE;
  return TRUE;
}

/* Opens @name in @at (a descriptor, or AT_FDCWD) as a folder, not through
 * a link, and checks it is ours (root's, or this user's) and writable by
 * nobody else. -1 and @error set otherwise. */
static int
open_safe_dir (int at, const char *name, GError **error)
{
  int fd = openat (at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) != 0)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot open %s: %s", name,
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  if ((st.st_uid != 0 && st.st_uid != geteuid ()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                   "%s may be changed by others than its owner (uid %u, mode %o)", name,
                   (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
      close (fd);
      return -1;
    }
  return fd;
}

static char *
dropin_text (const char *folder, const char *botspath, const char *config_dir,
             const char *const *paths)
{
  GString *t = g_string_new (NULL);
  g_string_append_printf (t,
    "# Written by bots-jobqueue-switch for the Bots whose scripts are in\n"
    "# %s; \"bots-jobqueue-switch back\" removes it.\n"
    OWN_LINE "%s\n"
    "# The server and the bots-engine runs it starts write botssys and usersys\n"
    "# (missing ones are skipped); add what else your routes write with\n"
    "# \"systemctl edit bots-jobqueueserver\" (doc/migrating.md).\n"
    "[Service]\nEnvironment=BOTS_DIR=%s\n", folder, botspath, botspath);
  if (config_dir != NULL)
    g_string_append_printf (t, "Environment=BOTS_CONFIG_DIR=%s\n", config_dir);
  g_string_append (t, "ReadWritePaths=");
  for (gsize i = 0; paths[i] != NULL; i++)
    g_string_append_printf (t, "%s-%s", i ? " " : "", paths[i]);
  g_string_append_c (t, '\n');
  return g_string_free (t, FALSE);
}

/* @text into a new file of @dfd under an unpredictable name, then renamed
 * to @name. */
static gboolean
replace_file (int dfd, const char *name, const char *text, GError **error)
{
  guint32 r[2];
  if (getrandom (r, sizeof r, 0) != sizeof r)
    r[0] = g_random_int (), r[1] = g_random_int ();
  g_autofree char *tmp = g_strdup_printf (".%s.%08x%08x", name, r[0], r[1]);
  int fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  gsize len = strlen (text);
  gboolean ok = fd >= 0 && write (fd, text, len) == (ssize_t) len
    && fchmod (fd, 0644) == 0 && fsync (fd) == 0;
  int e = errno;
  if (fd >= 0)
    ok = close (fd) == 0 && ok;
  if (ok && renameat (dfd, tmp, dfd, name) == 0)
    return TRUE;
  e = errno ? errno : e;
  if (fd >= 0)
    unlinkat (dfd, tmp, 0);
  g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot write %s: %s", name, g_strerror (e));
  return FALSE;
}

gboolean
jq_switchunit_write (const char *units_dir, const char *folder, const char *botspath,
                     const char *config_dir, const char *const *paths, GError **error)
{
  for (gsize i = 0; paths[i] != NULL; i++)
    if (!plain_path (paths[i]))
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                     "%s holds characters a unit file would need quoted, or is a "
                     "system folder", paths[i]);
        return FALSE;
      }
  const char *values[] = { botspath, config_dir };
  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] != NULL && values[i][0] != '/')
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "%s is no absolute path", values[i]);
        return FALSE;
      }
  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] != NULL && strpbrk (values[i], " \t\"'\\%$"))
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                     "%s holds characters a unit file would need quoted", values[i]);
        return FALSE;
      }
  if (strchr (folder, '\n') || strchr (botspath, '\n')
      || (config_dir != NULL && strchr (config_dir, '\n')))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "a path holds a line break");
      return FALSE;
    }
  int units = open_safe_dir (AT_FDCWD, units_dir, error);
  if (units < 0)
    return FALSE;
  if (mkdirat (units, JQ_SWITCHUNIT_DROPIN_DIR, 0755) != 0 && errno != EEXIST)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot make %s/%s: %s", units_dir,
                   JQ_SWITCHUNIT_DROPIN_DIR, g_strerror (errno));
      close (units);
      return FALSE;
    }
  int dfd = open_safe_dir (units, JQ_SWITCHUNIT_DROPIN_DIR, error);
  close (units);
  if (dfd < 0)
    return FALSE;
  g_autofree char *text = dropin_text (folder, botspath, config_dir, paths);
  gboolean ok = replace_file (dfd, JQ_SWITCHUNIT_DROPIN, text, error);
  close (dfd);
  return ok;
}

/* Whether the drop-in read through @dfd names @botspath. */
static gboolean
written_for (int dfd, const char *botspath)
{
  int fd = openat (dfd, JQ_SWITCHUNIT_DROPIN, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return FALSE;
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return FALSE;
  buf[n] = '\0';
  g_autofree char *line = g_strconcat ("\n" OWN_LINE, botspath, "\n", NULL);
  return strstr (buf, line) != NULL;
}

gboolean
jq_switchunit_remove (const char *units_dir, const char *botspath, GError **error)
{
  g_autofree char *sub = g_build_filename (units_dir, JQ_SWITCHUNIT_DROPIN_DIR, NULL);
  if (!g_file_test (sub, G_FILE_TEST_IS_DIR))
    return FALSE;
  int dfd = open_safe_dir (AT_FDCWD, sub, error);
  if (dfd < 0)
    return FALSE;
  gboolean removed = FALSE;
  if (written_for (dfd, botspath))
    {
      removed = unlinkat (dfd, JQ_SWITCHUNIT_DROPIN, 0) == 0;
      if (!removed)
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot remove %s/%s: %s", sub,
                     JQ_SWITCHUNIT_DROPIN, g_strerror (errno));
    }
  close (dfd);
  return removed;
}
