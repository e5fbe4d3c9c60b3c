/* What ended: the recent finished jobs in memory, in front of the
 * journal's history; the jobs that left without running ("gone");
 * look-ups that fall through to the journal; seeding at start; pruning
 * of the journal's history.  The one owner of finished jobs: wait(),
 * history(), status() and the status page all read here.  Main loop
 * thread only (a record, once made, may be read on any thread). */
#pragma once

#include <glib.h>

#include "events.h"
#include "finished.h"
#include "journal.h"

/* Ended jobs kept in memory, newest kept: the status page's 24-hour
 * timeline shows at most this many, and wait() on any of them reads no
 * journal (without one, durability "none", this is all there is). */
#define JQ_HISTORY_KEEP 2000
/* Numbers of jobs that left without running, remembered for wait(); the
 * set is emptied when it grows past this many. */
#define JQ_HISTORY_GONE_MAX 10000
/* Characters of a task kept in memory (JqEnded): what the status page
 * shows of it.  A task may hold 64 KiB; JQ_HISTORY_KEEP whole ones would
 * hold 128 MB. */
#define JQ_HISTORY_TASK_CHARS 300

/* One ended job as kept in memory.  Immutable once made and shared by
 * reference (atomic), so that a snapshot can be read on another thread.
 * @finished.argv is the task cut to JQ_HISTORY_TASK_CHARS characters
 * (jq_history_cut_task), in valid UTF-8; the whole task's size is in
 * @task_bytes and @task_arguments. */
typedef struct {
  JqFinished finished;     /* owns argv and start_error */
  gsize      task_bytes;   /* the whole task's arguments' bytes */
  gsize      task_arguments;
  gboolean   task_cut;     /* argv is not the whole task */
} JqEnded;

JqEnded *jq_ended_ref (JqEnded *e);
void jq_ended_unref (JqEnded *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqEnded, jq_ended_unref)

/* @argv as shown: at most @max_chars characters, where each separator
 * between two arguments counts one, every argument made valid UTF-8
 * (invalid bytes become U+FFFD) and the last shown one cut at a character.
 * *@cut (nullable) says whether anything was left out.  Reads at most
 * @max_chars * 4 + 4 bytes of each argument.  New vector. */
char **jq_history_cut_task (const char *const *argv, glong max_chars,
                            gboolean *cut);

typedef struct _JqHistory JqHistory;

/* Over @journal (never NULL; the null store keeps nothing), which must
 * outlive it.  Seeds the memory from the journal's last JQ_HISTORY_KEEP
 * finished jobs, so that a restart does not blank the page. */
JqHistory *jq_history_new (JqJournal *journal);
void jq_history_free (JqHistory *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqHistory, jq_history_free)

/* Job @f->number ended (ran, or could not start): kept in memory, the
 * oldest beyond JQ_HISTORY_KEEP forgotten.  The journal is written by
 * the scheduler, in its transaction, not here. */
void jq_history_add (JqHistory *h, const JqFinished *f);

/* Job @number left the queue without running (removed, cleared, taken by
 * getjob). */
void jq_history_add_gone (JqHistory *h, guint64 number);

/* A JqObserver (events.h) for @history: an end (FINISHED, START_FAILED)
 * is added, a GONE job noted; after CHANGED_ELSEWHERE the next
 * jq_history_recent first adds the ends another
 * server recorded in the journal, so that every server of a cluster
 * shows the same timeline.  The scheduler subscribes it first. */
void jq_history_observe (const JqEvent *event, gpointer history);

/* Finished job @number: from memory, else from the journal's history
 * (new record, free with jq_finished_free; the task may be cut when it
 * comes from memory), or NULL when neither knows it. */
JqFinished *jq_history_find (JqHistory *h, guint64 number);

/* Whether job @number left without running (as far as memory goes). */
gboolean jq_history_is_gone (JqHistory *h, guint64 number);

/* The ended jobs in memory that ended at or after @since_us, oldest end
 * first (new array of references). */
GPtrArray *jq_history_recent (JqHistory *h, gint64 since_us);

/* The @limit most recent finished jobs, newest first, whole, as
 * jq_journal_history() reads them (empty without a journal). */
GArray *jq_history_list (JqHistory *h, guint limit, gsize max_bytes);

/* Deletes the journal's history older than @days days, in small steps
 * at low priority, now and every hour; 0 keeps everything.  Until
 * jq_history_free. */
void jq_history_prune_every_hour (JqHistory *h, guint days);
