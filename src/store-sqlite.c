/* The SQLite store: the journal in one file (WAL mode), the default.
 *
 * Schema (PRAGMA user_version 2, application_id "Bots").  If you change
 * it, you MUST bump JQ_JOURNAL_VERSION, keep reading every older
 * version a user may still have (upgrade it in check_file(), in place),
 * and add tests/data/journal-vN.sql, dumped from a file the new version
 * wrote, to the stored-file tests (test_journal.c, test_store.c); the
 * older ones stay.
 *   jobs(number, priority, argv BLOB, task TEXT, queued_us, state,
 *        at_head, started_us, pid, owner)   -- waiting and running jobs
 *        (owner: the uid that queued it, NULL when unknown; format 2
 *        added it: a format 1 file gets the column, empty, when opened)
 *   history(number, priority, argv, task, queued_us, started_us,
 *        ended_us, exit_code, signal, maxruntime_hit, start_error)
 *   meta(key, value)                 -- next_number, paused, queue_id...
 *        (next_number is a floor: the next number is the higher of it
 *        and the highest job's number + 1; see sqlite_set_meta)
 * argv is stored as store-record.h says (exact, any bytes); task is the
 * same as Python prints it, for people reading the file with the sqlite3
 * tool.  Nothing is ever deleted or rewritten when the file is not what
 * we expect. */
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
#include "store-record.h"
#include "task.h"

#define APPLICATION_ID 0x426f7473   /* "Bots" */

enum {
  ST_ADD, ST_PRIORITY, ST_START, ST_REMOVE, ST_CLEAR, ST_META, ST_HISTORY,
  ST_REQUEUE, ST_DISOWN, N_STATEMENTS
};

static const char *const statement_sql[N_STATEMENTS] = {
  [ST_ADD] = "INSERT INTO jobs (number, priority, argv, task, queued_us, "
             "state, at_head, owner) "
             "VALUES (?, ?, ?, ?, ?, 'waiting', 0, ?)",
  [ST_PRIORITY] = "UPDATE jobs SET priority = ? WHERE number = ?",
  [ST_START] = "UPDATE jobs SET state = 'running', started_us = ?, pid = ? "
               "WHERE number = ?",
  [ST_REMOVE] = "DELETE FROM jobs WHERE number = ?",
  [ST_CLEAR] = "DELETE FROM jobs WHERE state = 'waiting'",
  [ST_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
  [ST_HISTORY] = "INSERT OR REPLACE INTO history ("
                 JQ_RECORD_HISTORY_INSERT ") "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [ST_REQUEUE] = "UPDATE jobs SET state = 'waiting', at_head = 1 "
                 "WHERE number = ?",
  [ST_DISOWN] = "UPDATE jobs SET owner = NULL WHERE number = ?",
};

typedef struct {
  sqlite3        *db;
  char           *path;
  sqlite3_stmt   *statements[N_STATEMENTS];
  guint64         queue_id;       /* random, made with the file */
  gint64          file_version;   /* user_version found; 0: a new file */
  sqlite3_int64   changes_at_begin; /* a commit that wrote nothing is not timed */
  struct stat     file_id;        /* st_dev/st_ino of queue.db at open */
  struct stat     wal_id;         /* ... and of queue.db-wal; st_ino 0
                                   * when there was none */
  gboolean        sync_commits;   /* durability full: a commit waits for
                                   * the disk */
  gboolean        unsynced;       /* commits since the last sync */
  guint64         highest_added;  /* the highest job this connection added,
                                   * while its row is known to be in jobs
                                   * (0: none) */
  gint64          next_unwritten; /* a next_number its row shows, not
                                   * written (0: none) */
} Sqlite;

static gboolean
exec_sql (Sqlite *j, const char *sql, GError **error)
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
set_unreadable (Sqlite *j, GError **error)
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
pragma_int (Sqlite *j, const char *pragma, gint64 *out, GError **error)
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
check_file (Sqlite *j, GError **error)
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
  j->file_version = version;
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
create_schema (Sqlite *j, GError **error)
{
  /* Format 1 had no owners: its jobs get NULL, "unknown". */
  const char *upgrade = j->file_version == 1
                        ? "ALTER TABLE jobs ADD COLUMN owner INTEGER;" : "";
  g_autofree char *sql = g_strdup_printf (
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,"
    "  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),"
    "  at_head INTEGER NOT NULL DEFAULT 0, started_us INTEGER, pid INTEGER,"
    "  owner INTEGER);"
    "%s"
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
    "COMMIT;", upgrade, APPLICATION_ID, JQ_JOURNAL_VERSION);
  return exec_sql (j, sql, error);
}

static void
set_write_error (Sqlite *j, const char *what, GError **error)
{
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
               "cannot write journal %s (%s): %s", j->path, what,
               sqlite3_errmsg (j->db));
}

