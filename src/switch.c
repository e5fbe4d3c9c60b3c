/* bots-jobqueue-switch: puts bots-jobqueue's wrappers in place of a Bots
 * installation's job queue scripts, and Bots' scripts back, byte for byte
 * (doc/bots-jobqueue-switch.1).
 *
 * Root runs it, in folders that often belong to the bots user (a
 * virtualenv's bin, a Bots unpacked in place).  So (issue 19):
 * - the folder is opened once; every file in it is reached through that
 *   descriptor (openat, linkat, renameat, unlinkat), a new file under an
 *   unpredictable name with O_CREAT|O_EXCL|O_NOFOLLOW, its owner and mode
 *   set on its descriptor;
 * - all of that runs in a child that is the folder's owner when root runs
 *   the switch in a folder of another user ("the worker"), so the kernel
 *   refuses whatever that user could not do himself;
 * - Bots' Python (asked where the bots package is) runs as the owner of
 *   the script, of the Python, or of a folder on their way, never as root
 *   unless all of them are root's and none is writable by others;
 * - root itself only reads /proc, and stats paths to compare them.
 * The wrapper text is read by root before the worker starts (it is ours). */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "botsenv.h"
#include "ownedfile.h"
#include "runas.h"
#include "switchinfo.h"
#include "switchproc.h"
#include "switchunit.h"

#ifndef JQ_PROGRAMS_DIR
#define JQ_PROGRAMS_DIR "/usr/local/libexec/bots-jobqueue"
#endif
#ifndef JQ_COMPAT_DIR
#define JQ_COMPAT_DIR JQ_PROGRAMS_DIR "/compat"
#endif

#define ME "bots-jobqueue-switch"
#define SUFFIX ".bots-original"
#define MARKER "compatibility names for the"
#define SCRIPT_LIMIT (1024 * 1024)
#define PYTHON_TIMEOUT_MS 60000

static const char *const names[] = {
  "bots-jobqueueserver.py", "bots-job2queue.py",
  "bots-jobqueueserver", "bots-job2queue", NULL
};

typedef struct {
  char       *folder;    /* absolute, symlinks resolved */
  int         dfd;       /* the folder, O_PATH, opened once */
  struct stat st;        /* of dfd */
  JqUser      worker;    /* who touches the folder's files */
  const char *programs;  /* our C programs */
  char       *wrapper;   /* the wrapper's text; NULL until "to" reads it */
  GPtrArray  *todo;      /* names planned by the worker's first step */
  gboolean    quiet;     /* botspath for "back": no messages */
  char       *botspath;  /* learnt by learn_installation(); NULL: unknown */
  JqSwitchInfo *info;    /* the same; NULL: not asked yet */
} Switch;

static G_NORETURN G_GNUC_PRINTF (1, 2) void
die (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fflush (stdout);
  fprintf (stderr, ME ": %s\n", msg);
  /* Also in the worker, a child: nothing of the parent's to run at exit. */
  _exit (1);
}

static char *
path_of (const Switch *s, const char *name)
{
  return g_build_filename (s->folder, name, NULL);
}

static char *
kept_name (const char *name)
{
  return g_strconcat (name, SUFFIX, NULL);
}

