/* The authorization policy: see policy.h. */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "botsenv.h"
#include "error.h"
#include "task.h"

/* ------------------------------------------------------ authorization
 *
 * The old rule compared paths as text (g_canonicalize_filename folds
 * "a/lnk/.." to "a"), while the kernel follows "lnk" first: a user's
 * symlink then led an "authorized" path into the user's own tree.  So
 * every comparison here is between realpath(3) results, and what runs is
 * the trusted file under its trusted spelling, never the text sent. */

struct _JqTaskPolicy {
  char    **authorized;         /* authorized_tasks without "*" */
  gboolean  anything;           /* "*" was listed */
  char     *search_path;
  char     *job_dir;            /* absolute */
  char     *python_executable;  /* nullable */
  char     *bots_engine;        /* nullable */
  char     *bots_python;        /* nullable: the Python that runs Bots */
  char    **scripts_dirs;       /* absolute folders, no duplicates */
  /* The trusted files, looked up at most once a second: finding them
   * takes a PATH search and a realpath each (80 us a decision with a long
   * PATH, on the thread that answers every call).  Only the
   * administrator's files are remembered; what a client sends is
   * resolved at every decision. */
  gint64      found_us;         /* monotonic; 0 = not yet */
  GPtrArray  *engines;          /* Trusted* */
  GPtrArray  *listed;           /* Trusted* */
  GPtrArray  *own_pythons;      /* Trusted*: Bots' own, whatever name is
                                 * sent */
  GHashTable *pythons;          /* name sent -> GPtrArray of Trusted* */
  /* Where a bare name was found on PATH ("" when nowhere), for the
   * addjob decisions of one second: the search is a stat() and access()
   * per PATH entry, and was half of the loop thread's time at 16
   * connections (doc/performance.md).  A job's start searches afresh. */
  GHashTable *on_path;          /* name -> path or "" */
  gint64      on_path_us;       /* monotonic, when it was emptied */
  gboolean    deciding;         /* inside jq_task_is_authorized() */
};

#define TRUSTED_FOR_US G_USEC_PER_SEC
/* Distinct names remembered at most (clients choose the names). */
#define ON_PATH_MAX 64

typedef struct {
  char *spelling;               /* absolute; what runs */
  char *real;                   /* its realpath; NULL: cannot be resolved */
} Trusted;

static void
trusted_free (gpointer data)
{
  Trusted *t = data;
  g_free (t->spelling);
  g_free (t->real);
  g_free (t);
}

static const char *const engine_names[] = { "bots-engine", "bots-engine.py",
                                            NULL };

static gboolean
is_engine_name (const char *name)
{
  return g_strv_contains (engine_names, name);
}

/* python, python3, python2.7, ... */
static gboolean
is_python_name (const char *name)
{
  if (!g_str_has_prefix (name, "python"))
    return FALSE;
  return strspn (name + 6, "0123456789.") == strlen (name + 6);
}

static char *
absolute_in (const char *dir, const char *path)
{
  if (g_path_is_absolute (path))
    return g_strdup (path);
  return g_build_filename (dir, path, NULL);
}

static gboolean
is_executable_file (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode)
         && access (path, X_OK) == 0;
}

/* The file posix_spawnp() would execute for @name, as an absolute path
 * (not resolved further), or NULL.  A name with a slash is taken as it
 * is, relative to the job folder; a bare name is searched on PATH, an
 * empty or relative PATH entry meaning the job folder (the search
 * happens in the child, after its chdir). */
static char *search_path_for (JqTaskPolicy *p, const char *name);

