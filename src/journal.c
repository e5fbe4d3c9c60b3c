/* The durable journal, in SQLite.
 *
 * Schema (PRAGMA user_version 1, application_id "Bots").  If you change
 * it, you MUST bump JQ_JOURNAL_VERSION, keep reading every older
 * version a user may still have (upgrade it in check_file(), in place),
 * and add tests/data/journal-vN.sql, dumped from a file the new version
 * wrote, to test_journal.c's stored-file tests; journal-v1.sql stays.
 *   jobs(number, priority, argv BLOB, task TEXT, queued_us, state,
 *        at_head, started_us, pid)   -- waiting and running jobs
 *   history(number, priority, argv, task, queued_us, started_us,
 *        ended_us, exit_code, signal, maxruntime_hit, start_error)
 *   meta(key, value)                 -- next_number, paused, queue_id...
 * argv is stored as NUL-terminated strings back to back (exact, any
 * bytes); task is the same as Python prints it, for people reading the
 * file with the sqlite3 tool.  Nothing is ever deleted or rewritten when
 * the file is not what we expect. */
#include "journal.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "error.h"
#include "safefile.h"
#include "task.h"

#define APPLICATION_ID 0x426f7473   /* "Bots" */

enum {
  ST_ADD, ST_PRIORITY, ST_START, ST_REMOVE, ST_CLEAR, ST_META, ST_HISTORY,
  ST_REQUEUE, N_STATEMENTS
};

static const char *const statement_sql[N_STATEMENTS] = {
  [ST_ADD] = "INSERT INTO jobs (number, priority, argv, task, queued_us, "
             "state, at_head) VALUES (?, ?, ?, ?, ?, 'waiting', 0)",
  [ST_PRIORITY] = "UPDATE jobs SET priority = ? WHERE number = ?",
  [ST_START] = "UPDATE jobs SET state = 'running', started_us = ?, pid = ? "
               "WHERE number = ?",
  [ST_REMOVE] = "DELETE FROM jobs WHERE number = ?",
  [ST_CLEAR] = "DELETE FROM jobs WHERE state = 'waiting'",
  [ST_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
  [ST_HISTORY] = "INSERT OR REPLACE INTO history (number, priority, argv, "
                 "task, queued_us, started_us, ended_us, exit_code, signal, "
                 "maxruntime_hit, start_error) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [ST_REQUEUE] = "UPDATE jobs SET state = 'waiting', at_head = 1 "
                 "WHERE number = ?",
};

struct _JqJournal {
  sqlite3        *db;
  char           *path;
  sqlite3_stmt   *statements[N_STATEMENTS];
  guint64         queue_id;       /* random, made with the file */
  guint           depth;          /* nesting of begin/commit */
  JqJournalCommitted committed;   /* nullable: metrics */
  gpointer        committed_data;
  sqlite3_int64   changes_at_begin; /* a commit that wrote nothing is not timed */
  GError         *pending_error;  /* first write error in this transaction */
  JqJournalGuard  guard;          /* nullable: checked before each commit */
  gpointer        guard_data;
  JqJournalFailed failed;
  gpointer        failed_data;
  gboolean        failed_reported;
  GError         *broken;         /* the failure that ended writing; once
                                   * set, every later commit fails too */
  struct stat     file_id;        /* st_dev/st_ino of queue.db at open */
  struct stat     wal_id;         /* ... and of queue.db-wal; st_ino 0
                                   * when there was none */
  /* Another store (journal.h): every call goes there; nothing above is
   * used but the observers and queue_id. */
  const JqJournalBackend *backend;
  gpointer        impl;
  JqJournalReload reload;
  gpointer        reload_data;
};

/* The calls handed to another store: one line at the top of each
 * function, so that SQLite's code below stays as it was. */
#define BACKEND(j) ((j) != NULL && (j)->backend != NULL)

static gboolean
exec_sql (JqJournal *j, const char *sql, GError **error)
{
  char *message = NULL;
  if (sqlite3_exec (j->db, sql, NULL, NULL, &message) == SQLITE_OK)
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL, "journal %s: %s", j->path,
               message ? message : sqlite3_errmsg (j->db));
  sqlite3_free (message);
  return FALSE;
}

