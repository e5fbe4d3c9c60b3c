/* Reading a small text file that another user may control: see
 * ownedfile.h. */
#include "ownedfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "runas.h"

typedef struct {
  const char      *path;
  const char      *what;
  gsize            max;
  JqOwnedfileMode  mode;
} Request;

static int
open_regular (const Request *rq, struct stat *st, GError **error)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
  int fd = open (rq->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR,
                   saved == ENOENT ? JQ_ERROR_NOT_FOUND : JQ_ERROR_IO,
                   "Failed to open file \u201c%s\u201d: %s", rq->path,
                   g_strerror (saved));
      return -1;
    }
  if (fstat (fd, st) != 0 || !S_ISREG (st->st_mode))
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "%s is not a regular file; %s must be one", rq->path,
                   rq->what);
      close (fd);
      return -1;
    }
  if (rq->mode == JQ_OWNEDFILE_WHOLE && (guint64) st->st_size > rq->max)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "%s is too large (%lld bytes; at most %" G_GSIZE_FORMAT
                   " are read)", rq->path, (long long) st->st_size, rq->max);
      close (fd);
      return -1;
    }
  return fd;
}

/* Reads @rq's file in this process: a regular file, bounded.  The size
 * may change under us, so at most one byte beyond the bound is read to
 * tell. */
static char *
read_bounded (const Request *rq, gsize *len, GError **error)
{
  struct stat st;
  int fd = open_regular (rq, &st, error);
  if (fd < 0)
    return NULL;
  gsize cap = rq->mode == JQ_OWNEDFILE_WHOLE ? rq->max + 1 : rq->max;
  gsize room = MIN ((gsize) st.st_size + 1, cap), have = 0;
  char *text = g_malloc (room + 1);
  for (;;)
    {
      if (have == room && room < cap)
        {
          room = MIN (room * 2, cap);
          text = g_realloc (text, room + 1);
        }
      if (have == room)
        break;
      ssize_t n = read (fd, text + have, room - have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, JQ_ERROR, JQ_ERROR_IO, "cannot read %s: %s",
                       rq->path, g_strerror (saved));
          g_free (text);
          close (fd);
          return NULL;
        }
      if (n == 0)
        break;
      have += (gsize) n;
    }
  close (fd);
  if (rq->mode == JQ_OWNEDFILE_WHOLE && have > rq->max)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "%s is too large (more than %" G_GSIZE_FORMAT " bytes)",
                   rq->path, rq->max);
      g_free (text);
      return NULL;
    }
  text[have] = '\0';
  if (len != NULL)
    *len = have;
  return text;
}

/* The child's side of read_as_controller: the file, then 'K'; or the
 * error message, then 'E'.  The status byte comes last, so that an
 * answer cut short by the pipe's bound is never taken for the file. */
static int
read_in_child (gpointer data)
{
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = read_bounded (data, &len, &error);
  if (text == NULL)
    printf ("%s%c", error->message, 'E');
  else
    {
      fwrite (text, 1, len, stdout);
      putchar ('K');
    }
  return 0;
}

static char *
read_as_controller (const Request *rq, const JqUser *who, gsize *len,
                    GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  if (jq_runas_call (who, read_in_child, (gpointer) rq, out, 10000,
                     error) < 0)
    return NULL;
  char status = out->len > 0 ? out->str[out->len - 1] : '\0';
  if (status != 'K' && status != 'E')
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_IO,
                   "%s could not be read as its owner (uid %u)", rq->path,
                   (unsigned) who->uid);
      return NULL;
    }
  g_string_truncate (out, out->len - 1);
  if (status == 'E')
    {
      /* The child's "does not exist" stays one for the caller. */
      gboolean missing = g_str_has_prefix (out->str, "Failed to open file")
                         && g_str_has_suffix (out->str, g_strerror (ENOENT));
      g_set_error (error, JQ_ERROR,
                   missing ? JQ_ERROR_NOT_FOUND : JQ_ERROR_IO,
                   "%s (read as uid %u, who controls it)", out->str,
                   (unsigned) who->uid);
      return NULL;
    }
  if (len != NULL)
    *len = out->len;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
jq_ownedfile_read (const char *path, const char *what, gsize max,
                   JqOwnedfileMode mode, gsize *len, GError **error)
{
  const Request rq = { path, what, max, mode };
  const char *const paths[] = { path, NULL };
  JqUser who;
  struct stat st;
  if (geteuid () != 0 || lstat (path, &st) != 0
      || !jq_runas_path_user (paths, &who, NULL) || !jq_runas_needed (&who))
    return read_bounded (&rq, len, error);
  return read_as_controller (&rq, &who, len, error);
}
