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

/* The process listening on TCP port @port (any local address, IPv4 or
 * IPv6), from /proc/net/tcp and tcp6 and the sockets in /proc/PID/fd.
 * Its process id, or 0; *@argv0 (nullable) gets the first word of its
 * command line. */
int jq_switchproc_listener (guint port, char **argv0);

/* Whether process @pid runs the program @path. */
gboolean jq_switchproc_is_program (int pid, const char *path);