/* Runs one prepared statement with its values bound by the caller. */
static gboolean
run (Sqlite *j, int which, const char *what, GError **error)
{
  sqlite3_stmt *st = j->statements[which];
  gboolean ok = sqlite3_step (st) == SQLITE_DONE;
  if (!ok)
    set_write_error (j, what, error);
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  return ok;
}

static gboolean
write_meta (Sqlite *j, const char *key, gint64 value, GError **error)
{
  sqlite3_stmt *st = j->statements[ST_META];
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, value);
  return run (j, ST_META, key, error);
}

/* The next number after an add is not written: loading takes the higher
 * of the stored one and the highest job's number + 1, and the added job's
 * row shows it.  Rewriting it at each add's commit wrote two pages more
 * (the meta table's and its key's index), three WAL frames instead of one,
 * and the sync that an add waits for grows with what it writes (issue 23,
 * doc/performance.md).  It is written before a job's row leaves the jobs
 * table (flush_next_number), in the same transaction, so that a number is
 * never given twice. */
static gboolean
sqlite_set_meta (gpointer store, const char *key, gint64 value,
                 GError **error)
{
  Sqlite *j = store;
  if (strcmp (key, "next_number") == 0 && j->highest_added > 0
      && value > 0 && (guint64) value <= j->highest_added + 1)
    {
      j->next_unwritten = MAX (j->next_unwritten, value);
      return TRUE;
    }
  if (strcmp (key, "next_number") == 0 && value >= j->next_unwritten)
    j->next_unwritten = 0;
  return write_meta (j, key, value, error);
}

/* Before a job's row is deleted, the next number its row showed is
 * written (sqlite_set_meta). */
static gboolean
flush_next_number (Sqlite *j, GError **error)
{
  j->highest_added = 0;
  if (j->next_unwritten == 0)
    return TRUE;
  if (!write_meta (j, "next_number", j->next_unwritten, error))
    return FALSE;
  j->next_unwritten = 0;
  return TRUE;
}