static char *
find_program (JqTaskPolicy *p, const char *name)
{
  if (name[0] == '\0')
    return NULL;
  if (strchr (name, '/') != NULL)
    return absolute_in (p->job_dir, name);
  if (!p->deciding)
    return search_path_for (p, name);
  gint64 now = g_get_monotonic_time ();
  if (now - p->on_path_us >= TRUSTED_FOR_US
      || g_hash_table_size (p->on_path) >= ON_PATH_MAX)
    {
      g_hash_table_remove_all (p->on_path);
      p->on_path_us = now;
    }
  const char *known = g_hash_table_lookup (p->on_path, name);
  if (known == NULL)
    {
      char *found = search_path_for (p, name);
      known = found ? found : g_strdup ("");
      g_hash_table_insert (p->on_path, g_strdup (name), (char *) known);
    }
  return known[0] ? g_strdup (known) : NULL;
}

static char *
search_path_for (JqTaskPolicy *p, const char *name)
{
  g_auto (GStrv) dirs = g_strsplit (p->search_path, ":", -1);
  for (gsize i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *dir = absolute_in (p->job_dir,
                                          dirs[i][0] ? dirs[i] : ".");
      g_autofree char *candidate = g_build_filename (dir, name, NULL);
      if (is_executable_file (candidate))
        return g_steal_pointer (&candidate);
    }
  return NULL;
}

/* <prefix>/bin for a package installed in <prefix>/lib/pythonX.Y/
 * site-packages/... (or lib64, or dist-packages), else NULL. */
static char *
prefix_bin (const char *package_dir)
{
  g_auto (GStrv) parts = g_strsplit (package_dir, "/", -1);
  gssize found = -1;

  for (gsize i = 0; parts[i] != NULL && parts[i + 1] != NULL
                    && parts[i + 2] != NULL; i++)
    if ((strcmp (parts[i], "lib") == 0 || strcmp (parts[i], "lib64") == 0)
        && g_str_has_prefix (parts[i + 1], "python")
        && (strcmp (parts[i + 2], "site-packages") == 0
            || strcmp (parts[i + 2], "dist-packages") == 0))
      found = (gssize) i;
  if (found < 0)
    return NULL;
  g_free (parts[found]);
  parts[found] = g_strdup ("bin");
  for (gsize i = (gsize) found + 1; parts[i] != NULL; i++)
    g_clear_pointer (&parts[i], g_free);
  return g_strjoinv ("/", parts);
}

static void
add_dir (GPtrArray *dirs, char *dir)
{
  if (dir == NULL)
    return;
  for (guint i = 0; i < dirs->len; i++)
    if (strcmp (dirs->pdata[i], dir) == 0)
      {
        g_free (dir);
        return;
      }
  g_ptr_array_add (dirs, dir);
}

/* Where Bots' own scripts are, beside PATH: the folder of the configured
 * engine and Python (a virtualenv's bin holds both), and the bin of the
 * prefix the bots package is installed in (setup.py puts the scripts
 * there). */
static char **
find_scripts_dirs (JqTaskPolicy *p, const char *bots_package_dir)
{
  GPtrArray *dirs = g_ptr_array_new ();
  const char *configured[] = { p->bots_engine, p->python_executable };
  for (gsize i = 0; i < G_N_ELEMENTS (configured); i++)
    if (configured[i] != NULL && strchr (configured[i], '/') != NULL)
      {
        g_autofree char *abs = absolute_in (p->job_dir, configured[i]);
        add_dir (dirs, g_path_get_dirname (abs));
      }
  if (bots_package_dir != NULL)
    {
      add_dir (dirs, prefix_bin (bots_package_dir));
      /* A source layout (Bots 3 unpacked, run in place) keeps the
       * scripts beside the bots package folder. */
      g_autofree char *parent = g_path_get_dirname (bots_package_dir);
      for (gsize i = 0; engine_names[i] != NULL; i++)
        {
          g_autofree char *e = g_build_filename (parent, engine_names[i], NULL);
          if (g_file_test (e, G_FILE_TEST_IS_REGULAR))
            {
              add_dir (dirs, g_steal_pointer (&parent));
              break;
            }
        }
    }
  g_ptr_array_add (dirs, NULL);
  return (char **) g_ptr_array_free (dirs, FALSE);
}

static char *
nonempty_dup (const char *s)
{
  return g_strdup (s != NULL && s[0] != '\0' ? s : NULL);
}

