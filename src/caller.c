/* Who made a call (caller.h). */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "caller.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* Names looked up in the last LABEL_TTL_S seconds: a user database
 * look-up costs about 25 us ("files" and systemd's), twice the uid's
 * own look-up; a renamed user shows under the new name within a minute. */
#define LABEL_TTL_S 60
#define LABEL_CACHE_MAX 256

typedef struct {
  char   label[96];
  gint64 looked_us;      /* monotonic */
} CachedLabel;

static GMutex labels_lock;
static GHashTable *labels;   /* GUINT_TO_POINTER (uid) -> CachedLabel */

static void
look_up_label (uid_t uid, char *out, gsize size)
{
  /* A name from a directory service could hold anything: only a plain
   * one goes into the log, else the number. */
  static const char plain[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$@";
  struct passwd pw, *found = NULL;
  char buf[1024];
  if (getpwuid_r (uid, &pw, buf, sizeof buf, &found) == 0 && found != NULL
      && found->pw_name[0] != '\0' && strlen (found->pw_name) < 64
      && strspn (found->pw_name, plain) == strlen (found->pw_name))
    g_snprintf (out, size, "user %s", found->pw_name);
  else
    g_snprintf (out, size, "uid %u", (unsigned) uid);
}

static void
user_label (uid_t uid, char *out, gsize size)
{
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&labels_lock);
  if (labels == NULL)
    labels = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  CachedLabel *c = g_hash_table_lookup (labels, GUINT_TO_POINTER (uid));
  if (c != NULL && now - c->looked_us < LABEL_TTL_S * G_USEC_PER_SEC)
    {
      g_strlcpy (out, c->label, size);
      g_mutex_unlock (&labels_lock);
      return;
    }
  g_mutex_unlock (&labels_lock);
  CachedLabel fresh = { "", now };
  look_up_label (uid, fresh.label, sizeof fresh.label);
  g_strlcpy (out, fresh.label, size);
  g_mutex_lock (&labels_lock);
  if (g_hash_table_size (labels) >= LABEL_CACHE_MAX)
    g_hash_table_remove_all (labels);   /* bounded whatever the uids */
  g_hash_table_replace (labels, GUINT_TO_POINTER (uid),
                        g_memdup2 (&fresh, sizeof fresh));
  g_mutex_unlock (&labels_lock);
}

void
jq_caller_init (JqCaller *caller, gboolean known, uid_t uid,
                const char *address)
{
  memset (caller, 0, sizeof *caller);
  caller->known = known;
  caller->uid = known ? uid : (uid_t) -1;
  caller->own = known && uid == geteuid ();
  caller->admin = known && (uid == 0 || caller->own);
  if (!known)
    {
      g_snprintf (caller->label, sizeof caller->label,
                  "an unknown caller%s%s", address ? " at " : "",
                  address ? address : "");
      return;
    }
  user_label (uid, caller->label, sizeof caller->label);
}

void
jq_caller_init_self (JqCaller *caller)
{
  jq_caller_init (caller, TRUE, geteuid (), NULL);
}

const char *
jq_caller_suffix (const JqCaller *caller, gboolean bots_line, char *buf,
                  gsize size)
{
  if (caller == NULL || (bots_line && caller->own))
    return "";
  g_snprintf (buf, size, " (by %s)", caller->label);
  return buf;
}