/* Why the journal could not be read when the file is not at fault: the
 * disk (full, failing, read-only), a limit or the permissions.  Moving the
 * journal away would lose its jobs, so the advice is to fix the cause. */
static void
set_unreadable (JqJournal *j, GError **error)
{
  int errnum = sqlite3_system_errno (j->db);
  g_autofree char *dir = g_path_get_dirname (j->path);
  g_autofree char *room = NULL;
  struct statvfs fs;
  if (statvfs (dir, &fs) == 0)
    {
      g_autofree char *avail = g_format_size ((guint64) fs.f_bavail
                                              * fs.f_frsize);
      room = g_strdup_printf ("; %s free on its file system%s", avail,
                              fs.f_bavail == 0 ? " (it is full)" : "");
    }
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
               "cannot read journal %s: %s (SQLite code %d%s%s)%s. The "
               "journal was not changed and nothing in it is lost: free "
               "space or fix the cause%s, then start the server again "
               "(do not move the journal away: its jobs would be lost)",
               j->path, sqlite3_errmsg (j->db),
               sqlite3_extended_errcode (j->db),
               errnum != 0 ? ", " : "", errnum != 0 ? g_strerror (errnum) : "",
               room != NULL ? room : "",
               errnum == EFBIG ? " (a file size limit: ulimit -f)" : "");
}

/* Reads one integer PRAGMA; FALSE with @error when the file cannot be
 * read as a database. */
static gboolean
pragma_int (JqJournal *j, const char *pragma, gint64 *out, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s", pragma);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (j->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  if (rc == SQLITE_ROW)
    return TRUE;

  int code = sqlite3_errcode (j->db);
  if (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN
      || code == SQLITE_READONLY || code == SQLITE_PERM
      || code == SQLITE_NOMEM)
    {
      set_unreadable (j, error);
      return FALSE;
    }
  const char *advice =
      code == SQLITE_NOTADB ? "it is not an SQLite database"
    : code == SQLITE_CORRUPT ? "the file is damaged"
    : code == SQLITE_BUSY || code == SQLITE_LOCKED
      ? "another process holds a lock on it (an sqlite3 shell?)"
    : sqlite3_errmsg (j->db);
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
               "cannot read journal %s: %s. It was left untouched: move it "
               "away (a new one is then made) or restore a backup, see "
               "doc/durability.md", j->path, advice);
  return FALSE;
}

static gboolean
check_file (JqJournal *j, GError **error)
{
  gint64 app = 0, version = 0, pages = 0, ok = 0;
  if (!pragma_int (j, "page_count", &pages, error)
      || !pragma_int (j, "application_id", &app, error)
      || !pragma_int (j, "user_version", &version, error))
    return FALSE;
  if (pages > 0 && app != APPLICATION_ID)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "%s is an SQLite database, but not a bots-jobqueue "
                   "journal; it was left untouched. Move it away or set "
                   "another [directories] botssys", j->path);
      return FALSE;
    }
  if (version > JQ_JOURNAL_VERSION)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "journal %s was written by a newer bots-jobqueue (format "
                   "%" G_GINT64_FORMAT ", this one knows %d); it was left "
                   "untouched", j->path, version, JQ_JOURNAL_VERSION);
      return FALSE;
    }
  if (pages > 0)
    {
      sqlite3_stmt *st = NULL;
      sqlite3_prepare_v2 (j->db, "PRAGMA quick_check", -1, &st, NULL);
      const char *answer = NULL;
      if (st != NULL && sqlite3_step (st) == SQLITE_ROW)
        answer = (const char *) sqlite3_column_text (st, 0);
      ok = answer != NULL && strcmp (answer, "ok") == 0;
      g_autofree char *what = g_strdup (answer ? answer
                                               : sqlite3_errmsg (j->db));
      sqlite3_finalize (st);
      if (!ok)
        {
          g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                       "journal %s is damaged (%s); it was left untouched. "
                       "Restore a backup or move it away, see "
                       "doc/durability.md", j->path, what);
          return FALSE;
        }
    }
  return TRUE;
}

/* Format JQ_JOURNAL_VERSION.  Changing anything here means bumping it:
 * see the top of this file. */
