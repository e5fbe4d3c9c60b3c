/* One server per botssys: an exclusive lock on a file that names its
 * holder. */
#pragma once

#include <glib.h>

/* Locks @path (creating it) and writes our pid into it.  Returns the open
 * descriptor that holds the lock (keep it open), or -1 and sets @error
 * naming the process that holds it. */
int jq_lockfile_acquire (const char *path, GError **error);

/* Whether @path is still the file @fd locks.  A lock file deleted (or
 * replaced) under a running server lets a second server lock a new one
 * and run next to it: FALSE, with @error saying so, when it is gone. */
gboolean jq_lockfile_check (int fd, const char *path, GError **error);

/* Releases the lock taken by jq_lockfile_acquire(). */
void jq_lockfile_release (int fd);