/* An entry of that name, whatever it is (a link is not followed). */
static gboolean
entry_exists (const Switch *s, const char *name)
{
  struct stat st;
  return fstatat (s->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A file there, links followed (as test -e). */
static gboolean
file_exists (const Switch *s, const char *name)
{
  struct stat st;
  return fstatat (s->dfd, name, &st, 0) == 0;
}

/* Two names of one entry (a hard link; a kept symlink is one too). */
static gboolean
same_entry (const Switch *s, const char *a, const char *b)
{
  struct stat sa, sb;
  return fstatat (s->dfd, a, &sa, AT_SYMLINK_NOFOLLOW) == 0
    && fstatat (s->dfd, b, &sb, AT_SYMLINK_NOFOLLOW) == 0
    && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The text of the script @name (links followed: Bots' scripts may be
 * links), a regular file of at most SCRIPT_LIMIT bytes; NULL otherwise.
 * Read as the worker, and, where a link or folder on its way belongs to
 * another user, as that user (ownedfile.h): root's folder may hold root's
 * link into the Bots user's tree, where that user can point it at a file
 * only root may read, which then became the wrapper's first line. */
static GString *
read_script (const Switch *s, const char *name)
{
  g_autofree char *path = path_of (s, name);
  gsize len = 0;
  g_autofree char *text = jq_ownedfile_read (path, "a Bots script",
                                             SCRIPT_LIMIT, JQ_OWNEDFILE_WHOLE,
                                             &len, NULL);
  return text != NULL ? g_string_new_len (text, (gssize) len) : NULL;
}

static gboolean
is_ours (const Switch *s, const char *name)
{
  g_autoptr (GString) text = read_script (s, name);
  return text != NULL && memmem (text->str, text->len, MARKER, strlen (MARKER)) != NULL;
}

/* The Python that runs a script, from its text. */
typedef struct {
  char *python;   /* interpreter as written */
  char *arg;      /* the one argument of a "#!" line; NULL: none */
  char *header;   /* the lines a wrapper keeps at its top, without the last newline */
} Header;

static void
header_clear (Header *h)
{
  g_clear_pointer (&h->python, g_free);
  g_clear_pointer (&h->arg, g_free);
  g_clear_pointer (&h->header, g_free);
}

/* pip's trampoline, for a Python whose path is too long for "#!" or
 * holds a space: sh runs line 2 as an exec of that Python, which reads
 * lines 2 and 3 as a string:
 *   #!/bin/sh
 *   '''exec' "/path/python" "$0" "$@"
 *   ' ''' */
static gboolean
parse_trampoline (char **lines, Header *h)
{
  static const char head[] = "'''exec' \"", tail[] = "\" \"$0\" \"$@\"";
  if (lines[0] == NULL || lines[1] == NULL || lines[2] == NULL
      || strlen (lines[1]) <= strlen (head) + strlen (tail)
      || !g_str_has_prefix (lines[1], head) || !g_str_has_suffix (lines[1], tail)
      || strcmp (lines[2], "' '''") != 0)
    return FALSE;
  gsize n = strlen (lines[1]) - strlen (head) - strlen (tail);
  g_free (h->arg);
  h->arg = NULL;
  g_free (h->python);
  h->python = g_strndup (lines[1] + strlen (head), n);
  h->header = g_strjoin ("\n", lines[0], lines[1], lines[2], NULL);
  return strchr (h->python, '"') == NULL;
}

/* "#!/path/python [arg]" as the kernel reads it, or pip's trampoline. */
static gboolean
parse_header (const GString *text, Header *h)
{
  memset (h, 0, sizeof *h);
  if (text == NULL || !g_str_has_prefix (text->str, "#!"))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text->str, "\n", 4);
  g_autofree char *rest = g_strstrip (g_strdup (lines[0] + 2));
  char *blank = strpbrk (rest, " \t");
  h->python = blank ? g_strndup (rest, blank - rest) : g_strdup (rest);
  h->arg = blank ? g_strstrip (g_strdup (blank)) : NULL;
  if (h->python[0] == '\0')
    return header_clear (h), FALSE;
  const char *base = strrchr (h->python, '/');
  base = base ? base + 1 : h->python;
  if (strcmp (base, "sh") == 0 || strcmp (base, "bash") == 0 || strcmp (base, "dash") == 0)
    {
      if (!parse_trampoline (lines, h))
        return header_clear (h), FALSE;
      return TRUE;
    }
  h->header = g_strdup (lines[0]);
  return TRUE;
}

/* The folder Python puts first on sys.path when it runs the script:
 * its own folder, links resolved. */
static char *
script_dir (const Switch *s, const char *name)
{
  g_autofree char *path = path_of (s, name);
  g_autofree char *real = realpath (path, NULL);
  return g_path_get_dirname (real ? real : path);
}

/* The names of Bots' scripts in the folder: there, or kept. */
static GPtrArray *
present (const Switch *s)
{
  GPtrArray *found = g_ptr_array_new ();
  for (gsize i = 0; names[i] != NULL; i++)
    {
      g_autofree char *kept = kept_name (names[i]);
      if (file_exists (s, names[i]) || entry_exists (s, kept))
        g_ptr_array_add (found, (gpointer) names[i]);
    }
  if (found->len == 0)
    die ("no Bots job queue script (%s) in %s",
         "bots-jobqueueserver.py bots-job2queue.py bots-jobqueueserver bots-job2queue",
         s->folder);
  return found;
}

static void
need_writable (const Switch *s)
{
  if (faccessat (AT_FDCWD, s->folder, W_OK, AT_EACCESS) != 0)
    die ("cannot write to %s (run as its owner, e.g. with sudo)", s->folder);
}

/* A switch interrupted between its link and its rename leaves
 * NAME.bots-original as a second name of Bots' untouched script: dropping
 * that name loses nothing, and lets both directions go on. */
static void
forget_interrupted (const Switch *s, GPtrArray *list)
{
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      if (entry_exists (s, kept) && same_entry (s, n, kept) && !is_ours (s, n))
        {
          need_writable (s);
          if (unlinkat (s->dfd, kept, 0) != 0)
            die ("cannot remove %s/%s: %s", s->folder, kept, g_strerror (errno));
        }
    }
}

/* Bots upgraded or reinstalled while switched writes its new script over
 * our wrapper: the kept NAME.bots-original is then the older Bots', and
 * the script in place is Bots' script now.  Said, then the older one goes. */
static void
adopt_replaced (const Switch *s, GPtrArray *list)
{
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      if (entry_exists (s, kept) && file_exists (s, n) && !is_ours (s, n))
        {
          printf ("%s/%s: not our wrapper any more (Bots upgraded or reinstalled since "
                  "the switch?): taking it as Bots' script, in place of the older %s\n",
                  s->folder, n, kept);
          if (unlinkat (s->dfd, kept, 0) != 0)
            die ("cannot remove %s/%s: %s", s->folder, kept, g_strerror (errno));
        }
    }
}

