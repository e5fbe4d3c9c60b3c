/* The Bots installation: its bots package, import path, version, and
 * config folder.
 *
 * Bots never reads -c<dir> as a plain path first: it imports <dir>.settings
 * from Python's import path, then from inside the bots package, and only
 * then tries <dir> as a folder (PROTOCOL section 1).  A C program cannot
 * import, so it needs the two facts Python has: the bots package's folder
 * ("botspath") and sys.path.  The .py wrappers run under Bots' own Python
 * and pass both in the environment; without them we ask a Python once, at
 * start-up, before any thread or main loop exists: Bots' own, read from
 * the first line of Bots' scripts on PATH unless one is named. */
#include "build-config.h"

#include "botsenv.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "ownedfile.h"
#include "runas.h"

#ifndef BOTS_PYTHON
#define BOTS_PYTHON "python3"
#endif
#ifndef BOTS_PYTHON_GIVEN
#define BOTS_PYTHON_GIVEN 0
#endif

/* Bounds of what is read from Bots' files (src/ownedfile.h): a Python
 * source or a metadata file's head, and a wheel's list of files. */
#define SOURCE_MAX (1024 * 1024)
#define LIST_MAX   (4 * 1024 * 1024)

/* What the wrappers compute too (bots-compat/bots-job2queue.py.in): the
 * bots package's folder without importing it, and sys.path without the
 * working directory, which `python -c` adds and a Bots script does not;
 * instead the folder of the script the Python was read from (argv[1],
 * may be empty) comes first, as when Python runs that script.
 * Valid Python 2 and 3.  Output: botspath, a newline, sys.path joined as
 * in BOTS_JOBQUEUE_PYTHONPATH, a newline, and the version
 * importlib.metadata gives the distribution whose files hold that
 * package (else the one named bots: an editable install lists none of
 * them), as BOTS_JOBQUEUE_BOTSVERSION. */
static const char probe_script[] =
  "import os, sys\n"
  "sys.path = [p for p in sys.path if p]\n"
  "if len(sys.argv) > 1 and sys.argv[1]:\n"
  "    sys.path.insert(0, sys.argv[1])\n"
  "d = ''\n"
  "try:\n"
  "    import importlib.util\n"
  "    s = importlib.util.find_spec('bots')\n"
  "    if s is not None and s.submodule_search_locations:\n"
  "        d = list(s.submodule_search_locations)[0]\n"
  "except ImportError:\n"
  "    import imp\n"
  "    try:\n"
  "        d = imp.find_module('bots')[1]\n"
  "    except ImportError:\n"
  "        pass\n"
  "d = os.path.abspath(d) if d else ''\n"
  "v = ''\n"
  "try:\n"
  "    from importlib import metadata\n"
  "except ImportError:\n"
  "    metadata = None\n"
  "named = ''\n"
  "if d and metadata is not None:\n"
  "    for dist in metadata.distributions():\n"
  "        try:\n"
  "            here = os.path.abspath(str(dist.locate_file('bots')))\n"
  "            top = (dist.read_text('top_level.txt') or '').split()\n"
  "            name = (dist.metadata['Name'] or '').lower()\n"
  "        except Exception:\n"
  "            continue\n"
  "        if here == d and ('bots' in top or dist.files and any(\n"
  "                f.parts[:1] == ('bots',) for f in dist.files)):\n"
  "            v = dist.version or ''\n"
  "            break\n"
  "        if name == 'bots' and not named:\n"
  "            named = dist.version or ''\n"
  "v = v or named\n"
  "sys.stdout.write(d + '\\n' + os.pathsep.join(sys.path) + '\\n' + v)\n";

int
jq_botsenv_parse_major (const char *version)
{
  if (version == NULL || !g_ascii_isdigit (version[0]))
    return 0;
  guint64 major = g_ascii_strtoull (version, NULL, 10);
  if (major == 3)
    return 3;
  return major >= 4 ? 4 : 0;
}

/* The value of a plain string literal at @p (u'' allowed), or NULL; then
 * only white space or a comment may follow. */