static gboolean
create_schema (JqJournal *j, GError **error)
{
  g_autofree char *sql = g_strdup_printf (
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,"
    "  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),"
    "  at_head INTEGER NOT NULL DEFAULT 0, started_us INTEGER, pid INTEGER);"
    "CREATE TABLE IF NOT EXISTS history ("
    "  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,"
    "  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,"
    "  started_us INTEGER, ended_us INTEGER NOT NULL, exit_code INTEGER,"
    "  signal INTEGER, maxruntime_hit INTEGER NOT NULL DEFAULT 0,"
    "  start_error TEXT);"
    "CREATE INDEX IF NOT EXISTS history_ended ON history (ended_us);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);"
    "PRAGMA application_id = %d;"
    "PRAGMA user_version = %d;"
    "COMMIT;", APPLICATION_ID, JQ_JOURNAL_VERSION);
  return exec_sql (j, sql, error);
}

static gint64 get_meta (JqJournal *j, const char *key, gint64 fallback);
static void set_meta (JqJournal *j, const char *key, gint64 value);

/* The queue's identity marks its jobs (jobmark.h); it is made once, so
 * that a restarted server recognises the jobs of the one before. */
static gboolean
load_queue_id (JqJournal *j, GError **error)
{
  j->queue_id = (guint64) get_meta (j, "queue_id", 0);
  if (j->queue_id != 0)
    return TRUE;
  j->queue_id = jq_journal_new_queue_id ();
  jq_journal_begin (j);
  set_meta (j, "queue_id", (gint64) j->queue_id);
  return jq_journal_commit (j, error);
}

guint64
jq_journal_new_queue_id (void)
{
  /* 62 random bits: positive as an SQLite integer, never 0. */
  guint64 id = ((guint64) g_random_int () << 30) ^ g_random_int ();
  return (id & G_GUINT64_CONSTANT (0x3fffffffffffffff)) | 1;
}

guint64
jq_journal_get_queue_id (JqJournal *j)
{
  return j != NULL ? j->queue_id : 0;
}

static guint busy_timeout_ms = JQ_JOURNAL_BUSY_MS;

void
jq_journal_set_busy_timeout (guint ms)
{
  busy_timeout_ms = ms;
}

/* SQLite opens the database and its -wal, -shm and -journal files by
 * name: a link planted for any of them would be followed.  The folder's
 * own links (the administrator's: botssys on another disk) are resolved
 * first, then SQLite refuses any link on the way (SQLITE_OPEN_NOFOLLOW);
 * the folder must be one no other user can write in, and the files that
 * are there regular files of ours.  Creates the folder when missing.
 * Returns the resolved path to open, or NULL and sets @error. */
static char *
resolve_safely (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0750) != 0)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot create journal folder %s: %s", dir,
                   g_strerror (saved));
      return NULL;
    }
  char *real_dir = realpath (dir, NULL);
  if (real_dir == NULL)
    {
      int saved = errno;
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot open journal folder %s: %s", dir,
                   g_strerror (saved));
      return NULL;
    }
  g_autofree char *base = g_path_get_basename (path);
  char *real_path = g_build_filename (real_dir, base, NULL);
  free (real_dir);
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
  gboolean ok = jq_safefile_check_dir (dir, "journal folder", error);
  for (gsize i = 0; ok && i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (path, suffixes[i], NULL);
      ok = jq_safefile_check (file, "journal file", error);
    }
  if (!ok)
    g_clear_pointer (&real_path, g_free);
  return real_path;
}