static int
status (gpointer data)
{
  const Switch *s = data;
  g_autoptr (GPtrArray) list = present (s);
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      gboolean ours = is_ours (s, n), is_kept = entry_exists (s, kept);
      printf ("%s/%s: ", s->folder, n);
      if (ours && is_kept)
        printf ("switched to bots-jobqueue (Bots' script kept as %s)\n", kept);
      else if (is_kept && file_exists (s, n))
        printf ("Bots' script put there after the switch (an upgrade?); the older one is "
                "%s (\"to\" and \"back\" drop it)\n", kept);
      else if (ours)
        printf ("a bots-jobqueue wrapper, without Bots' script\n");
      else if (file_exists (s, n))
        printf ("Bots' script\n");
      else
        printf ("missing (Bots' script is %s)\n", kept);
    }
  return 0;
}

/* ------------------------------------------------------------ botspath */

/* Runs @h's Python as @who, asking where the bots package is; NULL when
 * it finds none or fails. */
static char *
ask_python (const Header *h, const char *dir, const JqUser *who)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = jq_botsenv_ask_python (h->python, h->arg, dir, who,
                                                PYTHON_TIMEOUT_MS, &error);
  if (out == NULL)
    return NULL;
  /* The first line: the package's folder. */
  char *dir_found = g_strstrip (g_strndup (out, strcspn (out, "\n")));
  if (dir_found[0] != '/')
    g_clear_pointer (&dir_found, g_free);
  return dir_found;
}

static int
botspath (gpointer data)
{
  const Switch *s = data;
  g_autoptr (GPtrArray) list = present (s);
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      const char *f = entry_exists (s, kept) ? kept : n;
      g_autoptr (GString) text = read_script (s, f);
      Header h;
      if (!parse_header (text, &h))
        continue;
      g_autofree char *dir = script_dir (s, f);
      g_autofree char *path = path_of (s, f);
      g_autoptr (GError) error = NULL;
      JqUser who;
      g_autofree char *python = strchr (h.python, '/') ? g_strdup (h.python)
                                                        : g_find_program_in_path (h.python);
      const char *paths[] = { path, python ? python : h.python, NULL };
      if (!jq_runas_path_user (paths, &who, &error))
        die ("not running the Python of %s as root: %s", path, error->message);
      g_autofree char *found = ask_python (&h, dir, &who);
      if (found != NULL)
        printf ("%s\n", found);
      else if (!s->quiet)
        die ("the Python of %s (%s%s%s) finds no bots package", path, h.python,
             h.arg ? " " : "", h.arg ? h.arg : "");
      header_clear (&h);
      return found != NULL ? 0 : 1;
    }
  if (!s->quiet)
    die ("no script in %s names its Python", s->folder);
  return 1;
}