/* Takes what the settings say; forgets every file found before. */
static void
apply_settings (JqTaskPolicy *p, const JqTaskPolicySettings *settings)
{
  g_autoptr (GStrvBuilder) list = g_strv_builder_new ();

  p->anything = FALSE;
  for (gsize i = 0; settings->authorized && settings->authorized[i]; i++)
    if (strcmp (settings->authorized[i], "*") == 0)
      p->anything = TRUE;
    else
      g_strv_builder_add (list, settings->authorized[i]);
  g_strfreev (p->authorized);
  p->authorized = g_strv_builder_end (list);
  g_free (p->search_path);
  p->search_path = g_strdup (settings->search_path ? settings->search_path
                                                    : "/bin:/usr/bin");
  g_free (p->job_dir);
  p->job_dir = g_strdup (settings->job_dir ? settings->job_dir : "/");
  g_free (p->python_executable);
  p->python_executable = nonempty_dup (settings->python_executable);
  g_free (p->bots_engine);
  p->bots_engine = nonempty_dup (settings->bots_engine);
  g_free (p->bots_python);
  p->bots_python = nonempty_dup (settings->bots_python);
  g_strfreev (p->scripts_dirs);
  p->scripts_dirs = find_scripts_dirs (p, settings->bots_package_dir);
  p->found_us = 0;
  if (p->on_path != NULL)
    g_hash_table_remove_all (p->on_path);
}

JqTaskPolicy *
jq_task_policy_new (const JqTaskPolicySettings *settings)
{
  JqTaskPolicy *p = g_new0 (JqTaskPolicy, 1);
  p->on_path = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      g_free);
  p->pythons = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_ptr_array_unref);
  apply_settings (p, settings);
  return p;
}

void
jq_task_policy_update (JqTaskPolicy *p, const JqTaskPolicySettings *settings)
{
  apply_settings (p, settings);
}

void
jq_task_policy_free (JqTaskPolicy *p)
{
  if (p == NULL)
    return;
  g_strfreev (p->authorized);
  g_free (p->search_path);
  g_free (p->job_dir);
  g_free (p->python_executable);
  g_free (p->bots_engine);
  g_free (p->bots_python);
  g_strfreev (p->scripts_dirs);
  g_clear_pointer (&p->engines, g_ptr_array_unref);
  g_clear_pointer (&p->listed, g_ptr_array_unref);
  g_clear_pointer (&p->own_pythons, g_ptr_array_unref);
  g_hash_table_unref (p->pythons);
  g_hash_table_unref (p->on_path);
  g_free (p);
}

const char *const *
jq_task_policy_get_scripts_dirs (JqTaskPolicy *p)
{
  return (const char *const *) p->scripts_dirs;
}

const char *
jq_task_policy_get_job_dir (JqTaskPolicy *p)
{
  return p->job_dir;
}

static void
add_candidate (GPtrArray *candidates, char *path)
{
  if (path == NULL)
    return;
  Trusted *t = g_new0 (Trusted, 1);
  t->spelling = path;
  t->real = realpath (path, NULL);
  g_ptr_array_add (candidates, t);
}

static GPtrArray *
engine_candidates (JqTaskPolicy *p)
{
  GPtrArray *c = g_ptr_array_new_with_free_func (trusted_free);
  if (p->bots_engine != NULL)
    add_candidate (c, find_program (p, p->bots_engine));
  for (gsize i = 0; engine_names[i] != NULL; i++)
    {
      add_candidate (c, find_program (p, engine_names[i]));
      for (gsize d = 0; p->scripts_dirs[d] != NULL; d++)
        add_candidate (c, g_build_filename (p->scripts_dirs[d],
                                            engine_names[i], NULL));
    }
  return c;
}