JqJournal *
jq_journal_open (const char *path, JqDurability durability, GError **error)
{
  g_autofree char *real_path = resolve_safely (path, error);
  if (real_path == NULL)
    return NULL;

  /* The journal is written far more than it is read, and its hot pages
   * are few: no bulk page-cache allocation up front (SQLite would touch
   * about 80 KiB of it at once); pages are allocated as they are used.
   * Must come before SQLite's first use; later calls are refused. */
  static gsize configured;
  if (g_once_init_enter (&configured))
    {
      sqlite3_config (SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
      g_once_init_leave (&configured, 1);
    }
  JqJournal *j = g_new0 (JqJournal, 1);
  j->path = g_strdup (path);
  if (sqlite3_open_v2 (real_path, &j->db, SQLITE_OPEN_READWRITE
                                          | SQLITE_OPEN_CREATE
                                          | SQLITE_OPEN_NOFOLLOW
                                          | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot open journal %s: %s", path,
                   j->db ? sqlite3_errmsg (j->db) : "out of memory");
      jq_journal_close (j);
      return NULL;
    }
  sqlite3_busy_timeout (j->db, (int) busy_timeout_ms);
  /* A small lookaside: the default (120 KiB) is touched whole when the
   * connection opens, and our prepared statements allocate little. */
  sqlite3_db_config (j->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 128, 32);

  /* Look before writing anything: a file that is not ours stays as it is. */
  if (!check_file (j, error)
      || !exec_sql (j, "PRAGMA journal_mode = WAL", error)
      /* The queue itself is in memory; SQLite's cache only speeds up
       * writes, and 512 KiB keeps the idle server small. */
      || !exec_sql (j, "PRAGMA cache_size = -512", error)
      || !exec_sql (j, durability == JQ_DURABILITY_FULL
                         ? "PRAGMA synchronous = FULL"
                         : "PRAGMA synchronous = NORMAL", error)
      || !create_schema (j, error))
    {
      jq_journal_close (j);
      return NULL;
    }
  for (int i = 0; i < N_STATEMENTS; i++)
    if (sqlite3_prepare_v3 (j->db, statement_sql[i], -1,
                            SQLITE_PREPARE_PERSISTENT, &j->statements[i],
                            NULL) != SQLITE_OK)
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                     "journal %s: %s", path, sqlite3_errmsg (j->db));
        jq_journal_close (j);
        return NULL;
      }
  if (!load_queue_id (j, error))
    {
      jq_journal_close (j);
      return NULL;
    }
  /* What the files are now: a commit into a file that was deleted or
   * replaced would answer 0 and be lost (see check_identity). */
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  if (g_stat (path, &j->file_id) != 0)
    memset (&j->file_id, 0, sizeof j->file_id);
  if (g_stat (wal, &j->wal_id) != 0)
    memset (&j->wal_id, 0, sizeof j->wal_id);
  return j;
}

void
jq_journal_close (JqJournal *j)
{
  if (BACKEND (j))
    {
      j->backend->close (j->impl);
      g_free (j);
      return;
    }
  if (j == NULL)
    return;
  for (int i = 0; i < N_STATEMENTS; i++)
    sqlite3_finalize (j->statements[i]);
  sqlite3_close (j->db);
  g_clear_error (&j->pending_error);
  g_clear_error (&j->broken);
  g_free (j->path);
  g_free (j);
}

const char *
jq_journal_get_path (JqJournal *j)
{
  if (BACKEND (j))
    return j->backend->describe (j->impl);
  return j ? j->path : NULL;
}

void
jq_journal_set_failure_handler (JqJournal *j, JqJournalFailed handler,
                                gpointer user_data)
{
  if (j == NULL)
    return;
  j->failed = handler;
  j->failed_data = user_data;
}

static void
note_error (JqJournal *j, const char *what)
{
  if (j->pending_error == NULL)
    g_set_error (&j->pending_error, JQ_ERROR, JQ_ERROR_JOURNAL,
                 "cannot write journal %s (%s): %s", j->path, what,
                 sqlite3_errmsg (j->db));
}