/* ------------------------------------------------------------------ to */

/* Everything checked before anything changes: the names to switch, one a
 * line, on standard output. */
static int
plan_to (gpointer data)
{
  const Switch *s = data;
  g_autoptr (GPtrArray) list = present (s);
  forget_interrupted (s, list);
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      g_autofree char *f = path_of (s, n);
      gboolean ours = is_ours (s, n);
      if (ours && entry_exists (s, kept))
        continue;   /* done before */
      if (ours)
        die ("%s is already a bots-jobqueue wrapper, but Bots' script is not kept beside "
             "it: put Bots' script back first", f);
      if (entry_exists (s, kept) && !file_exists (s, n))
        die ("%s is missing and Bots' script is kept as %s: run \"" ME " back\" first", f, kept);
      if (!file_exists (s, n))
        die ("%s is missing", f);
      g_autoptr (GString) text = read_script (s, n);
      Header h;
      if (!parse_header (text, &h))
        die ("%s does not name its Python as \"#!/path/python\" or in pip's \"#!/bin/sh\" "
             "header: not switching it", f);
      g_autofree char *dir = script_dir (s, n);
      gboolean odd = strpbrk (dir, "\"\\\n") || strpbrk (h.python, "\"\\\n");
      header_clear (&h);
      if (odd)
        die ("%s: its folder or Python holds a quote, backslash or line break: "
             "not switching it", f);
      printf ("%s\n", n);
    }
  return 0;
}

/* The wrapper for the script @name: its Python's header, then our
 * wrapper with where our programs are and the script's folder. */
static char *
wrapper_for (const Switch *s, const char *name)
{
  g_autoptr (GString) text = read_script (s, name);
  Header h;
  if (!parse_header (text, &h))
    die ("%s/%s changed while switching: not switching it", s->folder, name);
  g_autofree char *dir = script_dir (s, name);
  GString *out = g_string_new (h.header);
  g_string_append_c (out, '\n');
  header_clear (&h);
  g_auto (GStrv) lines = g_strsplit (s->wrapper, "\n", -1);
  for (gsize i = 1; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "BINDIR = "))
        g_string_append_printf (out, "BINDIR = \"%s\"", s->programs);
      else if (g_str_has_prefix (lines[i], "SCRIPT_DIR = "))
        g_string_append_printf (out, "SCRIPT_DIR = \"%s\"", dir);
      else
        g_string_append (out, lines[i]);
      if (lines[i + 1] != NULL)
        g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* A new file in the folder under an unpredictable name, created by this
 * call (O_EXCL, O_NOFOLLOW): never a file someone placed there. */
static int
create_unique (const Switch *s, const char *name, char **tmp)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      guint8 r[9];
      if (getrandom (r, sizeof r, 0) != sizeof r)
        die ("cannot get random bytes: %s", g_strerror (errno));
      g_autofree char *hex = g_strdup_printf ("%02x%02x%02x%02x%02x%02x%02x%02x%02x",
                                              r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
      *tmp = g_strdup_printf (".%s.bots-jobqueue.%s", name, hex);
      int fd = openat (s->dfd, *tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0)
        return fd;
      int e = errno;
      g_clear_pointer (tmp, g_free);
      if (e != EEXIST)
        die ("cannot create a file in %s: %s", s->folder, g_strerror (e));
    }
  die ("cannot create a file in %s: every name tried exists", s->folder);
}

static gboolean
write_all (int fd, const char *text, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, text, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      text += n;
      len -= n;
    }
  return TRUE;
}

/* The wrapper written, owned and moded on its descriptor, then Bots'
 * script kept under a second name and the wrapper renamed over it. */