/* Bots' scripts, whose "#!" lines name the Python that Bots runs. */
static const char *const bots_scripts[] = {
  "bots-engine", "bots-engine.py", "bots-webserver", "bots-webserver.py",
  "bots-dirmonitor", "bots-dirmonitor.py", "bots-job2queue",
  "bots-job2queue.py", "bots-jobqueueserver", "bots-jobqueueserver.py",
  "bots-poller", "bots-poller.py", NULL
};

/* @path (absolute, taken; nullable) and, when it is a link, the file it
 * resolves to under its own name: a virtualenv's python is a link to
 * the base Python, which a monitor may send as well. */
static void
add_python (GPtrArray *c, char *path)
{
  if (path == NULL)
    return;
  add_candidate (c, path);
  Trusted *t = c->pdata[c->len - 1];
  if (t->real != NULL && strcmp (t->real, t->spelling) != 0)
    add_candidate (c, g_strdup (t->real));
}

/* The Python named by the script @path: its "#!" line, or pip's
 * "#!/bin/sh" trampoline.  "#!/usr/bin/env python3" names none: which
 * Python that is depends on a PATH we do not know. */
static void
add_script_python (GPtrArray *c, const char *path)
{
  g_auto (GStrv) argv = NULL;
  if (path == NULL || !jq_botsenv_script_python (path, &argv))
    return;
  g_autofree char *base = g_path_get_basename (argv[0]);
  if (is_python_name (base))
    add_python (c, g_strdup (argv[0]));
}

/* The Pythons that run Bots, whatever name a client sends and whatever
 * the server's PATH: [settings] python_executable_path, the Python that
 * runs Bots itself (the wrapper's or the one that found the bots
 * package), the Pythons of Bots' scripts, and a virtualenv's python in
 * the scripts' folder; each also as what it resolves to. */
static GPtrArray *
own_python_candidates (JqTaskPolicy *p)
{
  GPtrArray *c = g_ptr_array_new_with_free_func (trusted_free);
  if (p->python_executable != NULL)
    add_python (c, find_program (p, p->python_executable));
  if (p->bots_python != NULL && g_path_is_absolute (p->bots_python))
    add_python (c, g_strdup (p->bots_python));
  for (gsize d = 0; p->scripts_dirs[d] != NULL; d++)
    {
      for (gsize i = 0; bots_scripts[i] != NULL; i++)
        {
          g_autofree char *script = g_build_filename (p->scripts_dirs[d],
                                                      bots_scripts[i], NULL);
          add_script_python (c, script);
        }
      g_autofree char *cfg = g_build_filename (p->scripts_dirs[d], "..",
                                               "pyvenv.cfg", NULL);
      if (g_file_test (cfg, G_FILE_TEST_IS_REGULAR))
        for (gsize i = 0; i < 2; i++)
          add_python (c, g_build_filename (p->scripts_dirs[d],
                                           i ? "python3" : "python", NULL));
    }
  g_autofree char *engine = p->bots_engine ? find_program (p, p->bots_engine)
                                           : NULL;
  add_script_python (c, engine);
  return c;
}

/* Pythons trusted by the name sent, @sent: found on PATH under that
 * name, or in the Bots scripts' folders. */
static GPtrArray *
python_candidates (JqTaskPolicy *p, const char *sent)
{
  GPtrArray *c = g_ptr_array_new_with_free_func (trusted_free);
  g_autofree char *base = g_path_get_basename (sent);
  if (is_python_name (base))
    {
      add_candidate (c, find_program (p, base));
      for (gsize d = 0; p->scripts_dirs[d] != NULL; d++)
        add_candidate (c, g_build_filename (p->scripts_dirs[d], base, NULL));
    }
  return c;
}

static GPtrArray *
listed_candidates (JqTaskPolicy *p)
{
  GPtrArray *c = g_ptr_array_new_with_free_func (trusted_free);
  for (gsize i = 0; p->authorized[i] != NULL; i++)
    add_candidate (c, find_program (p, p->authorized[i]));
  return c;
}

/* The trusted spelling among @candidates spelled exactly as @sent (an
 * absolute, unresolved path), or NULL.  Needs no system call: what runs
 * is then the very text that was judged. */
