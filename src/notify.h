/* Telling the service manager how the server is doing (systemd's
 * sd_notify protocol).  Every function does nothing when the program was
 * built without libsystemd or when not started by a service manager. */
#pragma once

#include <glib.h>

/* Whether this build can notify at all. */
gboolean jq_notify_supported (void);

/* READY=1 with a status line. */
void jq_notify_ready (const char *status);

/* A new status line ("running job 42, 3 waiting"), shown by
 * systemctl status. */
void jq_notify_status (const char *status);

/* STOPPING=1. */
void jq_notify_stopping (void);

/* The watchdog interval the service manager asked for, in microseconds;
 * 0 when there is none.  Send jq_notify_watchdog() at about half of it. */
guint64 jq_notify_watchdog_interval (void);
void jq_notify_watchdog (void);