static gint64
sqlite_get_meta (gpointer store, const char *key, gint64 fallback,
                 GError **error)
{
  Sqlite *j = store;
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

/* The queue's identity marks its jobs (jobmark.h); it is made once, so
 * that a restarted server recognises the jobs of the one before. */
static gboolean
load_queue_id (Sqlite *j, GError **error)
{
  j->queue_id = (guint64) sqlite_get_meta (j, "queue_id", 0, NULL);
  if (j->queue_id != 0)
    return TRUE;
  j->queue_id = jq_journal_new_queue_id ();
  g_autofree char *sql = g_strdup_printf (
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('queue_id', %"
      G_GINT64_FORMAT ")", (gint64) j->queue_id);
  return exec_sql (j, sql, error);
}

static guint busy_timeout_ms = JQ_JOURNAL_BUSY_MS;

void
jq_journal_set_busy_timeout (guint ms)
{
  busy_timeout_ms = ms;
}

static void
sqlite_close (gpointer store)
{
  Sqlite *j = store;
  if (j == NULL)
    return;
  for (int i = 0; i < N_STATEMENTS; i++)
    sqlite3_finalize (j->statements[i]);
  sqlite3_close (j->db);
  g_free (j->path);
  g_free (j);
}

static gboolean
sqlite_begin (gpointer store, GError **error)
{
  Sqlite *j = store;
  j->changes_at_begin = sqlite3_total_changes64 (j->db);
  if (sqlite3_exec (j->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
    return TRUE;
  set_write_error (j, "begin", error);
  return FALSE;
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
static gboolean
check_identity (Sqlite *j, GError **error)
{
  if (j->file_id.st_ino == 0)
    return TRUE;
  g_autofree char *wal = g_strconcat (j->path, "-wal", NULL);
  if (same_file (j->path, &j->file_id)
      && (j->wal_id.st_ino == 0 || same_file (wal, &j->wal_id)))
    return TRUE;
  g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
               "journal %s was deleted or replaced while the server ran; "
               "nothing more can be saved in it", j->path);
  return FALSE;
}

/* Commits into the WAL file without waiting for the disk (synchronous
 * is NORMAL): a kill of the server loses nothing of it, a power loss
 * may, until sqlite_sync. */
static gboolean
sqlite_commit_unsynced (gpointer store, gboolean *wrote, GError **error)
{
  Sqlite *j = store;
  if (!check_identity (j, error))
    return FALSE;
  if (sqlite3_exec (j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    {
      set_write_error (j, "commit", error);
      return FALSE;
    }
  *wrote = sqlite3_total_changes64 (j->db) != j->changes_at_begin;
  j->unsynced |= *wrote;
  return TRUE;
}

/* Waits for the disk to hold every commit so far: one fdatasync() of
 * the WAL, through SQLite's own file.  The WAL is written in order and
 * each frame is checksummed, so after a power loss it holds a prefix of
 * the commits: syncing it now also covers the unsynced commits before.
 * This is what synchronous = FULL does at each commit in WAL mode; done
 * here, a commit of job moves can leave it for later
 * (jq_journal_commit_moves). */
static gboolean
sqlite_sync (gpointer store, GError **error)
{
  Sqlite *j = store;
  if (!j->sync_commits || !j->unsynced)
    return TRUE;
  sqlite3_file *wal = NULL;
  int rc = sqlite3_file_control (j->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
                                 &wal);
  if (rc == SQLITE_OK && wal != NULL && wal->pMethods != NULL)
    rc = wal->pMethods->xSync (wal, SQLITE_SYNC_NORMAL);
  else
    rc = sqlite3_wal_checkpoint_v2 (j->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                    NULL, NULL);   /* syncs the WAL first */
  if (rc != SQLITE_OK)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot write journal %s (sync): %s", j->path,
                   sqlite3_errstr (rc));
      return FALSE;
    }
  j->unsynced = FALSE;
  return TRUE;
}

static gboolean
sqlite_commit (gpointer store, gboolean *wrote, GError **error)
{
  return sqlite_commit_unsynced (store, wrote, error)
         && sqlite_sync (store, error);
}

static void
sqlite_rollback (gpointer store)
{
  Sqlite *j = store;
  if (sqlite3_get_autocommit (j->db) == 0)
    sqlite3_exec (j->db, "ROLLBACK", NULL, NULL, NULL);
  /* The rows added may be gone: until the next add, the next number is
   * written.  A number whose add was rolled back (its caller got a fault)
   * may be given again after a restart, as when the stored one was. */
  j->highest_added = 0;
}

static void
bind_argv (sqlite3_stmt *st, int argv_col, int task_col,
           const char *const *argv)
{
  g_autoptr (GBytes) packed = jq_record_pack_argv (argv);
  gsize size;
  const void *data = g_bytes_get_data (packed, &size);
  sqlite3_bind_blob (st, argv_col, data, (int) size, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, task_col, jq_task_repr (argv), -1, g_free);
}

static gboolean
sqlite_add (gpointer store, JqJob *job, GError **error)
{
  Sqlite *j = store;
  sqlite3_stmt *st = j->statements[ST_ADD];
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) jq_job_get_number (job));
  sqlite3_bind_int (st, 2, jq_job_get_priority (job));
  bind_argv (st, 3, 4, jq_job_get_argv (job));
  sqlite3_bind_int64 (st, 5, jq_job_get_queued_us (job));
  gint64 owner;
  if (jq_record_owner_value (job, &owner))
    sqlite3_bind_int64 (st, 6, owner);
  if (!run (j, ST_ADD, "add", error))
    return FALSE;
  j->highest_added = MAX (j->highest_added, jq_job_get_number (job));
  return TRUE;
}

static gboolean
sqlite_set_priority (gpointer store, guint64 number, int priority,
                     GError **error)
{
  Sqlite *j = store;
  sqlite3_stmt *st = j->statements[ST_PRIORITY];
  sqlite3_bind_int (st, 1, priority);
  sqlite3_bind_int64 (st, 2, (sqlite3_int64) number);
  return run (j, ST_PRIORITY, "priority", error);
}

static gboolean
sqlite_start (gpointer store, guint64 number, gint64 started_us, int pid,
              GError **error)
{
  Sqlite *j = store;
  sqlite3_stmt *st = j->statements[ST_START];
  sqlite3_bind_int64 (st, 1, started_us);
  sqlite3_bind_int (st, 2, pid);
  sqlite3_bind_int64 (st, 3, (sqlite3_int64) number);
  return run (j, ST_START, "start", error);
}

/* A statement whose only parameter is a job number. */
static gboolean
run_for_job (Sqlite *j, int which, guint64 number, const char *what,
             GError **error)
{
  sqlite3_bind_int64 (j->statements[which], 1, (sqlite3_int64) number);
  return run (j, which, what, error);
}

static gboolean
sqlite_remove (gpointer store, guint64 number, GError **error)
{
  return flush_next_number (store, error)
         && run_for_job (store, ST_REMOVE, number, "remove", error);
}

static gboolean
sqlite_disown (gpointer store, guint64 number, GError **error)
{
  return run_for_job (store, ST_DISOWN, number, "disown", error);
}

static gboolean
sqlite_requeue_at_head (gpointer store, guint64 number, GError **error)
{
  return run_for_job (store, ST_REQUEUE, number, "requeue", error);
}

static gboolean
sqlite_clear_waiting (gpointer store, GError **error)
{
  return flush_next_number (store, error)
         && run (store, ST_CLEAR, "clear", error);
}

static gboolean
sqlite_finish (gpointer store, const JqFinished *f, GError **error)
{
  Sqlite *j = store;
  if (!sqlite_remove (j, f->number, error))
    return FALSE;
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
  return run (j, ST_HISTORY, "history", error);
}

/* store-record.h's reader on a statement's current row. */
static gint64
column_integer (gpointer row, int column)
{
  return sqlite3_column_int64 (row, column);
}

static const char *
column_text (gpointer row, int column)
{
  return (const char *) sqlite3_column_text (row, column);
}

static const void *
column_bytes (gpointer row, int column, gsize *len)
{
  const void *data = sqlite3_column_blob (row, column);
  *len = (gsize) sqlite3_column_bytes (row, column);
  return data;
}

static const JqRecordReader reader = {
  column_integer, column_text, column_bytes,
};

static gboolean
sqlite_load (gpointer store, JqJournalJobFunc func, gpointer user_data,
             guint64 *next_number, GError **error)
{
  Sqlite *j = store;
  sqlite3_stmt *st = NULL;
  guint64 highest = 0;
  int rc = sqlite3_prepare_v2 (j->db, "SELECT " JQ_RECORD_JOB_COLUMNS
                               " FROM jobs ORDER BY number", -1, &st, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      jq_record_load_row (&reader, st, func, user_data, &highest);
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
  guint64 stored = (guint64) sqlite_get_meta (j, "next_number", 1, NULL);
  *next_number = jq_record_next_number (stored, highest);
  /* Added before a restart, the highest job's row may be the only place
   * that shows the next number (sqlite_set_meta): it is written before
   * the first row leaves, as this connection's own adds are.  Without
   * it, once that job had finished, the next start gave its number again
   * (an outside test). */
  if (*next_number > stored)
    j->next_unwritten = MAX (j->next_unwritten, (gint64) *next_number);
  return TRUE;
}

static guint
sqlite_prune_history (gpointer store, gint64 before_us, guint max_rows)
{
  Sqlite *j = store;
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

static JqFinished *
sqlite_find_finished (gpointer store, guint64 number, GError **error)
{
  Sqlite *j = store;
  sqlite3_stmt *st = NULL;
  JqFinished *found = NULL;
  sqlite3_prepare_v2 (j->db, "SELECT " JQ_RECORD_HISTORY_COLUMNS
                      " FROM history WHERE number = ?", -1, &st, NULL);
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) number);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      found = g_new (JqFinished, 1);
      *found = jq_record_finished (&reader, st, NULL);
    }
  sqlite3_finalize (st);
  return found;
}

static GArray *
sqlite_history (gpointer store, guint limit, gsize max_bytes,
                GError **error)
{
  Sqlite *j = store;
  gsize bytes = 0;
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (JqFinished));
  g_array_set_clear_func (rows, jq_finished_clear);
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2 (j->db, "SELECT " JQ_RECORD_HISTORY_COLUMNS
                      " FROM history ORDER BY number DESC LIMIT ?", -1, &st,
                      NULL);
  sqlite3_bind_int (st, 1, (int) MIN (limit, (guint) G_MAXINT));
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      /* the texts, as stored; checked before they are copied */
      bytes += (gsize) sqlite3_column_bytes (st, JQ_HISTORY_COL_ARGV)
               + (gsize) sqlite3_column_bytes (st,
                                               JQ_HISTORY_COL_START_ERROR);
      if (rows->len > 0 && bytes > max_bytes)
        break;
      JqFinished f = jq_record_finished (&reader, st, NULL);
      g_array_append_val (rows, f);
    }
  sqlite3_finalize (st);
  return rows;
}