static char *
match_text (GPtrArray *candidates, const char *sent)
{
  for (guint i = 0; i < candidates->len; i++)
    {
      Trusted *t = candidates->pdata[i];
      if (t->real != NULL && strcmp (t->spelling, sent) == 0)
        return g_strdup (t->spelling);
    }
  return NULL;
}

/* The trusted spelling among @candidates of the file @real (a realpath),
 * or NULL. */
static char *
match_real (GPtrArray *candidates, const char *real)
{
  for (guint i = 0; i < candidates->len; i++)
    {
      Trusted *t = candidates->pdata[i];
      if (t->real != NULL && strcmp (t->real, real) == 0)
        return g_strdup (t->spelling);
    }
  return NULL;
}

/* Forgets the trusted files when they were looked up more than a second
 * ago. */
static void
refresh_trusted (JqTaskPolicy *p)
{
  gint64 now = g_get_monotonic_time ();
  if (p->found_us != 0 && now - p->found_us < TRUSTED_FOR_US)
    return;
  g_clear_pointer (&p->engines, g_ptr_array_unref);
  g_clear_pointer (&p->listed, g_ptr_array_unref);
  g_clear_pointer (&p->own_pythons, g_ptr_array_unref);
  g_hash_table_remove_all (p->pythons);
  p->found_us = now;
}

static GPtrArray *
trusted_engines (JqTaskPolicy *p)
{
  if (p->engines == NULL)
    p->engines = engine_candidates (p);
  return p->engines;
}

static GPtrArray *
trusted_listed (JqTaskPolicy *p)
{
  if (p->listed == NULL)
    p->listed = listed_candidates (p);
  return p->listed;
}

static GPtrArray *
trusted_own_pythons (JqTaskPolicy *p)
{
  if (p->own_pythons == NULL)
    p->own_pythons = own_python_candidates (p);
  return p->own_pythons;
}

/* A client chooses the name, so at most so many are remembered. */
#define MAX_PYTHON_NAMES 16

static GPtrArray *
trusted_pythons (JqTaskPolicy *p, const char *sent)
{
  g_autofree char *base = g_path_get_basename (sent);
  if (!is_python_name (base))
    g_clear_pointer (&base, g_free);    /* all other names: none */
  if (base == NULL)
    base = g_strdup ("");
  GPtrArray *c = g_hash_table_lookup (p->pythons, base);
  if (c != NULL)
    return c;
  if (g_hash_table_size (p->pythons) >= MAX_PYTHON_NAMES)
    g_hash_table_remove_all (p->pythons);
  c = python_candidates (p, sent);
  g_hash_table_insert (p->pythons, g_steal_pointer (&base), c);
  return c;
}

/* Resolves @sent_abs with realpath(3); on failure sets @error naming
 * @sent. */
static char *
resolve_file (const char *sent, const char *sent_abs, GError **error)
{
  char *real = realpath (sent_abs, NULL);
  if (real == NULL)
    {
      int saved = errno;
      g_autoptr (GString) shown = g_string_new (NULL);
      jq_task_repr_append_cut (shown, sent, JQ_TASK_SHOWN_MAX);
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "%s cannot be "
                   "resolved: %s", shown->str, g_strerror (saved));
    }
  return real;
}

static char **
replaced (const char *const *argv, const char *first, const char *second)
{
  char **run = g_strdupv ((char **) argv);
  g_free (run[0]);
  run[0] = g_strdup (first);
  if (second != NULL)
    {
      g_free (run[1]);
      run[1] = g_strdup (second);
    }
  return run;
}

/* Authorization off ("*"): whatever program is found runs. */
static char **
resolve_any (const char *const *argv, char **program, const char *shown,
             char **file, GError **error)
{
  /* errno as the exec would report it */
  int why = ENOENT;
  if (*program != NULL && is_executable_file (*program))
    {
      *file = g_steal_pointer (program);
      return g_strdupv ((char **) argv);
    }
  if (*program != NULL && access (*program, F_OK) == 0)
    why = EACCES;
  g_set_error (error, JQ_ERROR, JQ_ERROR_NOT_FOUND, "cannot run %s: %s%s",
               shown, g_strerror (why),
               strchr (argv[0], '/') ? "" : " (not found on PATH)");
  return NULL;
}