void
jq_journal_begin (JqJournal *j)
{
  if (BACKEND (j))
    {
      j->backend->begin (j->impl);
      return;
    }
  if (j == NULL)
    return;
  if (j->depth == 0)
    j->changes_at_begin = sqlite3_total_changes64 (j->db);
  if (j->depth++ == 0 && j->broken == NULL
      && sqlite3_exec (j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    note_error (j, "begin");
}

void
jq_journal_set_commit_observer (JqJournal *j, JqJournalCommitted observer,
                                gpointer user_data)
{
  if (j == NULL)
    return;
  j->committed = observer;
  j->committed_data = user_data;
}

void
jq_journal_set_guard (JqJournal *j, JqJournalGuard guard, gpointer data)
{
  if (j == NULL)
    return;
  j->guard = guard;
  j->guard_data = data;
}

static gboolean
same_file (const char *path, const struct stat *recorded)
{
  struct stat now;
  return g_stat (path, &now) == 0 && now.st_dev == recorded->st_dev
         && now.st_ino == recorded->st_ino && now.st_nlink > 0;
}

/* SQLite keeps writing to the descriptors it opened: if queue.db or its
 * WAL was deleted or replaced under us, every commit would still succeed,
 * into a file nobody will ever read again.  Two stat() calls per commit
 * (about a microsecond) catch that before anything is answered. */
static void
check_identity (JqJournal *j)
{
  if (j->pending_error == NULL && j->guard != NULL)
    j->guard (j->guard_data, &j->pending_error);
  if (j->pending_error != NULL || j->file_id.st_ino == 0)
    return;
  g_autofree char *wal = g_strconcat (j->path, "-wal", NULL);
  if (!same_file (j->path, &j->file_id)
      || (j->wal_id.st_ino != 0 && !same_file (wal, &j->wal_id)))
    g_set_error (&j->pending_error, JQ_ERROR, JQ_ERROR_JOURNAL,
                 "journal %s was deleted or replaced while the server ran; "
                 "nothing more can be saved in it", j->path);
}

gboolean
jq_journal_commit (JqJournal *j, GError **error)
{
  if (BACKEND (j))
    {
      gboolean wrote = FALSE;
      gint64 t0 = g_get_monotonic_time ();
      GError *local = NULL;
      if (j->guard != NULL && !j->guard (j->guard_data, &local))
        {
          j->backend->abort (j->impl, local);
          g_clear_error (&local);
        }
      if (j->backend->commit (j->impl, &wrote, &local))
        {
          if (wrote && j->committed != NULL)
            j->committed (g_get_monotonic_time () - t0, j->committed_data);
          return TRUE;
        }
      if (local != NULL && j->failed != NULL)
        j->failed (local, j->failed_data);
      if (local != NULL)
        g_propagate_error (error, local);
      return local == NULL;
    }
  if (j == NULL)
    return TRUE;
  g_return_val_if_fail (j->depth > 0, FALSE);
  if (--j->depth > 0)
    return TRUE;
  gint64 t0 = g_get_monotonic_time ();
  if (j->broken != NULL)
    {
      /* Memory and disk parted at the first failure: nothing after it
       * may be answered as saved, even if the disk has room again. */
      g_clear_error (&j->pending_error);
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL, "%s",
                   j->broken->message);
      return FALSE;
    }
  check_identity (j);
  if (j->pending_error == NULL
      && sqlite3_exec (j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    note_error (j, "commit");
  if (j->committed != NULL && j->pending_error == NULL
      && sqlite3_total_changes64 (j->db) != j->changes_at_begin)
    j->committed (g_get_monotonic_time () - t0, j->committed_data);
  if (j->pending_error == NULL)
    return TRUE;

  if (sqlite3_get_autocommit (j->db) == 0)
    sqlite3_exec (j->db, "ROLLBACK", NULL, NULL, NULL);
  j->broken = g_error_copy (j->pending_error);
  if (!j->failed_reported && j->failed != NULL)
    {
      j->failed_reported = TRUE;
      j->failed (j->pending_error, j->failed_data);
    }
  g_propagate_error (error, g_steal_pointer (&j->pending_error));
  return FALSE;
}

/* Runs one prepared statement with its values bound by the caller. */
static void
run (JqJournal *j, int which, const char *what)
{
  sqlite3_stmt *st = j->statements[which];
  gboolean single = j->depth == 0;   /* outside a batch: its own commit */
  if (single)
    jq_journal_begin (j);
  if (j->broken == NULL && sqlite3_step (st) != SQLITE_DONE)
    note_error (j, what);
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  if (single)
    jq_journal_commit (j, NULL);
}

static GBytes *
argv_pack (const char *const *argv)
{
  GByteArray *b = g_byte_array_new ();
  for (gsize i = 0; argv[i] != NULL; i++)
    g_byte_array_append (b, (const guint8 *) argv[i], strlen (argv[i]) + 1);
  return g_byte_array_free_to_bytes (b);
}

static char **
argv_unpack (const void *data, int len)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const char *p = data, *end = p + len;
  while (p < end)
    {
      const char *nul = memchr (p, '\0', end - p);
      gsize n = nul ? (gsize) (nul - p) : (gsize) (end - p);
      g_autofree char *arg = g_strndup (p, n);
      g_strv_builder_add (b, arg);
      p += n + 1;
    }
  return g_strv_builder_end (b);
}

static void
bind_argv (sqlite3_stmt *st, int argv_col, int task_col,
           const char *const *argv)
{
  g_autoptr (GBytes) packed = argv_pack (argv);
  gsize size;
  const void *data = g_bytes_get_data (packed, &size);
  sqlite3_bind_blob (st, argv_col, data, (int) size, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, task_col, jq_task_repr (argv), -1, g_free);
}

void
jq_journal_add (JqJournal *j, JqJob *job)
{
  if (BACKEND (j))
    {
      j->backend->add (j->impl, job);
      return;
    }
  if (j == NULL)
    return;
  sqlite3_stmt *st = j->statements[ST_ADD];
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) jq_job_get_number (job));
  sqlite3_bind_int (st, 2, jq_job_get_priority (job));
  bind_argv (st, 3, 4, jq_job_get_argv (job));
  sqlite3_bind_int64 (st, 5, jq_job_get_queued_us (job));
  run (j, ST_ADD, "add");
}