static const JqStoreOps sqlite_ops = {
  .kind = "sqlite", .durable = TRUE, .can_recover = FALSE,
  JQ_STORE_FUNCTIONS (sqlite),
  .commit_unsynced = sqlite_commit_unsynced, .sync = sqlite_sync,
};

/* Opens (@real_path) and checks the database, then the schema and the
 * statements. */
static gboolean
open_database (Sqlite *j, const char *real_path, JqDurability durability,
               GError **error)
{
  if (sqlite3_open_v2 (real_path, &j->db, SQLITE_OPEN_READWRITE
                                          | SQLITE_OPEN_CREATE
                                          | SQLITE_OPEN_NOFOLLOW
                                          | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    {
      g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                   "cannot open journal %s: %s", j->path,
                   j->db ? sqlite3_errmsg (j->db) : "out of memory");
      return FALSE;
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
      /* FULL's sync at each commit is sqlite_sync's (durability full):
       * then a commit of job moves can leave it for later. */
      || !exec_sql (j, "PRAGMA synchronous = NORMAL", error)
      || !create_schema (j, error))
    return FALSE;
  for (int i = 0; i < N_STATEMENTS; i++)
    if (sqlite3_prepare_v3 (j->db, statement_sql[i], -1,
                            SQLITE_PREPARE_PERSISTENT, &j->statements[i],
                            NULL) != SQLITE_OK)
      {
        g_set_error (error, JQ_ERROR, JQ_ERROR_JOURNAL,
                     "journal %s: %s", j->path, sqlite3_errmsg (j->db));
        return FALSE;
      }
  return load_queue_id (j, error);
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
  Sqlite *j = g_new0 (Sqlite, 1);
  j->path = g_strdup (path);
  j->sync_commits = durability == JQ_DURABILITY_FULL;
  if (!open_database (j, real_path, durability, error))
    {
      sqlite_close (j);
      return NULL;
    }
  /* What the files are now: a commit into a file that was deleted or
   * replaced would answer 0 and be lost (see check_identity). */
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  if (g_stat (path, &j->file_id) != 0)
    memset (&j->file_id, 0, sizeof j->file_id);
  if (g_stat (wal, &j->wal_id) != 0)
    memset (&j->wal_id, 0, sizeof j->wal_id);
  return jq_journal_new (&sqlite_ops, j, j->path, j->queue_id);
}
