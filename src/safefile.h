/* The server's own files in botssys (lock file, log, journal), opened so
 * that a link or a stranger's file there is refused, never followed. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Opens @path with @flags (open(2)'s; O_NOFOLLOW and O_CLOEXEC are added,
 * so a link as the last component is never followed, dangling or not) and
 * @mode for a file it creates, then checks that what it opened is a
 * regular file owned by this process's effective user.  Returns the
 * descriptor, or -1 and sets @error with a message naming @what ("lock
 * file", "log") and @path and saying why: a link, not a regular file, or
 * owned by another user (and what to do about it). */
int jq_safefile_open (const char *path, int flags, mode_t mode,
                      const char *what, GError **error);

/* For files that another library opens by name (SQLite's database and its
 * -wal, -shm and -journal files): TRUE when @path does not exist, or is a
 * regular file (not a link) owned by this process's effective user; else
 * FALSE and @error as above. */
gboolean jq_safefile_check (const char *path, const char *what,
                            GError **error);

/* Whether @dir is a folder that no user but this process's own (and root)
 * can write in: owned by one of them and without write permission for
 * group or others (a sticky folder such as /tmp does not count: its
 * users can still create names in it).  FALSE and @error saying so, naming
 * @what, otherwise. */
gboolean jq_safefile_check_dir (const char *dir, const char *what,
                                GError **error);