void
jq_journal_set_priority (JqJournal *j, guint64 number, int priority)
{
  if (BACKEND (j))
    {
      j->backend->set_priority (j->impl, number, priority);
      return;
    }
  if (j == NULL)
    return;
  sqlite3_stmt *st = j->statements[ST_PRIORITY];
  sqlite3_bind_int (st, 1, priority);
  sqlite3_bind_int64 (st, 2, (sqlite3_int64) number);
  run (j, ST_PRIORITY, "priority");
}

void
jq_journal_start (JqJournal *j, guint64 number, gint64 started_us, int pid)
{
  if (BACKEND (j))
    {
      j->backend->start (j->impl, number, started_us, pid);
      return;
    }
  if (j == NULL)
    return;
  sqlite3_stmt *st = j->statements[ST_START];
  sqlite3_bind_int64 (st, 1, started_us);
  sqlite3_bind_int (st, 2, pid);
  sqlite3_bind_int64 (st, 3, (sqlite3_int64) number);
  run (j, ST_START, "start");
}

/* A statement whose only parameter is a job number. */
static void
run_for_job (JqJournal *j, int which, guint64 number, const char *what)
{
  if (j == NULL)
    return;
  sqlite3_bind_int64 (j->statements[which], 1, (sqlite3_int64) number);
  run (j, which, what);
}

void
jq_journal_remove (JqJournal *j, guint64 number)
{
  if (BACKEND (j))
    {
      j->backend->remove (j->impl, number);
      return;
    }
  run_for_job (j, ST_REMOVE, number, "remove");
}

void
jq_journal_clear_waiting (JqJournal *j)
{
  if (BACKEND (j))
    {
      j->backend->clear_waiting (j->impl);
      return;
    }
  if (j != NULL)
    run (j, ST_CLEAR, "clear");
}

static void
set_meta (JqJournal *j, const char *key, gint64 value)
{
  sqlite3_stmt *st = j->statements[ST_META];
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, value);
  run (j, ST_META, key);
}

void
jq_journal_set_next_number (JqJournal *j, guint64 next)
{
  if (BACKEND (j))
    {
      j->backend->set_meta (j->impl, "next_number", (gint64) next);
      return;
    }
  if (j != NULL)
    set_meta (j, "next_number", (gint64) next);
}

void
jq_journal_set_flag (JqJournal *j, const char *name, gboolean value)
{
  if (BACKEND (j))
    {
      j->backend->set_meta (j->impl, name, value ? 1 : 0);
      return;
    }
  if (j != NULL)
    set_meta (j, name, value ? 1 : 0);
}

static gint64
get_meta (JqJournal *j, const char *key, gint64 fallback)
{
  sqlite3_stmt *st = NULL;
  gint64 value = fallback;
  sqlite3_prepare_v2 (j->db, "SELECT value FROM meta WHERE key = ?", -1,
                      &st, NULL);
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (st) == SQLITE_ROW)
    value = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  return value;
}

gboolean
jq_journal_get_flag (JqJournal *j, const char *name)
{
  if (BACKEND (j))
    return j->backend->get_meta (j->impl, name, 0) != 0;
  return j != NULL && get_meta (j, name, 0) != 0;
}