static void
switch_one (const Switch *s, const char *name)
{
  g_autofree char *f = path_of (s, name);
  g_autofree char *kept = kept_name (name);
  struct stat st;
  /* The mode and owner of the file Bots' script is or points to (a
   * link's own mode is 0777): the wrapper is a program a job queue runs,
   * so never writable by group or others, nor set-id. */
  if (fstatat (s->dfd, name, &st, 0) != 0)
    die ("cannot read the mode of %s: %s", f, g_strerror (errno));
  mode_t mode = st.st_mode & 07777, safe = mode & 0755;
  g_autofree char *text = wrapper_for (s, name);
  if (safe != mode)
    printf ("%s: mode %o; the wrapper gets %o (never writable by group or others)\n",
            f, (unsigned) mode, (unsigned) safe);
  char *tmp = NULL;
  int fd = create_unique (s, name, &tmp);
  /* Where we may: the worker owns what it creates, and only root can
   * give it to another user. */
  if (fchown (fd, st.st_uid, st.st_gid) != 0 && geteuid () == 0)
    g_printerr (ME ": %s: cannot give the wrapper to %u:%u: %s\n", f,
                (unsigned) st.st_uid, (unsigned) st.st_gid, g_strerror (errno));
  gboolean ok = write_all (fd, text, strlen (text)) && fchmod (fd, safe) == 0
    && fsync (fd) == 0;
  ok = close (fd) == 0 && ok;
  if (!ok || linkat (s->dfd, name, s->dfd, kept, 0) != 0)
    {
      int e = errno;
      unlinkat (s->dfd, tmp, 0);
      die ("cannot switch %s: %s", f, g_strerror (e));
    }
  if (renameat (s->dfd, tmp, s->dfd, name) != 0)
    {
      int e = errno;
      unlinkat (s->dfd, kept, 0);
      unlinkat (s->dfd, tmp, 0);
      die ("cannot switch %s: %s", f, g_strerror (e));
    }
  g_free (tmp);
  printf ("%s: switched (Bots' script kept as %s)\n", f, kept);
}

static int
apply_to (gpointer data)
{
  const Switch *s = data;
  need_writable (s);
  adopt_replaced (s, s->todo);
  for (guint i = 0; i < s->todo->len; i++)
    switch_one (s, s->todo->pdata[i]);
  return 0;
}

/* The bots package (asked of Bots' Python, quietly) and what the
 * installation's bots.ini and journal say. */
static void
learn_installation (Switch *s)
{
  if (s->info != NULL)
    return;
  g_autoptr (GString) bp = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  s->quiet = TRUE;
  if (jq_runas_call (&s->worker, botspath, s, bp, 0, &error) == 0)
    s->botspath = g_strdup (g_strstrip (bp->str));
  s->quiet = FALSE;
  if (s->botspath != NULL && s->botspath[0] == '\0')
    g_clear_pointer (&s->botspath, g_free);
  if (s->botspath != NULL)
    s->info = jq_switchinfo_read (s->botspath);
  else
    {
      s->info = g_new0 (JqSwitchInfo, 1);
      s->info->error = g_strdup ("Bots' Python finds no bots package");
    }
}

/* What the journal in botssys/jobqueue holds, in words; NULL when there
 * is none. */
static char *
queue_words (const JqSwitchInfo *i)
{
  if (i->journal_error != NULL)
    return g_strdup_printf ("%s cannot be read (%s)", i->journal_path, i->journal_error);
  if (!i->state_exists || i->journal_path == NULL || !g_file_test (i->journal_path, G_FILE_TEST_EXISTS))
    return NULL;
  GString *w = g_string_new (NULL);
  g_string_append_printf (w, "%u job%s waiting", i->waiting, i->waiting == 1 ? "" : "s");
  if (i->running > 0)
    g_string_append_printf (w, " and %u that %s running when the server stopped (%s again "
                            "first)", i->running, i->running == 1 ? "was" : "were",
                            i->running == 1 ? "it runs" : "they run");
  if (i->tasks != NULL && i->tasks[0] != NULL)
    {
      g_autofree char *list = g_strjoinv (", ", i->tasks);
      g_string_append_printf (w, " (%s%s)", list,
                              i->waiting > g_strv_length (i->tasks) ? ", ..." : "");
    }
  g_string_append (w, i->paused ? "; the queue is paused" : "; the queue is not paused");
  return g_string_free (w, FALSE);
}