/* A trusted Python: runs only when its script, argv[1], is bots-engine. */
static char **
resolve_python_script (JqTaskPolicy *p, const char *const *argv,
                       GPtrArray *engines, const char *python, char **file,
                       GError **error)
{
  /* Python opens its script relative to its working folder, no PATH. */
  g_autofree char *script = absolute_in (p->job_dir, argv[1]);
  g_autofree char *engine = match_text (engines, script);
  if (engine == NULL)
    {
      g_autofree char *real_script = resolve_file (argv[1], script, error);
      if (real_script == NULL)
        return NULL;
      engine = match_real (engines, real_script);
    }
  if (engine == NULL)
    {
      g_autoptr (GString) shown = g_string_new (NULL);
      jq_task_repr_append_cut (shown, argv[1], JQ_TASK_SHOWN_MAX);
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "the script %s of "
                   "the Python task is not bots-engine", shown->str);
      return NULL;
    }
  *file = g_strdup (python);
  return replaced (argv, python, engine);
}

/* The trusted spelling of a Python for @program (sent as @sent): by its
 * text when @real is NULL, else by its realpath @real. */
static char *
match_python (JqTaskPolicy *p, const char *sent, const char *program,
              const char *real)
{
  GPtrArray *own = trusted_own_pythons (p);
  GPtrArray *named = trusted_pythons (p, sent);
  char *found = real ? match_real (own, real) : match_text (own, program);
  if (found == NULL)
    found = real ? match_real (named, real) : match_text (named, program);
  return found;
}

/* Appends the spellings in @c that exist and were not @seen yet, or
 * "none". */
static void
append_spellings (GString *out, GHashTable *seen, GPtrArray *c)
{
  gsize before = out->len;
  for (guint i = 0; i < c->len; i++)
    {
      Trusted *t = c->pdata[i];
      if (t->real == NULL || !g_hash_table_add (seen, t->spelling))
        continue;
      g_string_append_printf (out, "%s%s", out->len > before ? ", " : "",
                              t->spelling);
    }
  if (out->len == before)
    g_string_append (out, "none");
}

/* What would have been accepted in place of @sent, for a refusal's
 * message: the administrator's files only, never a client's. */
static char *
describe_accepted (JqTaskPolicy *p, const char *sent)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GString *out = g_string_new ("accepted: bots-engine as ");
  refresh_trusted (p);
  append_spellings (out, seen, trusted_engines (p));
  g_string_append (out, "; a Python running it: ");
  GPtrArray *own = trusted_own_pythons (p);
  GPtrArray *named = trusted_pythons (p, sent);
  g_autoptr (GPtrArray) pythons = g_ptr_array_new ();
  for (guint i = 0; i < own->len; i++)
    g_ptr_array_add (pythons, own->pdata[i]);
  for (guint i = 0; i < named->len; i++)
    g_ptr_array_add (pythons, named->pdata[i]);
  append_spellings (out, seen, pythons);
  g_string_append (out, "; authorized_tasks: ");
  append_spellings (out, seen, trusted_listed (p));
  return g_string_free (out, FALSE);
}

/* The program @argv[0] as posix_spawnp would find it; what Bots sends by
 * name ("bots-engine.py --new" from a crontab line) is found in Bots'
 * scripts' folders too, after PATH: a service manager's PATH rarely
 * holds them.  It then runs by that full path. */
static char *
find_task_program (JqTaskPolicy *p, const char *name)
{
  char *program = find_program (p, name);
  if (program != NULL || p->anything || !is_engine_name (name))
    return program;
  for (gsize d = 0; p->scripts_dirs[d] != NULL && program == NULL; d++)
    {
      g_autofree char *c = g_build_filename (p->scripts_dirs[d], name, NULL);
      if (is_executable_file (c))
        program = g_steal_pointer (&c);
    }
  return program;
}