void
jq_journal_finish (JqJournal *j, const JqFinished *f)
{
  if (BACKEND (j))
    {
      j->backend->finish (j->impl, f);
      return;
    }
  if (j == NULL)
    return;
  gboolean single = j->depth == 0;
  if (single)
    jq_journal_begin (j);
  jq_journal_remove (j, f->number);
  sqlite3_stmt *st = j->statements[ST_HISTORY];
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) f->number);
  sqlite3_bind_int (st, 2, f->priority);
  bind_argv (st, 3, 4, f->argv);
  sqlite3_bind_int64 (st, 5, f->queued_us);
  if (f->started_us != 0)
    sqlite3_bind_int64 (st, 6, f->started_us);
  sqlite3_bind_int64 (st, 7, f->ended_us);
  if (f->start_error == NULL)
    sqlite3_bind_int (st, 8, f->exit_code);
  if (f->term_signal != 0)
    sqlite3_bind_int (st, 9, f->term_signal);
  sqlite3_bind_int (st, 10, f->hit_maxruntime);
  if (f->start_error != NULL)
    sqlite3_bind_text (st, 11, f->start_error, -1, SQLITE_TRANSIENT);
  run (j, ST_HISTORY, "history");
  if (single)
    jq_journal_commit (j, NULL);
}

gboolean
jq_journal_load (JqJournal *j, JqJournalJobFunc func, gpointer user_data,
                 guint64 *next_number, GError **error)
{
  if (BACKEND (j))
    return j->backend->load (j->impl, func, user_data, next_number, error);
  *next_number = 1;
  if (j == NULL)
    return TRUE;
  sqlite3_stmt *st = NULL;
  guint64 highest = 0;
  int rc = sqlite3_prepare_v2 (j->db,
      "SELECT number, priority, argv, queued_us, state, at_head, pid, "
      "started_us FROM jobs ORDER BY number", -1, &st, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      guint64 number = (guint64) sqlite3_column_int64 (st, 0);
      g_auto (GStrv) argv = argv_unpack (sqlite3_column_blob (st, 2),
                                         sqlite3_column_bytes (st, 2));
      gboolean running = strcmp ((const char *) sqlite3_column_text (st, 4),
                                 "running") == 0;
      g_autoptr (JqJob) job = jq_job_new (number, sqlite3_column_int (st, 1),
                                          (const char *const *) argv,
                                          sqlite3_column_int64 (st, 3));
      if (sqlite3_column_int (st, 5) != 0)
        running = TRUE;     /* requeued before: keep it at the head */
      func (job, running, running ? sqlite3_column_int (st, 6) : 0,
            running ? sqlite3_column_int64 (st, 7) : 0, user_data);
      highest = MAX (highest, number);
      rc = SQLITE_OK;
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot read journal %s: %s", j->path,
                   sqlite3_errmsg (j->db));
      return FALSE;
    }
  /* Numbers never go back, even past jobs that are gone from every table. */
  *next_number = MAX ((guint64) get_meta (j, "next_number", 1), highest + 1);
  return TRUE;
}

void
jq_journal_requeue_at_head (JqJournal *j, guint64 number)
{
  if (BACKEND (j))
    {
      j->backend->requeue_at_head (j->impl, number);
      return;
    }
  run_for_job (j, ST_REQUEUE, number, "requeue");
}

guint
jq_journal_prune_history (JqJournal *j, gint64 before_us, guint max_rows)
{
  if (BACKEND (j))
    return j->backend->prune_history (j->impl, before_us, max_rows);
  if (j == NULL || j->broken != NULL)
    return 0;
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2 (j->db,
      "DELETE FROM history WHERE number IN (SELECT number FROM history "
      "WHERE ended_us < ? ORDER BY ended_us LIMIT ?)", -1, &st, NULL);
  sqlite3_bind_int64 (st, 1, before_us);
  sqlite3_bind_int (st, 2, (int) max_rows);
  guint gone = 0;
  if (sqlite3_step (st) == SQLITE_DONE)
    gone = (guint) sqlite3_changes (j->db);
  sqlite3_finalize (st);
  return gone;
}

/* The history row @st is on, columns as HISTORY_COLUMNS. */
static JqFinished
row_finished (sqlite3_stmt *st)
{
  return (JqFinished) {
    .number = (guint64) sqlite3_column_int64 (st, 0),
    .priority = sqlite3_column_int (st, 1),
    .argv = (const char *const *) argv_unpack (
        sqlite3_column_blob (st, 2), sqlite3_column_bytes (st, 2)),
    .queued_us = sqlite3_column_int64 (st, 3),
    .started_us = sqlite3_column_int64 (st, 4),
    .ended_us = sqlite3_column_int64 (st, 5),
    .exit_code = sqlite3_column_int (st, 6),
    .term_signal = sqlite3_column_int (st, 7),
    .hit_maxruntime = sqlite3_column_int (st, 8),
    .start_error = g_strdup ((const char *) sqlite3_column_text (st, 9)),
  };
}