/* Before "to" switches: what waits in the queue bots-jobqueue will
 * start with, and whether it is paused. */
static void
tell_queue_before (const Switch *s)
{
  const JqSwitchInfo *i = s->info;
  if (i->error != NULL)
    {
      printf ("%s: cannot tell what waits in bots-jobqueue's queue of this Bots: %s\n",
              s->folder, i->error);
      return;
    }
  if (i->postgresql)
    {
      printf ("%s: the queue of this Bots is in PostgreSQL ([jobqueue] journal = "
              "postgresql): \"bots-jobqueue list\" and \"status\" show it once the server "
              "runs\n", s->folder);
      return;
    }
  g_autofree char *words = queue_words (i);
  if (words == NULL)
    printf ("%s: no queue of bots-jobqueue is kept in %s: the server starts with none "
            "waiting, not paused\n", s->folder, i->state_dir);
  else
    printf ("%s: bots-jobqueue's queue kept in %s from before: %s.%s Those jobs run when the "
            "server starts; to start with an empty queue instead, remove it first: "
            "rm -r %s\n", s->folder, i->state_dir, words,
            i->paused ? " Nothing starts until \"bots-jobqueue resume\"." : "",
            i->state_dir);
}

/* After "back": what bots-jobqueue leaves in botssys, and how to remove it. */
static void
tell_left_behind (const Switch *s)
{
  const JqSwitchInfo *i = s->info;
  if (i->error != NULL || i->postgresql || !i->state_exists)
    return;
  g_autofree char *words = queue_words (i);
  printf ("%s: left in place: %s, bots-jobqueue's journal and lock%s%s. Bots' own server "
          "does not read it; a later \"" ME " to\" starts with it%s. To remove it: "
          "rm -r %s\n", s->folder, i->state_dir, words ? ": " : "", words ? words : "",
          i->waiting + i->running > 0 ? ", running those jobs" : "", i->state_dir);
}

/* A server holding this installation's port ([jobqueue] port): a Python
 * one refuses the switch (its queue would be lost); another program is
 * said. */
static void
check_port (const Switch *s)
{
  if (s->info->error != NULL || s->info->port == 0)
    return;
  g_autofree char *argv0 = NULL;
  int pid = jq_switchproc_listener (s->info->port, &argv0);
  if (pid <= 0)
    return;
  g_autofree char *base = g_path_get_basename (argv0);
  g_autofree char *ours = g_build_filename (s->programs, "bots-jobqueueserver", NULL);
  if (g_str_has_prefix (base, "python"))
    die ("a Python job queue server is running on this Bots' port %u (process %d): stop it "
         "first; the jobs it holds in memory would be lost", s->info->port, pid);
  if (!jq_switchproc_is_program (pid, ours))
    g_printerr (ME ": warning: port %u of this Bots is held by process %d (%s): "
                "bots-jobqueueserver cannot start while it is\n", s->info->port, pid, argv0);
}

/* The systemd drop-in: the folders the server and its jobs write. */
static void
write_dropin (const Switch *s)
{
  const char *units = jq_switchunit_dir ();
  if (units == NULL || s->info->error != NULL || s->botspath == NULL)
    return;
  const char *paths[] = { s->info->botssys, s->info->usersys, NULL };
  g_autoptr (GError) error = NULL;
  const char *config = s->info->major == 4 ? s->info->config_dir : NULL;
  if (jq_switchunit_write (units, s->folder, s->botspath, config, paths, &error))
    printf ("%s/" JQ_SWITCHUNIT_DROPIN_DIR "/" JQ_SWITCHUNIT_DROPIN ": ReadWritePaths=%s %s "
            "for bots-jobqueueserver.service (\"systemctl daemon-reload\" to use it)\n",
            units, s->info->botssys, s->info->usersys);
  else
    g_printerr (ME ": no systemd drop-in written: %s; give the server ReadWritePaths= of "
                "%s yourself (\"systemctl edit bots-jobqueueserver\")\n", error->message,
                s->info->botssys);
}

