/* Running job queue servers, found in /proc. */
#include "switchproc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
same_file (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0
    && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* /proc/PID/@what split at its NULs; NULL when unreadable. */
static GPtrArray *
proc_strings (const char *pid, const char *what)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/%s", pid, what);
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents (path, &text, &len, NULL))
    return NULL;
  GPtrArray *v = g_ptr_array_new_with_free_func (g_free);
  for (gsize i = 0; i < len; i += strlen (text + i) + 1)
    g_ptr_array_add (v, g_strdup (text + i));
  return v;
}

static gboolean
is_pid (const char *name)
{
  for (const char *c = name; *c; c++)
    if (!isdigit ((unsigned char) *c))
      return FALSE;
  return name[0] != '\0';
}

/* Whether the command line @argv of a process with working folder @cwd
 * is a Python running a server script of @folder. */
static gboolean
runs_server_script (GPtrArray *argv, const char *cwd, const char *folder,
                    const char *suffix)
{
  static const char *const servers[] = { "bots-jobqueueserver", "bots-jobqueueserver.py" };
  if (argv->len == 0)
    return FALSE;
  g_autofree char *first = g_path_get_basename (argv->pdata[0]);
  if (!g_str_has_prefix (first, "python"))
    return FALSE;
  for (guint i = 1; i < argv->len; i++)
    {
      g_autofree char *base = g_path_get_basename (argv->pdata[i]);
      if (strcmp (base, servers[0]) != 0 && strcmp (base, servers[1]) != 0)
        continue;
      g_autofree char *p = g_path_is_absolute (argv->pdata[i])
        ? g_strdup (argv->pdata[i]) : g_build_filename (cwd, argv->pdata[i], NULL);
      for (gsize j = 0; j < G_N_ELEMENTS (servers); j++)
        {
          g_autofree char *here = g_build_filename (folder, servers[j], NULL);
          g_autofree char *kept = g_strconcat (here, suffix, NULL);
          if (same_file (p, here) || same_file (p, kept))
            return TRUE;
        }
    }
  return FALSE;
}

int
jq_switchproc_python_server (const char *folder, const char *suffix)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (!is_pid (name))
        continue;
      g_autoptr (GPtrArray) argv = proc_strings (name, "cmdline");
      if (argv == NULL)
        continue;
      g_autofree char *link = g_strdup_printf ("/proc/%s/cwd", name);
      g_autofree char *cwd = g_file_read_link (link, NULL);
      if (runs_server_script (argv, cwd ? cwd : "/", folder, suffix))
        return atoi (name);
    }
  return 0;
}

/* The bots package a server of ours was given: BOTS_DIR or the
 * wrapper's BOTS_JOBQUEUE_BOTSPATH, whichever comes first; NULL. */
static char *
given_botspath (const char *pid)
{
  g_autoptr (GPtrArray) env = proc_strings (pid, "environ");
  for (guint i = 0; env != NULL && i < env->len; i++)
    {
      const char *e = env->pdata[i];
      if (g_str_has_prefix (e, "BOTS_DIR=") && e[9])
        return g_strdup (e + 9);
      if (g_str_has_prefix (e, "BOTS_JOBQUEUE_BOTSPATH=") && e[23])
        return g_strdup (e + 23);
    }
  return NULL;
}

int
jq_switchproc_our_server (const char *server, const char *botspath)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (!is_pid (name))
        continue;
      g_autofree char *exe = g_strdup_printf ("/proc/%s/exe", name);
      if (!same_file (exe, server))
        continue;
      g_autofree char *given = given_botspath (name);
      if (given != NULL && botspath != NULL)
        {
          if (same_file (given, botspath))
            return atoi (name);
        }
      else
        fprintf (stderr, "bots-jobqueue-switch: warning: bots-jobqueueserver runs (process "
                 "%s); if it serves this Bots, stop it: Bots' own server cannot start while "
                 "it holds the port\n", name);
    }
  return 0;
}

/* The inodes of the sockets listening on @port in one of /proc/net/tcp
 * and tcp6 (columns: sl local_address rem_address st ... uid timeout
 * inode; the port is the hex after the colon, st 0A is LISTEN). */
static void
listening_inodes (const char *table, guint port, GHashTable *inodes)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (table, &text, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (gsize i = 1; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
      GPtrArray *col = g_ptr_array_new ();
      for (gsize j = 0; f[j] != NULL; j++)
        if (f[j][0] != '\0')
          g_ptr_array_add (col, f[j]);
      const char *local = col->len > 9 ? col->pdata[1] : NULL;
      const char *colon = local ? strrchr (local, ':') : NULL;
      if (colon != NULL && strcmp (col->pdata[3], "0A") == 0
          && g_ascii_strtoull (colon + 1, NULL, 16) == port)
        g_hash_table_add (inodes, g_strdup_printf ("socket:[%s]", (char *) col->pdata[9]));
      g_ptr_array_free (col, TRUE);
    }
}

/* Whether one of process @pid's descriptors is one of @inodes. */
static gboolean
holds_socket (const char *pid, GHashTable *inodes)
{
  g_autofree char *fds = g_strdup_printf ("/proc/%s/fd", pid);
  g_autoptr (GDir) dir = g_dir_open (fds, 0, NULL);
  const char *fd;
  while (dir != NULL && (fd = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fds, fd, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);
      if (target != NULL && g_hash_table_contains (inodes, target))
        return TRUE;
    }
  return FALSE;
}

int
jq_switchproc_listener (guint port, char **argv0)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                         g_free, NULL);
  listening_inodes ("/proc/net/tcp", port, inodes);
  listening_inodes ("/proc/net/tcp6", port, inodes);
  if (g_hash_table_size (inodes) == 0)
    return 0;
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (!is_pid (name) || !holds_socket (name, inodes))
        continue;
      if (argv0 != NULL)
        {
          g_autoptr (GPtrArray) argv = proc_strings (name, "cmdline");
          *argv0 = g_strdup (argv != NULL && argv->len > 0 ? argv->pdata[0] : "?");
        }
      return atoi (name);
    }
  return 0;
}

gboolean
jq_switchproc_is_program (int pid, const char *path)
{
  g_autofree char *exe = g_strdup_printf ("/proc/%d/exe", pid);
  return same_file (exe, path);
}
