/* A build without libpq: the PostgreSQL store and the cluster are
 * refused with a message saying why, and nothing else changes. */
#include "build-config.h"

#include "cluster.h"
#include "error.h"
#include "store-pg.h"

#define NO_LIBPQ "this bots-jobqueueserver was built without PostgreSQL " \
  "support (configure found no libpq, or was given --without-libpq: " \
  "install libpq-dev and build again), so [jobqueue] journal = " \
  "postgresql cannot be used"

JqJournal *
jq_store_pg_open (const char *dsn, const char *member, guint lease_ms,
                  JqLog *log, GError **error)
{
  g_set_error_literal (error, JQ_ERROR, JQ_ERROR_CONFIG, NO_LIBPQ);
  return NULL;
}

JqCluster *
jq_cluster_new (const char *dsn, const char *member, guint lease_ms,
                JqJournal *journal, const JqClusterLauncher *launcher,
                gpointer launcher_data, JqLog *log, GError **error)
{
  g_set_error_literal (error, JQ_ERROR, JQ_ERROR_CONFIG, NO_LIBPQ);
  return NULL;
}

gboolean jq_cluster_may_launch (gpointer data) { return FALSE; }
void jq_cluster_start (JqCluster *c) { }
void jq_cluster_journal_failed (JqCluster *c) { }
JqClusterInfo *jq_cluster_info (JqCluster *c) { return NULL; }
void jq_cluster_free (JqCluster *c) { }

void
jq_cluster_info_free (JqClusterInfo *info)
{
}