static void
refuse_unknown (const char *shown, const char *program, const char *real,
                GError **error)
{
  g_autofree char *also = real != NULL && strcmp (real, program) != 0
    ? g_strdup_printf (" (%s)", real) : g_strdup ("");
  g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "%s%s is neither "
               "bots-engine, a Python running it, nor listed in "
               "authorized_tasks", shown, also);
}

/* jq_task_resolve() without the list of what would have been accepted. */
static char **
resolve_task (JqTaskPolicy *p, const char *const *argv, char **file,
              GError **error)
{
  g_autoptr (GString) shown = g_string_new (NULL);
  jq_task_repr_append_cut (shown, argv[0], JQ_TASK_SHOWN_MAX);
  g_autofree char *program = find_task_program (p, argv[0]);
  if (p->anything)
    return resolve_any (argv, &program, shown->str, file, error);
  if (program == NULL)
    {
      g_autofree char *dirs = g_strjoinv (":", p->scripts_dirs);
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID,
                   "%s is not found on PATH (%s)%s%s", shown->str,
                   p->search_path, is_engine_name (argv[0]) && dirs[0]
                   ? " nor in Bots' scripts' folders " : "",
                   is_engine_name (argv[0]) ? dirs : "");
      return NULL;
    }
  /* The usual case, the trusted path sent as it is, costs no system
   * call; anything else is resolved as the kernel would resolve it. */
  refresh_trusted (p);
  GPtrArray *engines = trusted_engines (p);
  g_autofree char *real = NULL;
  char *trusted = match_text (trusted_listed (p), program);
  if (trusted == NULL)
    trusted = match_text (engines, program);
  g_autofree char *python = trusted ? NULL
                                    : match_python (p, argv[0], program, NULL);
  if (trusted == NULL && python == NULL)
    {
      real = resolve_file (argv[0], program, error);
      if (real == NULL)
        return NULL;
      trusted = match_real (trusted_listed (p), real);
      if (trusted == NULL)
        trusted = match_real (engines, real);
      if (trusted == NULL)
        python = match_python (p, argv[0], program, real);
    }
  if (trusted != NULL)
    {
      *file = trusted;
      return replaced (argv, trusted, NULL);
    }
  if (python == NULL || argv[1] == NULL)
    {
      refuse_unknown (shown->str, program, real, error);
      return NULL;
    }
  return resolve_python_script (p, argv, engines, python, file, error);
}

char **
jq_task_resolve (JqTaskPolicy *p, const char *const *argv, char **file,
                 GError **error)
{
  g_autoptr (GError) local = NULL;

  if (argv == NULL || argv[0] == NULL)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_INVALID, "empty task");
      return NULL;
    }
  char **run = resolve_task (p, argv, file, &local);
  if (run != NULL)
    return run;
  if (g_error_matches (local, JQ_ERROR, JQ_ERROR_INVALID))
    {
      /* Which Python or engine the administrator expected is the first
       * thing to check (a pyenv shim ahead of Bots' Python). */
      g_autofree char *accepted = describe_accepted (p, argv[0]);
      char *message = g_strdup_printf ("%s; %s", local->message, accepted);
      g_free (local->message);
      local->message = message;
    }
  g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}

gboolean
jq_task_is_authorized (JqTaskPolicy *p, const char *const *argv,
                       GError **error)
{
  g_autofree char *file = NULL;
  p->deciding = TRUE;
  g_auto (GStrv) run = jq_task_resolve (p, argv, &file, error);
  p->deciding = FALSE;
  if (run == NULL && p->anything && argv != NULL && argv[0] != NULL)
    {
      /* Under "*" a program that is not there yet is accepted, as Bots 3
       * accepted anything; it fails when it starts. */
      g_clear_error (error);
      return TRUE;
    }
  return run != NULL;
}

