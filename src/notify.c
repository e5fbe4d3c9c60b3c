/* sd_notify, when libsystemd was there at build time.
 *
 * libsystemd is loaded with dlopen() only when a service manager asked for
 * notifications (NOTIFY_SOCKET is set): it and the libraries it needs
 * (libgcrypt, liblzma, libzstd, ...) add about 1 MB to the resident size,
 * which a server started any other way should not pay. */
#include "build-config.h"

#include "notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <dlfcn.h>
#include <systemd/sd-daemon.h>

typedef int (*NotifyFunc) (int unset_environment, const char *state);
typedef int (*WatchdogFunc) (int unset_environment, uint64_t *usec);

static NotifyFunc   notify_func;
static WatchdogFunc watchdog_func;

gboolean jq_notify_supported (void) { return TRUE; }

/* Whether libsystemd is loaded; loads it on the first call that finds
 * NOTIFY_SOCKET set.  Main thread only, as every caller is. */
static gboolean
notify_load (void)
{
  static gboolean tried;
  if (notify_func != NULL || tried || g_getenv ("NOTIFY_SOCKET") == NULL)
    return notify_func != NULL;
  tried = TRUE;
  void *lib = dlopen ("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_warning ("cannot notify the service manager: %s", dlerror ());
      return FALSE;
    }
  /* The header's prototypes must match our pointer types. */
  G_GNUC_UNUSED NotifyFunc notify_checked = sd_notify;
  G_GNUC_UNUSED WatchdogFunc watchdog_checked = sd_watchdog_enabled;
  NotifyFunc notify = (NotifyFunc) dlsym (lib, "sd_notify");
  WatchdogFunc watchdog = (WatchdogFunc) dlsym (lib, "sd_watchdog_enabled");
  if (notify == NULL || watchdog == NULL)
    return FALSE;
  notify_func = notify;
  watchdog_func = watchdog;
  return TRUE;
}

static void
notify_send (const char *state)
{
  if (notify_load ())
    notify_func (0, state);
}

guint64
jq_notify_watchdog_interval (void)
{
  uint64_t usec = 0;
  return notify_load () && watchdog_func (0, &usec) > 0 ? usec : 0;
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