#define HISTORY_COLUMNS \
  "number, priority, argv, queued_us, started_us, ended_us, exit_code, " \
  "signal, maxruntime_hit, start_error"

JqFinished *
jq_journal_find_finished (JqJournal *j, guint64 number)
{
  if (BACKEND (j))
    return j->backend->find_finished (j->impl, number);
  if (j == NULL)
    return NULL;
  sqlite3_stmt *st = NULL;
  JqFinished *found = NULL;
  sqlite3_prepare_v2 (j->db, "SELECT " HISTORY_COLUMNS " FROM history "
                      "WHERE number = ?", -1, &st, NULL);
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) number);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      found = g_new (JqFinished, 1);
      *found = row_finished (st);
    }
  sqlite3_finalize (st);
  return found;
}

GArray *
jq_journal_history (JqJournal *j, guint limit, gsize max_bytes)
{
  if (BACKEND (j))
    return j->backend->history (j->impl, limit, max_bytes);
  gsize bytes = 0;
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (JqFinished));
  g_array_set_clear_func (rows, jq_finished_clear);
  if (j == NULL)
    return rows;
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2 (j->db,
      "SELECT " HISTORY_COLUMNS " FROM history ORDER BY number DESC LIMIT ?", -1, &st, NULL);
  sqlite3_bind_int (st, 1, (int) MIN (limit, (guint) G_MAXINT));
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      /* the texts, as stored; checked before they are copied */
      bytes += (gsize) sqlite3_column_bytes (st, 2)
               + (gsize) sqlite3_column_bytes (st, 9);
      if (rows->len > 0 && bytes > max_bytes)
        break;
      JqFinished f = row_finished (st);
      g_array_append_val (rows, f);
    }
  sqlite3_finalize (st);
  return rows;
}

guint
jq_journal_count_history (JqJournal *j)
{
  if (BACKEND (j))
    return j->backend->count_history (j->impl);
  if (j == NULL)
    return 0;
  sqlite3_stmt *st = NULL;
  guint n = 0;
  sqlite3_prepare_v2 (j->db, "SELECT count(*) FROM history", -1, &st, NULL);
  if (sqlite3_step (st) == SQLITE_ROW)
    n = (guint) sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  return n;
}

/* ------------------------------------------------ other stores */

JqJournal *
jq_journal_new_with_backend (const JqJournalBackend *backend, gpointer impl,
                             guint64 queue_id)
{
  JqJournal *j = g_new0 (JqJournal, 1);
  j->backend = backend;
  j->impl = impl;
  j->queue_id = queue_id;
  return j;
}

gpointer
jq_journal_get_backend_data (JqJournal *j)
{
  return BACKEND (j) ? j->impl : NULL;
}

void
jq_journal_set_reload_hook (JqJournal *j, JqJournalReload reload,
                            gpointer user_data)
{
  if (j == NULL)
    return;
  j->reload = reload;
  j->reload_data = user_data;
}

void
jq_journal_reload (JqJournal *j, gboolean full)
{
  if (j != NULL && j->reload != NULL)
    j->reload (j->reload_data, full);
}

gboolean
jq_journal_sync (JqJournal *j, gboolean full, JqJournalSyncFunc func,
                 gpointer user_data, JqSyncState *state, GError **error)
{
  if (BACKEND (j))
    return j->backend->sync (j->impl, full, func, user_data, state, error);
  return TRUE;
}

gboolean
jq_journal_list_running (JqJournal *j, GPtrArray *jobs, GArray *pids,
                         GArray *started_us)
{
  if (BACKEND (j))
    return j->backend->list_running (j->impl, jobs, pids, started_us);
  return TRUE;
}

JqRecordState
jq_journal_find_job (JqJournal *j, guint64 number)
{
  if (BACKEND (j))
    return j->backend->find_job (j->impl, number);
  return JQ_RECORD_NONE;
}
