/* Running job queue servers, found in /proc. */
#include "switchproc.h"

#include <ctype.h>
#include <stdio.h>
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
