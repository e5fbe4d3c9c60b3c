/* What may run, from bots.ini's authorization keys (authorized_tasks,
 * python_executable_path, botsengine_path), kept up to date while the
 * server runs: re-read on SIGHUP, and before a refusal when the file has
 * changed since it was read, so that an administrator's fix takes effect
 * without a restart. */
#pragma once

#include <glib.h>

#include "config.h"
#include "log.h"
#include "policy.h"

typedef struct _JqAuthFile JqAuthFile;

/* Builds the policy from @config (which must outlive the object) and
 * notes which file config->ini_path is. */
JqAuthFile *jq_auth_file_new (const JqConfig *config, JqLog *log);

/* The policy: always the same object, updated in place. */
JqTaskPolicy *jq_auth_file_get_policy (JqAuthFile *f);

/* Re-reads bots.ini when @force, or when it is another file than the
 * one read last (inode, size or modification time changed), and says so
 * in the log with @why.  Returns TRUE when the policy was updated.  A
 * file that cannot be read leaves the policy as it was (logged).  Loop
 * thread only. */
gboolean jq_auth_file_reload (JqAuthFile *f, gboolean force, const char *why);

void jq_auth_file_free (JqAuthFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqAuthFile, jq_auth_file_free)