static void
remove_dropin (const Switch *s)
{
  const char *units = jq_switchunit_dir ();
  g_autoptr (GError) error = NULL;
  if (units == NULL || s->botspath == NULL)
    return;
  if (jq_switchunit_remove (units, s->botspath, &error))
    printf ("%s/" JQ_SWITCHUNIT_DROPIN_DIR "/" JQ_SWITCHUNIT_DROPIN ": removed\n", units);
  else if (error != NULL)
    g_printerr (ME ": %s\n", error->message);
}

/* Runs @func as the worker; exits with its status unless 0. */
static void
as_worker (Switch *s, JqRunasFunc func, GString *out)
{
  g_autoptr (GError) error = NULL;
  int rc = jq_runas_call (&s->worker, func, s, out, 0, &error);
  if (rc < 0)
    die ("%s: %s", s->folder, error->message);
  if (rc != 0)
    {
      fflush (stdout);
      _exit (rc);
    }
}

/* The names the worker's plan printed. */
static GPtrArray *
planned (const GString *out)
{
  GPtrArray *todo = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (out->str, "\n", -1);
  for (gsize i = 0; lines[i] != NULL; i++)
    for (gsize j = 0; names[j] != NULL; j++)
      if (strcmp (lines[i], names[j]) == 0)
        g_ptr_array_add (todo, g_strdup (names[j]));
  return todo;
}

static void
switch_to (Switch *s)
{
  g_autofree char *wrapper_path = g_strdup (g_getenv ("BOTS_JOBQUEUE_WRAPPER"));
  if (wrapper_path == NULL)
    wrapper_path = g_strdup (JQ_COMPAT_DIR "/bots-jobqueueserver.py");
  if (!g_file_get_contents (wrapper_path, &s->wrapper, NULL, NULL))
    die ("cannot read the wrapper %s", wrapper_path);
  g_autofree char *server = g_build_filename (s->programs, "bots-jobqueueserver", NULL);
  g_autofree char *client = g_build_filename (s->programs, "bots-job2queue", NULL);
  if (access (server, X_OK) != 0 || access (client, X_OK) != 0)
    die ("bots-job2queue and bots-jobqueueserver are not in %s", s->programs);
  if (strpbrk (s->programs, "\"\\\n"))
    die ("%s holds a quote, backslash or line break", s->programs);
  g_autoptr (GString) out = g_string_new (NULL);
  as_worker (s, plan_to, out);
  s->todo = planned (out);
  if (s->todo->len == 0)
    {
      printf ("%s: already switched\n", s->folder);
      learn_installation (s);
      write_dropin (s);
      return;
    }
  int pid = jq_switchproc_python_server (s->folder, SUFFIX);
  if (pid > 0)
    die ("the Python job queue server is running (process %d): stop it first; the jobs it "
         "holds in memory would be lost", pid);
  learn_installation (s);
  check_port (s);
  tell_queue_before (s);
  as_worker (s, apply_to, NULL);
  write_dropin (s);
}

/* ---------------------------------------------------------------- back */

static int
plan_back (gpointer data)
{
  const Switch *s = data;
  g_autoptr (GPtrArray) list = present (s);
  forget_interrupted (s, list);
  for (guint i = 0; i < list->len; i++)
    {
      const char *n = list->pdata[i];
      g_autofree char *kept = kept_name (n);
      if (!entry_exists (s, kept))
        {
          if (is_ours (s, n))
            die ("%s/%s is a bots-jobqueue wrapper and Bots' script is not kept beside it: "
                 "reinstall Bots", s->folder, n);
          continue;   /* Bots' script, as it was */
        }
      printf ("%s\n", n);
    }
  return 0;
}

static int
apply_back (gpointer data)
{
  const Switch *s = data;
  need_writable (s);
  adopt_replaced (s, s->todo);
  for (guint i = 0; i < s->todo->len; i++)
    {
      const char *n = s->todo->pdata[i];
      g_autofree char *kept = kept_name (n);
      if (!entry_exists (s, kept))
        continue;   /* taken as Bots' script just now */
      if (renameat (s->dfd, kept, s->dfd, n) != 0)
        die ("cannot rename %s/%s to %s: %s", s->folder, kept, n, g_strerror (errno));
      printf ("%s/%s: Bots' script is back\n", s->folder, n);
    }
  return 0;
}

