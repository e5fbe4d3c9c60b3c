/* Reading a small text file that another user may control.
 *
 * Run as root, bots.ini, settings.py, the Bots package's files and the
 * scripts on PATH usually belong to the Bots user, who can replace any of
 * them with a link: to /etc/shadow (root would read, and show in a
 * message, what that user may not read), to /dev/zero or a FIFO (root
 * would read without end, or wait for a writer).  Every such read goes
 * through here: only a regular file is read, never more than a bound, an
 * open never waits, and when root reads a file that another user
 * controls, a child that has become that user reads it (src/runas.h), so
 * that the kernel refuses whatever that user may not read. */
#pragma once

#include <glib.h>

typedef enum {
  JQ_OWNEDFILE_WHOLE,   /* a file larger than the bound is an error */
  JQ_OWNEDFILE_HEAD,    /* the first bytes, up to the bound, are enough */
} JqOwnedfileMode;

/* The contents of @path (NUL-terminated; its length in *@len when
 * non-NULL), read as described above.  @what names the file in the
 * message when it is not a regular file ("bots.ini must be one").  NULL
 * and @error set (JQ_ERROR_NOT_FOUND when it does not exist, else
 * JQ_ERROR_IO) when it cannot be read. */
char *jq_ownedfile_read (const char *path, const char *what, gsize max,
                         JqOwnedfileMode mode, gsize *len, GError **error);
