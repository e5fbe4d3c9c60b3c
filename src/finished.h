/* A finished job: how it ended.  One type, filled by the runner (or by
 * the scheduler for a job that could not start), stored by the journal,
 * and read by wait(), history() and the status page. */
#pragma once

#include <glib.h>

#include "job.h"

typedef struct {
  guint64            number;
  int                priority;
  const char *const *argv;
  gint64             queued_us;      /* wall clock, unix microseconds */
  gint64             started_us;     /* 0 when it never started */
  gint64             ended_us;
  int                exit_code;      /* Python's convention: -N when
                                      * killed by signal N; 0 when it
                                      * never started */
  int                term_signal;    /* 0 unless killed by a signal */
  gboolean           hit_maxruntime;
  const char        *start_error;    /* NULL unless it could not start */
} JqFinished;

/* @job's part of the record (number, priority, argv borrowed from @job,
 * queued_us); the rest zero. */
JqFinished jq_finished_of (const JqJob *job);

/* Deep copy: argv and start_error owned by the copy; free with
 * jq_finished_free. */
JqFinished *jq_finished_copy (const JqFinished *f);
void jq_finished_free (JqFinished *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqFinished, jq_finished_free)

/* Frees the strings of a record that owns them (a GArray's clear func). */
void jq_finished_clear (gpointer f);
