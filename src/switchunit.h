/* The systemd drop-in that bots-jobqueue-switch writes for an
 * installation: the folders the server and its engine runs write, made
 * writable under the unit's ProtectSystem= (doc/migrating.md). */
#pragma once

#include <glib.h>

#define JQ_SWITCHUNIT_DROPIN_DIR "bots-jobqueueserver.service.d"
#define JQ_SWITCHUNIT_DROPIN     "bots-jobqueue-switch.conf"

/* Where unit drop-ins go: $BOTS_JOBQUEUE_SYSTEMD_DIR (tests), else
 * /etc/systemd/system when systemd runs (/run/systemd/system exists)
 * and this process is root; NULL: none is written. */
const char *jq_switchunit_dir (void);

/* Writes @units_dir/bots-jobqueueserver.service.d/bots-jobqueue-switch.conf
 * (its name and contents: the contract in bots-jobqueueserver.service)
 * for the bots package @botspath (scripts in @folder): BOTS_DIR,
 * BOTS_CONFIG_DIR when @config_dir is not NULL (Bots 4), and
 * ReadWritePaths= of @paths (NULL-terminated, absolute; each may be
 * missing), replacing the
 * file in one rename.  Both folders must be root's (or this user's) and
 * writable by nobody else, and are reached through their descriptors.
 * FALSE and @error set, with nothing changed, when a path holds
 * characters a unit file would need quoted, or a folder is not safe. */
gboolean jq_switchunit_write (const char *units_dir, const char *folder,
                              const char *botspath, const char *config_dir,
                              const char *const *paths, GError **error);

/* Removes the drop-in when it was written for @botspath.  TRUE when it
 * was removed; FALSE otherwise (@error set only on a failure). */
gboolean jq_switchunit_remove (const char *units_dir, const char *botspath,
                               GError **error);