static void
switch_back (Switch *s)
{
  g_autoptr (GString) out = g_string_new (NULL);
  as_worker (s, plan_back, out);
  s->todo = planned (out);
  if (s->todo->len == 0)
    {
      printf ("%s: Bots' scripts are in place\n", s->folder);
      return;
    }
  /* Bots' own server could not start while ours holds the port. */
  learn_installation (s);
  g_autofree char *server = g_build_filename (s->programs, "bots-jobqueueserver", NULL);
  int pid = jq_switchproc_our_server (server, s->botspath);
  if (pid > 0)
    die ("bots-jobqueueserver is running for this Bots (process %d): stop it first, then "
         "go back", pid);
  as_worker (s, apply_back, NULL);
  tell_left_behind (s);
  remove_dropin (s);
}

/* ---------------------------------------------------------------- main */

static void
usage (FILE *to)
{
  fprintf (to, "Usage: " ME " to|back|status|botspath [FOLDER]\n"
           "FOLDER: where Bots' bots-job2queue(.py) and bots-jobqueueserver(.py) are.\n");
}

/* The folder of the first of Bots' script names found on PATH. */
static char *
find_folder (void)
{
  static const char *const order[] = {
    "bots-job2queue.py", "bots-jobqueueserver.py", "bots-job2queue", "bots-jobqueueserver"
  };
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    {
      g_autofree char *p = g_find_program_in_path (order[i]);
      if (p != NULL && g_path_is_absolute (p))
        return g_path_get_dirname (p);
    }
  die ("no Bots job queue script on PATH: name the folder that holds them");
}

/* Opens the folder once.  Root works in a folder of another user as that
 * user; in its own folder, or as anyone else, as itself. */
static void
open_folder (Switch *s, const char *given)
{
  g_autofree char *named = given ? g_strdup (given) : find_folder ();
  struct stat st;
  if (stat (named, &st) != 0 || !S_ISDIR (st.st_mode))
    die ("%s is not a folder", named);
  s->folder = realpath (named, NULL);
  if (s->folder == NULL)
    die ("%s: %s", named, g_strerror (errno));
  s->dfd = open (s->folder, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->dfd < 0 || fstat (s->dfd, &s->st) != 0)
    die ("cannot open %s: %s", s->folder, g_strerror (errno));
  if (geteuid () == 0 && s->st.st_uid != 0)
    jq_runas_user (s->st.st_uid, s->st.st_gid, &s->worker);
  else
    s->worker = (JqUser) { geteuid (), getegid () };
}

int
main (int argc, char **argv)
{
  if (argc < 2 || argc > 3)
    {
      usage (stderr);
      return 2;
    }
  const char *action = argv[1];
  if (strcmp (action, "-h") == 0 || strcmp (action, "--help") == 0)
    {
      usage (stdout);
      return 0;
    }
  if (strcmp (action, "to") != 0 && strcmp (action, "back") != 0
      && strcmp (action, "status") != 0 && strcmp (action, "botspath") != 0)
    {
      usage (stderr);
      return 2;
    }
  Switch s = { .dfd = -1 };
  s.programs = g_getenv ("BOTS_JOBQUEUE_PROGRAMS");
  if (s.programs == NULL || s.programs[0] == '\0')
    s.programs = JQ_PROGRAMS_DIR;
  open_folder (&s, argc == 3 ? argv[2] : NULL);
  if (strcmp (action, "to") == 0)
    switch_to (&s);
  else if (strcmp (action, "back") == 0)
    switch_back (&s);
  else
    as_worker (&s, strcmp (action, "status") == 0 ? status : botspath, NULL);
  close (s.dfd);
  g_free (s.folder);
  g_free (s.wrapper);
  g_clear_pointer (&s.todo, g_ptr_array_unref);
  g_free (s.botspath);
  jq_switchinfo_free (s.info);
  return 0;
}
