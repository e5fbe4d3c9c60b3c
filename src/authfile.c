/* bots.ini's authorization keys, re-read while the server runs.
 *
 * The policy object is updated in place: the runner holds it too (it
 * judges every job again at its start), and replacing it would leave the
 * runner with a freed one.  Only the three keys are re-read; every other
 * setting keeps its start-up value until a restart. */
#include "authfile.h"

#include <sys/stat.h>

typedef struct {
  gboolean known;       /* FALSE: the file could not be looked at */
  dev_t    dev;
  ino_t    ino;
  off_t    size;
  struct timespec mtime;
} FileId;

struct _JqAuthFile {
  const JqConfig *config;
  JqLog          *log;
  JqTaskPolicy   *policy;
  FileId          read;   /* bots.ini as it was when read last */
};

static FileId
file_id (const char *path)
{
  FileId id = { FALSE, 0, 0, 0, { 0, 0 } };
  struct stat st;
  if (path != NULL && stat (path, &st) == 0)
    id = (FileId) { TRUE, st.st_dev, st.st_ino, st.st_size, st.st_mtim };
  return id;
}

static gboolean
same_file (const FileId *a, const FileId *b)
{
  return a->known == b->known && a->dev == b->dev && a->ino == b->ino
         && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec
         && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void
apply (JqAuthFile *f, const char *const *authorized, const char *python,
       const char *engine, gboolean update)
{
  const JqConfig *c = f->config;
  JqTaskPolicySettings settings = {
    .authorized = authorized,
    .search_path = g_getenv ("PATH"),
    .job_dir = c->job_dir,
    .python_executable = python,
    .bots_engine = engine,
    .bots_python = c->bots_python,
    .bots_package_dir = c->bots_dir,
  };
  if (update)
    jq_task_policy_update (f->policy, &settings);
  else
    f->policy = jq_task_policy_new (&settings);
}

JqAuthFile *
jq_auth_file_new (const JqConfig *config, JqLog *log)
{
  JqAuthFile *f = g_new0 (JqAuthFile, 1);
  f->config = config;
  f->log = log;
  f->read = file_id (config->ini_path);
  apply (f, (const char *const *) config->authorized_tasks,
         config->python_executable_path, config->botsengine_path, FALSE);
  return f;
}

JqTaskPolicy *
jq_auth_file_get_policy (JqAuthFile *f)
{
  return f->policy;
}

gboolean
jq_auth_file_reload (JqAuthFile *f, gboolean force, const char *why)
{
  if (f->config->ini_path == NULL)
    return FALSE;                      /* a test's config without a file */
  FileId now = file_id (f->config->ini_path);
  if (!force && same_file (&now, &f->read))
    return FALSE;
  /* Noted before reading: a file that cannot be read is told once, not
   * at every refusal. */
  f->read = now;
  JqAuthKeys keys = { NULL, NULL, NULL };
  g_autoptr (GError) error = NULL;
  if (!jq_config_read_auth_keys (f->config->ini_path, &keys, &error))
    {
      jq_log_write (f->log, JQ_LOG_ERROR, "Cannot re-read the authorized "
                    "tasks (%s): %s; the ones read before stay.", why,
                    error->message);
      return FALSE;
    }
  apply (f, (const char *const *) keys.authorized_tasks,
         keys.python_executable_path, keys.botsengine_path, TRUE);
  g_autofree char *listed = g_strjoinv (" ", keys.authorized_tasks);
  jq_log_write (f->log, JQ_LOG_STARTINFO, "Authorized tasks re-read from %s "
                "(%s): authorized_tasks = %s; python_executable_path = %s; "
                "botsengine_path = %s.", f->config->ini_path, why, listed,
                keys.python_executable_path ? keys.python_executable_path : "",
                keys.botsengine_path ? keys.botsengine_path : "");
  jq_auth_keys_clear (&keys);
  return TRUE;
}

void
jq_auth_file_free (JqAuthFile *f)
{
  if (f == NULL)
    return;
  jq_task_policy_free (f->policy);
  g_free (f);
}