static char *
parse_literal (const char *p)
{
  if (*p == 'u' || *p == 'U')
    p++;
  char quote = *p;
  if (quote != '\'' && quote != '"')
    return NULL;
  const char *start = ++p;
  while (*p != '\0' && *p != quote && *p != '\\')
    p++;
  if (*p != quote)
    return NULL;
  const char *end = p++;
  while (*p == ' ' || *p == '\t' || *p == '\r')
    p++;
  if (*p != '\0' && *p != '#')
    return NULL;
  return g_strndup (start, end - start);
}

char *
jq_botsenv_read_assignment (const char *path, const char *name)
{
  gsize name_len = strlen (name);
  char *value = NULL;
  g_autofree char *text = jq_ownedfile_read (path, "a Python file",
                                             SOURCE_MAX, JQ_OWNEDFILE_WHOLE,
                                             NULL, NULL);
  if (text == NULL)
    return NULL;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      const char *p = *l;
      if (strncmp (p, name, name_len) != 0)
        continue;
      p += name_len;
      while (*p == ' ' || *p == '\t')
        p++;
      if (*p != '=' || p[1] == '=')
        continue;
      p++;
      while (*p == ' ' || *p == '\t')
        p++;
      /* The last assignment wins, also when it is not a literal. */
      g_free (value);
      value = parse_literal (p);
    }
  return value;
}

/* The "Version:" header of a core metadata file (METADATA, PKG-INFO):
 * RFC 822 style headers up to the first empty line. */
static char *
metadata_version (const char *path)
{
  /* The headers come first: the description after them may be long. */
  g_autofree char *text = jq_ownedfile_read (path, "a metadata file",
                                             SOURCE_MAX, JQ_OWNEDFILE_HEAD,
                                             NULL, NULL);
  if (text == NULL)
    return NULL;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_strchomp (*l);
      if ((*l)[0] == '\0')
        break;
      if (g_ascii_strncasecmp (*l, "Version:", 8) == 0)
        {
          char *v = g_strstrip (g_strdup (*l + 8));
          if (v[0] != '\0')
            return v;
          g_free (v);
        }
    }
  return NULL;
}

/* Whether the text file @path has a line that is @word, or that starts
 * with @prefix (nullable). */
static gboolean
file_has_line (const char *path, const char *word, const char *prefix)
{
  g_autofree char *text = jq_ownedfile_read (path, "a list of files",
                                             LIST_MAX, JQ_OWNEDFILE_WHOLE,
                                             NULL, NULL);
  if (text == NULL)
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_strchomp (*l);
      if (strcmp (*l, word) == 0
          || (prefix != NULL && g_str_has_prefix (*l, prefix)))
        return TRUE;
    }
  return FALSE;
}

/* Whether the distribution described by the folder @info (a .dist-info
 * or .egg-info) installed the package "bots": its top_level.txt names
 * it, or its list of files holds bots/ (RECORD of a wheel, SOURCES.txt
 * or installed-files.txt of an egg). */
