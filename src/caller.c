/* Who made a call (caller.h). */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "caller.h"

#include <grp.h>
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

gboolean
jq_caller_may_steer (const JqCaller *caller, guint32 owner)
{
  return caller == NULL || caller->admin
         || (caller->known && owner != G_MAXUINT32
             && (guint32) caller->uid == owner);
}

struct _JqAdmins {
  GArray  *uids;          /* uid_t */
  gboolean has_group;
  gid_t    gid;
};

JqAdmins *
jq_admins_new (const char *const *users, const char *group, GString *unknown)
{
  JqAdmins *a = g_new0 (JqAdmins, 1);
  a->uids = g_array_new (FALSE, FALSE, sizeof (uid_t));
  char buf[4096];
  for (gsize i = 0; users != NULL && users[i] != NULL; i++)
    {
      struct passwd pw, *found = NULL;
      if (getpwnam_r (users[i], &pw, buf, sizeof buf, &found) == 0
          && found != NULL)
        g_array_append_val (a->uids, found->pw_uid);
      else if (unknown != NULL)
        g_string_append_printf (unknown, "%suser %s",
                                unknown->len ? ", " : "", users[i]);
    }
  struct group gr, *found_group = NULL;
  if (group != NULL
      && getgrnam_r (group, &gr, buf, sizeof buf, &found_group) == 0
      && found_group != NULL)
    {
      a->has_group = TRUE;
      a->gid = found_group->gr_gid;
    }
  else if (group != NULL && unknown != NULL)
    g_string_append_printf (unknown, "%sgroup %s", unknown->len ? ", " : "",
                            group);
  return a;
}

/* Whether user @uid is in group @gid, as the databases say now. */
static gboolean
in_group (uid_t uid, gid_t gid)
{
  struct passwd pw, *found = NULL;
  char buf[4096];
  if (getpwuid_r (uid, &pw, buf, sizeof buf, &found) != 0 || found == NULL)
    return FALSE;
  if (found->pw_gid == gid)
    return TRUE;
  int n = 64;
  g_autofree gid_t *groups = g_new (gid_t, n);
  if (getgrouplist (found->pw_name, found->pw_gid, groups, &n) < 0)
    {
      groups = g_renew (gid_t, groups, n);
      if (getgrouplist (found->pw_name, found->pw_gid, groups, &n) < 0)
        return FALSE;
    }
  for (int i = 0; i < n; i++)
    if (groups[i] == gid)
      return TRUE;
  return FALSE;
}

gboolean
jq_admins_include (const JqAdmins *admins, uid_t uid)
{
  if (admins == NULL)
    return FALSE;
  for (guint i = 0; i < admins->uids->len; i++)
    if (g_array_index (admins->uids, uid_t, i) == uid)
      return TRUE;
  return admins->has_group && in_group (uid, admins->gid);
}

void
jq_admins_free (JqAdmins *admins)
{
  if (admins == NULL)
    return;
  g_array_unref (admins->uids);
  g_free (admins);
}
