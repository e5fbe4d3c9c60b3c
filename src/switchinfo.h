/* What bots-jobqueue-switch says about an installation: where its
 * bots.ini, botssys and usersys are, its port, and what bots-jobqueue's
 * journal in botssys/jobqueue holds (jobs waiting, a pause). */
#pragma once

#include <glib.h>

typedef struct {
  char     *error;          /* why the rest is unknown; NULL: known */
  char     *config_dir;
  char     *botssys;        /* absolute, links resolved when it exists */
  char     *usersys;        /* absolute ([directories] usersys) */
  char     *state_dir;      /* botssys/jobqueue */
  char     *journal_path;   /* state_dir/queue.db */
  guint     port;
  int       major;          /* Bots 3 or 4; 0: unknown */
  gboolean  postgresql;     /* the queue is in PostgreSQL, not here */
  gboolean  state_exists;   /* state_dir is there */
  char     *journal_error;  /* the journal exists but cannot be read */
  guint     waiting;        /* jobs waiting in the journal */
  guint     running;        /* jobs it holds as running (run again at start) */
  gboolean  paused;
  char    **tasks;          /* the first waiting tasks, as Python prints them */
} JqSwitchInfo;

/* Learns it for the bots package @botspath, reading as the owner of
 * that folder (never as root unless all of it is root's: runas.h), the
 * config found as Bots finds it from that user's HOME.  Never NULL;
 * ->error says what could not be learnt. */
JqSwitchInfo *jq_switchinfo_read (const char *botspath);

void jq_switchinfo_free (JqSwitchInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JqSwitchInfo, jq_switchinfo_free)