static gboolean
dist_has_bots (const char *info)
{
  static const struct { const char *file, *prefix; } lists[] = {
    { "top_level.txt", NULL },
    { "RECORD", "bots/" },
    { "SOURCES.txt", "bots/" },
    { "installed-files.txt", "../bots/" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (lists); i++)
    {
      g_autofree char *f = g_build_filename (info, lists[i].file, NULL);
      if (file_has_line (f, "bots", lists[i].prefix))
        return TRUE;
    }
  return FALSE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The version in the metadata of the distribution that installed the
 * package @botspath, as importlib.metadata reads it: a
 * <name>-<version>.dist-info/METADATA (pip, wheels) or an
 * <name>.egg-info/PKG-INFO (setup.py; also a plain PKG-INFO file named
 * <name>.egg-info) beside the package, whose file lists show it holds
 * "bots".  Entries are read in name order, so the answer does not depend
 * on the order of the folder. */
static char *
read_dist_version (const char *botspath)
{
  g_autofree char *site = g_path_get_dirname (botspath);
  g_autoptr (GDir) dir = g_dir_open (site, 0, NULL);
  if (dir == NULL)
    return NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (const char *n; (n = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_suffix (n, ".dist-info") || g_str_has_suffix (n, ".egg-info"))
      g_ptr_array_add (names, g_strdup (n));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *info = g_build_filename (site, names->pdata[i], NULL);
      gboolean wheel = g_str_has_suffix (info, ".dist-info");
      if (!wheel && g_file_test (info, G_FILE_TEST_IS_REGULAR))
        {
          /* An old setup.py's egg-info is PKG-INFO itself: it lists no
           * files, so only its name can say it is Bots'. */
          g_autofree char *lower = g_ascii_strdown (names->pdata[i], -1);
          if (g_str_has_prefix (lower, "bots-") || g_str_has_prefix (lower, "bots."))
            {
              char *v = metadata_version (info);
              if (v != NULL)
                return v;
            }
          continue;
        }
      if (!dist_has_bots (info))
        continue;
      g_autofree char *meta = g_build_filename (info, wheel ? "METADATA"
                                                            : "PKG-INFO",
                                                NULL);
      char *v = metadata_version (meta);
      if (v != NULL)
        return v;
    }
  return NULL;
}

/* The version as Bots itself knows it.  Bots 3 writes it as a literal
 * in botsglobal.py; Bots 4 asks importlib.metadata, so its package holds
 * no literal and the version is the installed distribution's: what Bots'
 * Python said (@said, nullable: not asked), else its metadata files
 * beside the package. */
static char *
read_version (const char *botspath, const char *said)
{
  static const struct { const char *file, *name; } places[] = {
    { "__about__.py", "__version__" },
    { "__init__.py", "__version__" },
    { "botsglobal.py", "version" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (places); i++)
    {
      g_autofree char *path = g_build_filename (botspath, places[i].file,
                                                NULL);
      char *v = jq_botsenv_read_assignment (path, places[i].name);
      if (v != NULL && v[0] != '\0')
        return v;
      g_free (v);
    }
  if (said != NULL && said[0] != '\0')
    return g_strdup (said);
  return read_dist_version (botspath);
}

JqBotsEnv *
jq_botsenv_new (const char *botspath, const char *import_path,
                const char *source)
{
  return jq_botsenv_new_said (botspath, import_path, NULL, source);
}

JqBotsEnv *
jq_botsenv_new_said (const char *botspath, const char *import_path,
                     const char *version, const char *source)
{
  JqBotsEnv *env = g_new0 (JqBotsEnv, 1);
  if (botspath != NULL && botspath[0] != '\0')
    env->botspath = g_canonicalize_filename (botspath, NULL);
  env->import_path = g_strsplit (import_path ? import_path : "",
                                 G_SEARCHPATH_SEPARATOR_S, -1);
  /* "" is no folder (and a script's path never holds the cwd). */
  char **out = env->import_path;
  for (char **in = env->import_path; *in != NULL; in++)
    if ((*in)[0] != '\0')
      *out++ = *in;
    else
      g_free (*in);
  *out = NULL;
  if (env->botspath != NULL)
    env->version = read_version (env->botspath, version);
  env->major = jq_botsenv_parse_major (env->version);
  env->source = g_strdup (source);
  return env;
}

gboolean
jq_botsenv_script_python (const char *path, char ***argv)
{
  /* A script's first lines are enough. */
  g_autofree char *start = jq_ownedfile_read (path, "a script", 4095,
                                              JQ_OWNEDFILE_HEAD, NULL, NULL);
  if (start == NULL)
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (start, "\n", 4);
  if (lines[0] == NULL || !g_str_has_prefix (lines[0], "#!"))
    return FALSE;
  /* As the kernel reads "#!": the interpreter, then one argument. */
  g_autofree char *first = g_strstrip (g_strdup (lines[0] + 2));
  char *space = strpbrk (first, " \t");
  g_autofree char *arg = space ? g_strstrip (g_strdup (space)) : NULL;
  if (space)
    *space = '\0';
  if (first[0] != '/')
    return FALSE;
  g_autofree char *base = g_path_get_basename (first);
  if (strcmp (base, "sh") == 0 || strcmp (base, "bash") == 0
      || strcmp (base, "dash") == 0)
    {
      /* pip's trampoline for a Python path too long or spaced for "#!":
       * line 2 '''exec' "/path/python" "$0" "$@", line 3 ' ''' */
      static const char head[] = "'''exec' \"", tail[] = "\" \"$0\" \"$@\"";
      if (lines[1] == NULL || lines[2] == NULL
          || strlen (lines[1]) <= strlen (head) + strlen (tail)
          || !g_str_has_prefix (lines[1], head)
          || !g_str_has_suffix (lines[1], tail)
          || strcmp (g_strchomp (lines[2]), "' '''") != 0)
        return FALSE;
      gsize n = strlen (lines[1]) - strlen (head) - strlen (tail);
      g_autofree char *python = g_strndup (lines[1] + strlen (head), n);
      if (python[0] != '/' || strchr (python, '"') != NULL)
        return FALSE;
      char *v[] = { python, NULL };
      *argv = g_strdupv (v);
      return TRUE;
    }
  char *v[] = { first, arg != NULL && arg[0] != '\0' ? arg : NULL, NULL };
  *argv = g_strdupv (v);
  return TRUE;
}

/* Whether @argv (from jq_botsenv_script_python) runs a Python: a
 * python* interpreter, or env with a python* argument.  A script of
 * another language under a Bots name (a shell wrapper of the site's) is
 * no Python to ask. */
static gboolean
names_python (char **argv)
{
  g_autofree char *base = g_path_get_basename (argv[0]);
  if (strcmp (base, "env") == 0 && argv[1] != NULL)
    return g_str_has_prefix (argv[1], "python");
  return g_str_has_prefix (base, "python");
}

/* The Python to ask, as an argv prefix, and the folder of the script it
 * was read from (or NULL); NULL when there is none.  *@why says which,
 * or why none.  Order: $BOTS_JOBQUEUE_PYTHON, configure's
 * --with-bots-python, the "#!" line of the first of Bots' scripts found
 * on PATH, python3 on PATH. */
static char **
choose_python (char **script_dir, char **script, char **why)
{
  static const char *const scripts[] = {
    "bots-engine.py", "bots-engine", "bots-job2queue.py", "bots-job2queue",
    "bots-jobqueueserver.py", "bots-jobqueueserver",
  };
  const char *python = g_getenv (JQ_BOTSENV_PYTHON_ENV);
  if ((python == NULL || python[0] == '\0') && !BOTS_PYTHON_GIVEN)
    for (gsize i = 0; i < G_N_ELEMENTS (scripts); i++)
      {
        g_autofree char *path = g_find_program_in_path (scripts[i]);
        char **argv = NULL;
        if (path == NULL || !jq_botsenv_script_python (path, &argv))
          continue;
        if (names_python (argv)
            && g_file_test (argv[0], G_FILE_TEST_IS_EXECUTABLE))
          {
            g_autofree char *real = realpath (path, NULL);
            *script_dir = g_path_get_dirname (real ? real : path);
            *script = g_strdup (path);
            *why = g_strdup_printf ("%s, the Python of %s", argv[0], path);
            return argv;
          }
        g_strfreev (argv);
      }
  if (python == NULL || python[0] == '\0')
    python = BOTS_PYTHON;
  g_autofree char *found = g_find_program_in_path (python);
  if (found == NULL)
    {
      *why = g_strdup_printf (
          "no Python \"%s\" found to ask where the bots package is, and no "
          "Bots script on PATH names one (set %s)", python,
          JQ_BOTSENV_PYTHON_ENV);
      return NULL;
    }
  char *v[] = { found, NULL };
  *why = g_strdup (found);
  return g_strdupv (v);
}

/* In the child of jq_runas_call(): the probe, its errors not shown, in
 * a folder that says nothing, reading nothing. */
static int
exec_probe (gpointer data)
{
  char **argv = data;
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2 (null, STDIN_FILENO) < 0
      || dup2 (null, STDERR_FILENO) < 0 || chdir ("/") != 0)
    return 126;
  execvp (argv[0], argv);
  return 127;
}

char *
jq_botsenv_ask_python (const char *python, const char *arg,
                       const char *script_dir, const JqUser *who,
                       int timeout_ms, GError **error)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add (b, python);
  if (arg != NULL && arg[0] != '\0')
    g_strv_builder_add (b, arg);
  g_strv_builder_add_many (b, "-c", probe_script,
                           script_dir ? script_dir : "", NULL);
  g_auto (GStrv) argv = g_strv_builder_end (b);
  g_autoptr (GString) text = g_string_new (NULL);
  int rc = jq_runas_call (who, exec_probe, argv, text, timeout_ms, error);
  if (rc != 0)
    {
      if (rc > 0)
        g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "it exited with %d", rc);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Asks a Python where the bots package is (see probe_script). */
static JqBotsEnv *
probe (void)
{
  g_autofree char *script_dir = NULL;
  g_autofree char *script = NULL;
  g_autofree char *found = NULL;
  g_auto (GStrv) python = choose_python (&script_dir, &script, &found);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  if (python == NULL)
    return jq_botsenv_new (NULL, NULL, found);
  /* As the user who controls the script and the Python (src/runas.h):
   * root never runs a Python that another user's script names, nor one
   * another user can change. */
  const char *paths[] = { python[0], script, NULL };
  JqUser who;
  if (!jq_runas_path_user (paths, &who, &error)
      || (out = jq_botsenv_ask_python (python[0], python[1], script_dir,
                                       &who, 30000, &error)) == NULL)
    {
      g_autofree char *why = g_strdup_printf ("%s could not be asked where "
                                              "the bots package is: %s",
                                              found, error->message);
      return jq_botsenv_new (NULL, NULL, why);
    }
  /* Line 1: botspath (empty: none); line 2: sys.path; line 3: the
   * version in the metadata of the distribution holding it. */
  g_auto (GStrv) lines = g_strsplit (out, "\n", 3);
  const char *botspath = lines[0] ? lines[0] : "";
  g_autofree char *why = botspath[0]
    ? g_strdup_printf ("found by %s", found)
    : g_strdup_printf ("%s finds no bots package", found);
  const char *path = lines[0] ? lines[1] : NULL;
  JqBotsEnv *env = jq_botsenv_new_said (botspath, path,
                                        path ? lines[2] : NULL, why);
  if (botspath[0] != '\0' && g_path_is_absolute (python[0]))
    env->python = g_strdup (python[0]);
  return env;
}

/* The Python that runs Bots as named in the environment (the wrapper's
 * sys.executable, or an absolute $BOTS_JOBQUEUE_PYTHON), or NULL. */
static char *
named_python (void)
{
  const char *names[] = { g_getenv (JQ_BOTSENV_EXECUTABLE_ENV),
                          g_getenv (JQ_BOTSENV_PYTHON_ENV) };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (names[i] != NULL && g_path_is_absolute (names[i]))
      return g_strdup (names[i]);
  return NULL;
}

static JqBotsEnv *
discover (void)
{
  const char *bots_dir = g_getenv ("BOTS_DIR");
  const char *botspath = g_getenv (JQ_BOTSENV_BOTSPATH_ENV);
  const char *import_path = g_getenv (JQ_BOTSENV_PYTHONPATH_ENV);
  const char *version = g_getenv (JQ_BOTSENV_VERSION_ENV);

  if (bots_dir != NULL && bots_dir[0] != '\0')
    {
      g_autofree char *dir = g_canonicalize_filename (bots_dir, NULL);
      return jq_botsenv_new (dir, import_path, "set by BOTS_DIR");
    }
  if (botspath != NULL)
    return jq_botsenv_new_said (botspath, import_path, version, botspath[0]
                           ? "found by the wrapper's Python"
                           : "the wrapper's Python finds no bots package");
  return probe ();
}

JqBotsEnv *
jq_botsenv_discover (void)
{
  JqBotsEnv *env = discover ();
  char *named = named_python ();
  if (named != NULL)
    {
      g_free (env->python);
      env->python = named;
    }
  return env;
}

/* Whether <dir> can be read as a dotted module path: relative, and every
 * component a Python identifier. */
static gboolean
is_module_path (const char *dir)
{
  if (g_path_is_absolute (dir) || dir[0] == '\0')
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (dir, G_DIR_SEPARATOR_S, -1);
  guint n = 0;
  for (char **p = parts; *p != NULL; p++)
    {
      if ((*p)[0] == '\0' && p[1] == NULL && n > 0)
        break;  /* a trailing slash */
      if (!(g_ascii_isalpha ((*p)[0]) || (*p)[0] == '_'))
        return FALSE;
      for (const char *c = *p; *c; c++)
        if (!(g_ascii_isalnum (*c) || *c == '_'))
          return FALSE;
      n++;
    }
  return n > 0;
}

/* A folder Python would import <dir>.settings from; bots.ini alone also
 * counts, so that a config folder without settings.py still works. */
static gboolean
holds_settings (const char *folder)
{
  static const char *const names[] = { "settings.py", "settings.pyc",
                                       "bots.ini" };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *f = g_build_filename (folder, names[i], NULL);
      if (g_file_test (f, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    }
  return FALSE;
}

/* Bots 3's three rules for @dir; appends what was looked at to @looked. */
static char *
find_by_rules (const JqBotsEnv *env, const char *dir, const char *cwd,
               GString *looked)
{
  if (is_module_path (dir))
    {
      g_string_append_printf (looked, "%s/settings.py on Python's import "
                              "path (", dir);
      for (char **p = env->import_path; *p != NULL; p++)
        {
          g_autofree char *c = g_build_filename (*p, dir, NULL);
          g_string_append_printf (looked, "%s%s", p == env->import_path
                                                    ? "" : ", ", *p);
          if (g_path_is_absolute (c) && holds_settings (c))
            return g_canonicalize_filename (c, NULL);
        }
      if (env->import_path[0] == NULL)
        g_string_append (looked, "unknown");
      g_string_append (looked, "); ");
      if (env->botspath != NULL)
        {
          g_autofree char *c = g_build_filename (env->botspath, dir, NULL);
          g_string_append_printf (looked, "%s in the bots package (%s); ",
                                  c, env->source);
          if (holds_settings (c))
            return g_canonicalize_filename (c, NULL);
        }
      else
        g_string_append_printf (looked, "no bots package (%s); ",
                                env->source);
    }
  g_autofree char *c = g_canonicalize_filename (dir, cwd);
  g_string_append_printf (looked, "the folder %s", c);
  if (g_file_test (c, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&c);
  return NULL;
}

/* Bots 4 without -c: $BOTS_CONFIG_DIR, else ~/.bots/env/$BOTSENV/config. */
static char *
find_bots4 (const char *cwd, GString *looked)
{
  const char *dir = g_getenv ("BOTS_CONFIG_DIR");
  g_autofree char *c = NULL;
  if (dir != NULL && dir[0] != '\0')
    {
      c = g_canonicalize_filename (dir, cwd);
      g_string_append_printf (looked, "$BOTS_CONFIG_DIR (%s)", c);
    }
  else
    {
      const char *name = g_getenv ("BOTSENV");
      if (name == NULL || name[0] == '\0')
        name = "default";
      /* As Python's os.path.expanduser("~"): $HOME, else the password
       * database (GLib keeps its first answer; HOME may change). */
      const char *home = g_getenv ("HOME");
      if (home == NULL || home[0] == '\0')
        home = g_get_home_dir ();
      c = g_build_filename (home, ".bots", "env", name, "config", NULL);
      g_string_append_printf (looked, "~/.bots/env/$BOTSENV/config (%s)", c);
    }
  if (g_file_test (c, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&c);
  return NULL;
}

char *
jq_botsenv_find_config (const JqBotsEnv *env, const char *option, int major,
                        const char *cwd, GError **error)
{
  g_autoptr (GString) looked = g_string_new (NULL);
  char *found = NULL;

  if (option != NULL)
    found = find_by_rules (env, option, cwd, looked);
  else if (major == 4)
    found = find_bots4 (cwd, looked);
  else
    {
      found = find_by_rules (env, "config", cwd, looked);
      if (found == NULL && major == 0)
        {
          g_string_append (looked, "; ");
          found = find_bots4 (cwd, looked);
        }
    }
  if (found == NULL)
    g_set_error (error, JQ_ERROR, JQ_ERROR_NOT_FOUND,
                 "no Bots config folder found for %s%s: looked for %s",
                 option ? "-c" : "", option ? option : "the default config",
                 looked->str);
  return found;
}

void
jq_botsenv_free (JqBotsEnv *env)
{
  if (env == NULL)
    return;
  g_free (env->botspath);
  g_strfreev (env->import_path);
  g_free (env->version);
  g_free (env->source);
  g_free (env->python);
  g_free (env);
}
