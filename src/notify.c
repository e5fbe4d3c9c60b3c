/* sd_notify, when libsystemd was there at build time. */
#include "build-config.h"

#include "notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

gboolean jq_notify_supported (void) { return TRUE; }

static void
notify_send (const char *state)
{
  sd_notify (0, state);
}

guint64
jq_notify_watchdog_interval (void)
{
  uint64_t usec = 0;
  return sd_watchdog_enabled (0, &usec) > 0 ? usec : 0;
}
#else
gboolean jq_notify_supported (void) { return FALSE; }
static void notify_send (const char *state) { (void) state; }
guint64 jq_notify_watchdog_interval (void) { return 0; }
#endif

void
jq_notify_ready (const char *status)
{
  g_autofree char *state = g_strdup_printf ("READY=1\nSTATUS=%s", status);
  notify_send (state);
}

void
jq_notify_status (const char *status)
{
  g_autofree char *state = g_strdup_printf ("STATUS=%s", status);
  notify_send (state);
}

void
jq_notify_stopping (void)
{
  notify_send ("STOPPING=1");
}

void
jq_notify_watchdog (void)
{
  notify_send ("WATCHDOG=1");
}
