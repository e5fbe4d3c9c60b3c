/* A job: its number, priority, task (argv), when it was queued and by whom.
 *
 * A job is shared by the queue while it waits, by the runner while it
 * runs and by answers being written on other threads, so it is
 * refcounted atomically; its number, argv, queue time and owner never
 * change once it is out of the queue's hands, which is what lets another
 * thread read it without a lock.  Pure: GLib only. */
#pragma once

#include <glib.h>

typedef struct _JqJob JqJob;

/* A new job with one reference; @argv (not NULL) is copied.  Its owner
 * is JQ_JOB_NO_OWNER and it is not at the head of its priority. */
JqJob *jq_job_new (guint64 number, int priority, const char *const *argv,
                   gint64 queued_us);
JqJob *jq_job_ref (JqJob *job);
/* Drops a reference; the last one frees the job.  NULL is ignored. */
void jq_job_unref (JqJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqJob, jq_job_unref)

guint64 jq_job_get_number (const JqJob *job);
int jq_job_get_priority (const JqJob *job);
const char *const *jq_job_get_argv (const JqJob *job);
gint64 jq_job_get_queued_us (const JqJob *job);   /* wall clock, unix us */

/* The uid that queued the job (journaled with it); a new job has
 * JQ_JOB_NO_OWNER, as have jobs of a journal older than owners.  Set it
 * with jq_queue_set_owner() while the job waits (the queue counts each
 * owner's jobs). */
#define JQ_JOB_NO_OWNER G_MAXUINT32
void jq_job_set_owner (JqJob *job, guint32 uid);
guint32 jq_job_get_owner (const JqJob *job);

/* Whether the job runs before every other of its priority: a job that
 * was running when the server stopped, put back by recovery. */
gboolean jq_job_is_at_head (const JqJob *job);

/* For queue.c only, which keeps its order right around them: a waiting
 * job's new priority and the head flag of a job being put back. */
void jq_job_set_priority (JqJob *job, int priority);
void jq_job_set_at_head (JqJob *job, gboolean at_head);
