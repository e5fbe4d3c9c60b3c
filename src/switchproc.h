/* The job queue servers running on this host, as bots-jobqueue-switch
 * must know them before it switches (from /proc; read only). */
#pragma once

#include <glib.h>

/* A Python process running one of Bots' server scripts of @folder
 * (bots-jobqueueserver or bots-jobqueueserver.py, or either with
 * @suffix): stopping it loses its queue (it keeps it in memory), so it
 * must be stopped first.  Its process id, or 0. */
int jq_switchproc_python_server (const char *folder, const char *suffix);

/* A process of our @server program running for the bots package
 * @botspath (its BOTS_DIR or BOTS_JOBQUEUE_BOTSPATH; nullable: unknown).
 * Its process id, or 0.  Warns on stderr about one it cannot tell
 * (without either variable, or @botspath unknown). */
int jq_switchproc_our_server (const char *server, const char *botspath);
