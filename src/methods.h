/* The Bots job queue's XML-RPC methods (PROTOCOL.md): a request body in,
 * the XML of its answer out, whatever HTTP carried it.  Thread-safe: the
 * HTTP server (rpc.c) calls it from many threads at once. */
#pragma once

#include <glib.h>

#include "caller.h"
#include "cluster.h"
#include "door.h"
#include "log.h"
#include "scheduler.h"
#include "status.h"
#include "message.h"
#include "xmlwriter.h"

/* Largest request body accepted. */
#define JQ_METHODS_MAX_BODY   (1024 * 1024)
/* history answers hold rows of at most this many bytes of tasks and
 * start errors in all, newest first (doc/admin-api.md). */
#define JQ_METHODS_HISTORY_MAX_BYTES (16 * 1024 * 1024)

typedef struct _JqMethods JqMethods;

/* Methods call into @scheduler only through @door.  All three must
 * outlive the object. */
JqMethods *jq_methods_new (JqScheduler *scheduler, JqDoor *door, JqLog *log);

/* At most @max_blocked wait() calls block at once; beyond them wait()
 * answers at once with the job's state, as with timeout 0.  Without this
 * call any number may block. */
void jq_methods_set_max_blocked_waits (JqMethods *m, guint max_blocked);

/* With @bots3 (a Bots 3 installation), addjob answers only what Bots 3's
 * callers can show (PROTOCOL section 2): 0 for a job that is in the
 * queue, 4 for a duplicate, and 1 for everything that queued nothing
 * (empty, not authorized, queue full, journal fault, bad arguments),
 * never 2, 3 or a fault; the log says why.  submit() always gives the
 * true answer; our own clients call it.  Default: FALSE (Bots 4's codes
 * and faults).  Call before serving. */
void jq_methods_set_bots3_answers (JqMethods *m, gboolean bots3);

/* status() also shows @cluster's leader and members (borrowed,
 * nullable).  Call before serving. */
void jq_methods_set_cluster (JqMethods *m, JqCluster *cluster);

/* Counts calls into @status's metrics (borrowed).  Call before serving. */
void jq_methods_set_status (JqMethods *m, JqStatus *status);

/* Answers one request body of @caller with the XML of its response: a
 * methodResponse or a fault (code 1, as Python's server gives).  Never
 * fails. */
GBytes *jq_methods_process (JqMethods *m, const JqCaller *caller,
                            const char *body, gsize len);

/* The same, writing a large answer (listjobs, history) as it is produced
 * instead of whole: each JQ_MESSAGE_FLUSH_BYTES of it goes to @flush
 * (message.h) as it is ready, the loop giving listjobs the queue page by
 * page.  Returns the answer when it stayed below that and @flush was
 * never called; otherwise NULL, every byte having gone to @flush, and
 * *@broken (nullable) TRUE when the answer was cut short (the server
 * stopping): the connection must end without it being finished. */
GBytes *jq_methods_process_streamed (JqMethods *m, const JqCaller *caller,
                                     const char *body, gsize len,
                                     JqMessageFlush flush,
                                     gpointer flush_data, gboolean *broken);

/* wait() calls give their answer now, and later ones at once. */
void jq_methods_stop (JqMethods *m);

void jq_methods_free (JqMethods *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqMethods, jq_methods_free)
