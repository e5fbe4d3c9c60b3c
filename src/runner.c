/* Job processes.
 *
 * Each job is started with vfork() and exec (spawn_job) and watched with
 * g_child_watch_add().  Not GSubprocess: it forgets the pid as soon as its
 * worker reaps the child, and a fast job can be reaped before we ask, while
 * the pid is what names the job's process group.  Not g_spawn_*(): a
 * process group needs a child_setup function, which forces GLib onto its
 * fork+exec path, measured at 3-4 ms per job here against well under one
 * for a vfork, and the launch gap is the point of this program.  Each job
 * leads its own group (so a timeout can stop everything the engine
 * started).  stdout and stderr are read through non-blocking fd watches
 * into bounded buffers; when the process is reaped the pipes are drained
 * once more, the output and the end are logged, and the owner is told at
 * once, so that the next job starts without delay.
 *
 * A job that a server before us left running (jq_runner_adopt) is held
 * in the same record (Proc) as the jobs we start, with the same timers
 * (maxruntime, the kill grace) and the same way to signal it; it differs
 * in how its end is seen (a pidfd: it is not our child), in having no
 * output to capture, and in not being ours to stop or count: a stop and
 * jq_runner_get_running() are about the jobs we started. */
#include "build-config.h"  /* first: it defines _GNU_SOURCE */

#include "runner.h"

#include "guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "jobmark.h"
#include "pyfloat.h"
#include "policy.h"
#include "task.h"

/* How often the server looks for orphans of its jobs to reap. */
#define ADOPT_INTERVAL_S 2
/* Adopted processes reaped by a child watch each, which holds a pidfd
 * while it waits: the rest are reaped by the adoption timer, so that a
 * job leaving hundreds of processes behind takes no descriptor apiece
 * (an outside test: 150 left behind under a limit of 128 descriptors left
 * none for connections).  The server's own 32 (fdbudget.h) hold these. */
#define WATCHED_ORPHANS_MAX 4

typedef struct {
  int      fd;              /* -1 once closed */
  int      held;            /* the write end, -1 once closed (below) */
  guint    watch_id;
  GString *kept;            /* first output_limit bytes */
  guint64  dropped;         /* bytes read beyond the limit */
} Capture;

/* A process the runner watches: a job it started (our child: a child
 * watch, its output captured), or a job a server before us left running
 * (not our child: watched through a pidfd, no output).  One record, one
 * set of timers (maxruntime, the kill grace), one way to signal. */
typedef struct {
  JqRunner    *runner;
  JqJob       *job;           /* owned reference; NULL for a left job */
  guint64      number;
  GPid         pid;
  int          pidfd;         /* a left job's; -1 for our child */
  guint        watch_id;      /* the child watch, or the pidfd's */
  gint64       started_us;
  gint64       started_mono_us;
  guint        timeout_id;    /* maxruntime */
  guint        kill_id;       /* SIGKILL after grace */
  gboolean     hit_maxruntime;
  gboolean     killed;        /* we sent it a signal: its tree goes too */
  Capture      out, err;      /* fd -1 and no buffer for a left job */
} Proc;

struct _JqRunner {
  JqLog           *log;
  JqRunnerSettings settings;
  JqRunnerHooks    hooks;
  GPtrArray       *procs;      /* Proc*, owned: our jobs and the left
                                * ones, in the order they were taken */
  guint            running;    /* of those, the jobs we started */
  GHashTable      *adopted;    /* pid -> child watch id, 0 when the
                                * timer reaps it: orphans of our jobs
                                * reparented to us (subreaper) */
  guint            watched_orphans; /* of those, with a child watch */
  GHashTable      *known;      /* pids seen marked as our jobs': once
                                * dead, a zombie's mark cannot be read */
  guint            adopt_id;   /* the timer looking for them */
  GHashTable      *marked;     /* job number -> pid: jobs of a server
                                * before us, read at the first find_left,
                                * dropped at the first start */
  JqGuardian      *guardian;   /* die_with_server: kills the jobs' groups
                                * when the server dies; NULL otherwise */
  guint            guardian_watch;  /* its child watch */
};

static gboolean
is_bots4 (JqRunner *runner)
{
  return jq_log_get_style (runner->log) == JQ_LOG_STYLE_BOTS4;
}

/* "[priority, number, task]": a job as Python prints Bots 4's job list. */
static char *
job_repr (JqJob *job)
{
  g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
  return g_strdup_printf ("[%d, %" G_GUINT64_FORMAT ", %s]",
                          jq_job_get_priority (job), jq_job_get_number (job),
                          task);
}

static void
capture_read (Capture *c, gsize limit)
{
  char buf[16384];

  while (c->fd >= 0)
    {
      ssize_t n = read (c->fd, buf, sizeof buf);
      if (n > 0)
        {
          gsize room = limit > c->kept->len ? limit - c->kept->len : 0;
          gsize keep = MIN ((gsize) n, room);
          g_string_append_len (c->kept, buf, keep);
          c->dropped += (gsize) n - keep;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      /* EOF or a real error: this stream is over.  Its watch is removed
       * by whoever called us. */
      close (c->fd);
      c->fd = -1;
    }
}

static gboolean
on_output (int fd, GIOCondition condition, gpointer user_data)
{
  Proc *r = user_data;
  Capture *c = fd == r->out.fd ? &r->out : &r->err;
  capture_read (c, r->runner->settings.output_limit);
  if (c->fd < 0)
    {
      c->watch_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Attaches a job's watch (@source, with its callback) to the loop,
 * marked as one that may recurse.  GLib takes a source's descriptors out
 * of the poll set while it dispatches it (so that a nested iteration of
 * the loop cannot dispatch it again) and puts them back after; each
 * change writes the loop's wake-up eventfd and rebuilds the poll set: two
 * system calls of every output read and of every job's end, on the path
 * from one job to the next (doc/performance.md).  No callback of the
 * runner's or its owner's iterates the loop, so there is no nesting to
 * guard against. */
static guint
attach_job_watch (GSource *source)
{
  g_source_set_can_recurse (source, TRUE);
  guint id = g_source_attach (source, NULL);
  g_source_unref (source);
  return id;
}

/* @fd is the read end of the job's pipe, @held its write end.  The
 * server keeps the write end open while the job runs, so that the pipe
 * reports no hang-up when the job exits: the job's end is then seen as
 * one event of the loop (its pidfd) instead of two (the pipes' hang-up,
 * which the kernel signals first when the process closes its files, then
 * its pidfd), a second wake-up of the loop in about a quarter of the
 * launches, on the path from one job to the next (doc/performance.md).
 * Nothing else changes: the output is read as it comes, and at the end,
 * once the write ends are closed, read to its end as before (or to what
 * is there when a process the job left behind still holds the pipe). */
static void
capture_init (Capture *c, Proc *r, int fd, int held)
{
  c->kept = g_string_new (NULL);
  c->fd = fd;
  c->held = held;
  g_unix_set_fd_nonblocking (c->fd, TRUE, NULL);
  GSource *source = g_unix_fd_source_new (c->fd,
                                          G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (source, G_SOURCE_FUNC (on_output), r, NULL);
  c->watch_id = attach_job_watch (source);
}

/* The job has ended: what it wrote is all in the pipe, which ends when
 * no process of the job holds it. */
static void
capture_let_go (Capture *c)
{
  if (c->held >= 0)
    close (c->held);
  c->held = -1;
}

static void
capture_close (Capture *c)
{
  g_clear_handle_id (&c->watch_id, g_source_remove);
  capture_let_go (c);
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
}

static void
proc_free (gpointer p)
{
  Proc *r = p;
  g_clear_handle_id (&r->timeout_id, g_source_remove);
  g_clear_handle_id (&r->kill_id, g_source_remove);
  g_clear_handle_id (&r->watch_id, g_source_remove);
  capture_close (&r->out);
  capture_close (&r->err);
  if (r->out.kept)
    g_string_free (r->out.kept, TRUE);
  if (r->err.kept)
    g_string_free (r->err.kept, TRUE);
  if (r->pidfd >= 0)
    close (r->pidfd);
  jq_job_unref (r->job);
  g_free (r);
}

/* A new record of @runner's, taken into its list. */
static Proc *
proc_new (JqRunner *runner, JqJob *job, guint64 number, GPid pid)
{
  Proc *r = g_new0 (Proc, 1);
  r->runner = runner;
  r->job = job != NULL ? jq_job_ref (job) : NULL;
  r->number = number;
  r->pid = pid;
  r->pidfd = -1;
  r->out.fd = r->err.fd = r->out.held = r->err.held = -1;
  g_ptr_array_add (runner->procs, r);
  if (job != NULL)
    runner->running++;
  return r;
}

/* Forgets @r (its process has ended): frees it. */
static void
proc_drop (Proc *r)
{
  JqRunner *runner = r->runner;
  if (r->job != NULL)
    runner->running--;
  g_ptr_array_remove (runner->procs, r);
}

/* A job's output on one stream, as the installation's own server logs
 * it.  Bots 4: at @level, a line separator then the text (each further
 * line indented, as every line of a record is).  Bots 3 drops it; ours
 * writes it when [jobqueue] log_job_output asks, headed by the job. */
static void
log_output (Proc *r, const char *name, Capture *c, JqLogLevel level)
{
  if (!r->runner->settings.log_output
      || (c->kept->len == 0 && c->dropped == 0))
    return;
  g_autofree char *text = g_utf8_make_valid (c->kept->str, c->kept->len);
  g_strchomp (text);
  g_autofree char *cut = c->dropped == 0 ? g_strdup ("")
    : g_strdup_printf ("\n[output cut after %" G_GSIZE_FORMAT " bytes; %"
                       G_GUINT64_FORMAT " more bytes not logged]",
                       c->kept->len, c->dropped);
  if (is_bots4 (r->runner))
    jq_log_write (r->runner->log, level, "\n%s%s", text, cut);
  else
    jq_log_write (r->runner->log, level, "Job %" G_GUINT64_FORMAT " %s:\n%s%s",
                  jq_job_get_number (r->job), name, text, cut);
}

/* What the installation's own server logs when a job has ended: its
 * output (above), Bots 4's error line for a non-zero exit, and the end
 * line with the elapsed seconds as Python prints a float. */
static void
log_end (Proc *r, int exit_code)
{
  JqRunner *runner = r->runner;
  gboolean bots4 = is_bots4 (runner);
  guint64 number = jq_job_get_number (r->job);

  log_output (r, "stdout", &r->out, bots4 ? JQ_LOG_STDOUT : JQ_LOG_INFO);
  log_output (r, "stderr", &r->err,
              exit_code != 0 ? JQ_LOG_ERROR
                             : bots4 ? JQ_LOG_STDERR : JQ_LOG_INFO);
  char elapsed[JQ_PY_FLOAT_MAX];
  jq_py_float_repr ((double) MAX (g_get_monotonic_time ()
                                  - r->started_mono_us, 0) / G_USEC_PER_SEC,
                    elapsed);
  if (!bots4)
    {
      jq_log_write (runner->log, JQ_LOG_INFO, "Finished job %"
                    G_GUINT64_FORMAT ", elapsed time %s, result %d",
                    number, elapsed, exit_code);
      return;
    }
  if (exit_code != 0)
    {
      g_autofree char *job = job_repr (r->job);
      jq_log_write (runner->log, JQ_LOG_ERROR, "job %s, exit with code %d",
                    job, exit_code);
    }
  jq_log_write (runner->log, JQ_LOG_DONE, "Finished job %" G_GUINT64_FORMAT
                ", elapsed time: %s, exit code %d", number, elapsed,
                exit_code);
}

/* Signals every process marked as this job's, wherever it went: a
 * descendant that called setsid() left the job's process group but kept
 * its environment. */
static GArray *
find_tree (JqRunner *runner, guint64 number)
{
  GArray *pids = jq_jobmark_find_job ("/proc", runner->settings.queue_id,
                                      number);
  for (guint i = 0; i < pids->len; i++)
    g_hash_table_add (runner->known,
                      GINT_TO_POINTER (g_array_index (pids, int, i)));
  return pids;
}

static void
kill_marked (Proc *r, int sig)
{
  g_autoptr (GArray) pids = find_tree (r->runner,
                                       jq_job_get_number (r->job));
  for (guint i = 0; i < pids->len; i++)
    kill (g_array_index (pids, int, i), sig);
}

/* @sig to the job's process group and to every process marked as the
 * job's.  A job left by a server before us is reached through its pidfd,
 * so that a reused pid is never hit. */
static void
proc_signal (Proc *r, int sig)
{
  if (r->job == NULL)
    {
      if (pidfd_send_signal (r->pidfd, sig, NULL, 0) == 0)
        kill (-r->pid, sig);
      g_autoptr (GArray) pids = jq_jobmark_find_job (
          "/proc", r->runner->settings.queue_id, r->number);
      for (guint i = 0; i < pids->len; i++)
        kill (g_array_index (pids, int, i), sig);
      return;
    }
  r->killed = TRUE;
  /* The job leads its own group; the group outlives a leader that has
   * already exited, so this also reaches what it left behind. */
  if (kill (-r->pid, sig) != 0 && errno == ESRCH)
    kill (r->pid, sig);
  kill_marked (r, sig);
}

static void
on_adopted_exit (GPid pid, int wait_status, gpointer user_data)
{
  JqRunner *runner = user_data;
  runner->watched_orphans--;
  g_hash_table_remove (runner->adopted, GINT_TO_POINTER (pid));
  g_hash_table_remove (runner->known, GINT_TO_POINTER (pid));
  g_spawn_close_pid (pid);
}

/* The adopted processes without a child watch that have ended, reaped. */
static void
reap_unwatched (JqRunner *runner)
{
  GHashTableIter iter;
  gpointer key, watch;
  g_hash_table_iter_init (&iter, runner->adopted);
  while (g_hash_table_iter_next (&iter, &key, &watch))
    {
      if (GPOINTER_TO_UINT (watch) != 0)
        continue;
      pid_t pid = GPOINTER_TO_INT (key);
      pid_t got = waitpid (pid, NULL, WNOHANG);
      if (got == pid || (got < 0 && errno == ECHILD))
        {
          g_hash_table_remove (runner->known, key);
          g_hash_table_iter_remove (&iter);
        }
    }
}

static gboolean
is_job_leader (JqRunner *runner, int pid)
{
  for (guint i = 0; i < runner->procs->len; i++)
    {
      const Proc *r = runner->procs->pdata[i];
      if (r->job != NULL && r->pid == pid)
        return TRUE;
    }
  return FALSE;
}

/* Our children, as the kernel lists them: the jobs we run, what jobs
 * left behind (we are their subreaper) and error report commands.  NULL
 * when it cannot be read. */
static GStrv
read_children (void)
{
  /* Read after every job's end, so with plain reads: g_file_get_contents()
   * adds two fstat()s and an fcntl() to each (doc/performance.md).  The
   * main thread's task id is the process's. */
  char path[48];
  g_snprintf (path, sizeof path, "/proc/self/task/%d/children",
              (int) getpid ());
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0
         || (n < 0 && errno == EINTR))
    if (n > 0)
      g_string_append_len (text, buf, n);
  close (fd);
  if (n < 0)
    return NULL;
  return g_strsplit (g_strstrip (text->str), " ", -1);
}

/* A child of ours that is neither a job being run nor adopted already;
 * 0 for anything else. */
static int
stray_pid (JqRunner *runner, const char *text)
{
  guint64 pid = 0;
  if (!g_ascii_string_to_unsigned (text, 10, 2, G_MAXINT, &pid, NULL)
      || is_job_leader (runner, (int) pid)
      || (runner->guardian != NULL
          && (pid_t) pid == jq_guardian_pid (runner->guardian))
      || g_hash_table_contains (runner->adopted, GINT_TO_POINTER (pid)))
    return 0;
  return (int) pid;
}

/* Whether child @pid of ours was left behind by a job.  Every job leads
 * a process group of its own, and what it leaves stays in that group (or
 * in one it made with setsid() or setpgid()); the server's other children
 * -- error report commands, which have child watches of their own, and
 * the short-lived helper that reads bots.ini as its owner -- are in the
 * server's group.  The group is read from /proc/PID/stat, which a zombie
 * still has: its mark (in its environment) is gone once it has ended, and
 * a process may have cleared it (env -i) long before. */
static gboolean
is_left_by_a_job (JqRunner *runner, int pid)
{
  int group = jq_jobmark_process_group ("/proc", pid);
  return (group > 0 && group != getpgrp ())
         || g_hash_table_contains (runner->known, GINT_TO_POINTER (pid))
         || jq_jobmark_number ("/proc", pid, runner->settings.queue_id) != 0;
}

/* The server is a child subreaper: what a job leaves behind when its
 * parent ends becomes our child, and would stay a zombie once it ends.
 * Such children that are not a job being run get a child watch, which
 * reaps them. */
static void
adopt_orphans (JqRunner *runner)
{
  if (!runner->settings.adopt_orphans)
    return;
  g_auto (GStrv) pids = read_children ();
  for (gsize i = 0; pids != NULL && pids[i] != NULL; i++)
    {
      int pid = stray_pid (runner, pids[i]);
      if (pid == 0 || !is_left_by_a_job (runner, pid))
        continue;
      guint watch = 0;
      if (runner->watched_orphans < WATCHED_ORPHANS_MAX)
        {
          watch = g_child_watch_add ((GPid) pid, on_adopted_exit, runner);
          runner->watched_orphans++;
        }
      g_hash_table_insert (runner->adopted, GINT_TO_POINTER (pid),
                           GUINT_TO_POINTER (watch));
    }
}

/* Whether a job that just ended may have left a process behind.  Every
 * process it left is our child (reparented to us, the subreaper) or a
 * descendant of one that lives: so when every child of ours is a job
 * being run or adopted already, nothing is left, and /proc need not be
 * walked.  That walk reads two files of every process on the machine
 * (milliseconds on a busy host) and once sat between one job's end and
 * the next one's start (doc/performance.md). */
static gboolean
may_have_left (JqRunner *runner)
{
  g_auto (GStrv) pids = read_children ();
  if (pids == NULL)
    return TRUE;
  for (gsize i = 0; pids[i] != NULL; i++)
    if (stray_pid (runner, pids[i]) != 0)
      return TRUE;
  return FALSE;
}

static gboolean
forget_gone (gpointer key, gpointer value, gpointer data)
{
  char path[32];
  g_snprintf (path, sizeof path, "/proc/%d", GPOINTER_TO_INT (key));
  return !g_file_test (path, G_FILE_TEST_EXISTS);
}

static gboolean
on_adopt_timer (gpointer data)
{
  JqRunner *runner = data;
  reap_unwatched (runner);
  adopt_orphans (runner);
  /* Reaped by their own parents meanwhile: nothing to remember. */
  g_hash_table_foreach_remove (runner->known, forget_gone, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_kill_grace (gpointer user_data)
{
  Proc *r = user_data;
  r->kill_id = 0;
  if (r->job == NULL)
    jq_log_write (r->runner->log, JQ_LOG_ERROR,
                  "Job %" G_GUINT64_FORMAT " did not stop after SIGTERM; "
                  "sending SIGKILL", r->number);
  else
    {
      g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (r->job));
      jq_log_write (r->runner->log, JQ_LOG_INFO, "Killing job %"
                    G_GUINT64_FORMAT ": %s", r->number, task);
    }
  proc_signal (r, SIGKILL);
  return G_SOURCE_REMOVE;
}

static void
terminate (Proc *r)
{
  if (r->kill_id != 0)
    return;
  proc_signal (r, SIGTERM);
  r->kill_id = g_timeout_add (MAX (r->runner->settings.kill_grace_ms, 1),
                              on_kill_grace, r);
}

/* maxruntime holds for a job adopted after a restart as for any other:
 * reported, and with killjobsintimeout terminated. */
static gboolean
on_maxruntime (gpointer user_data)
{
  Proc *r = user_data;
  JqRunner *runner = r->runner;

  r->timeout_id = 0;
  r->hit_maxruntime = TRUE;
  jq_log_write (runner->log, JQ_LOG_ERROR,
                "Job %" G_GUINT64_FORMAT " exceeded maxruntime of %u minutes",
                r->number, runner->settings.maxruntime_minutes);
  if (r->job != NULL && runner->hooks.timed_out != NULL)
    runner->hooks.timed_out (r->job, runner->hooks.user_data);
  if (r->job == NULL && runner->hooks.adopted_timed_out != NULL)
    runner->hooks.adopted_timed_out (r->number, runner->hooks.user_data);
  if (!runner->settings.kill_on_timeout)
    return G_SOURCE_REMOVE;
  if (r->job == NULL)
    jq_log_write (runner->log, JQ_LOG_ERROR, "Terminating job %"
                  G_GUINT64_FORMAT " (killjobsintimeout)", r->number);
  else
    {
      g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (r->job));
      jq_log_write (runner->log, JQ_LOG_INFO, "Terminating job %"
                    G_GUINT64_FORMAT ": %s", r->number, task);
    }
  terminate (r);
  return G_SOURCE_REMOVE;
}

static void
on_process_exit (GPid pid, int wait_status, gpointer user_data)
{
  Proc *r = user_data;
  JqRunner *runner = r->runner;
  JqFinished result = jq_finished_of (r->job);

  r->watch_id = 0;            /* a child watch fires once */
  g_spawn_close_pid (pid);
  if (runner->guardian != NULL)
    jq_guardian_release (runner->guardian, pid);
  /* The process is gone, so what it wrote is all in the pipes now. */
  capture_let_go (&r->out);
  capture_let_go (&r->err);
  capture_read (&r->out, runner->settings.output_limit);
  capture_read (&r->err, runner->settings.output_limit);

  result.started_us = r->started_us;
  result.ended_us = g_get_real_time ();
  result.hit_maxruntime = r->hit_maxruntime;
  if (WIFSIGNALED (wait_status))
    {
      result.term_signal = WTERMSIG (wait_status);
      result.exit_code = -result.term_signal;
    }
  else
    result.exit_code = WEXITSTATUS (wait_status);

  log_end (r, result.exit_code);

  /* A job we killed takes its whole tree with it: whatever of it is
   * left (a daemon it started with setsid(), say) gets SIGKILL now. */
  if (r->killed)
    kill_marked (r, SIGKILL);

  g_autoptr (JqJob) job = jq_job_ref (r->job);
  proc_drop (r);
  runner->hooks.finished (job, &result, runner->hooks.user_data);
  /* After the next job has started (the launch gap): note what the job
   * left behind while its marks can still be read, and adopt it. */
  if (runner->settings.adopt_orphans && may_have_left (runner))
    {
      g_array_unref (find_tree (runner, jq_job_get_number (job)));
      adopt_orphans (runner);
    }
}

extern char **environ;

/* Errors that say nothing about the job, only about this moment: no
 * descriptor, process or memory to spare, or its program being written
 * (ETXTBSY, while it is installed). */
static gboolean
is_shortage (int errsv)
{
  return errsv == EMFILE || errsv == ENFILE || errsv == EAGAIN
         || errsv == ENOMEM || errsv == ETXTBSY;
}

static gboolean
open_pipe (int fds[2], GError **error)
{
  if (pipe2 (fds, O_CLOEXEC) == 0)
    return TRUE;
  int saved = errno;
  g_set_error (error, JQ_ERROR, is_shortage (saved) ? JQ_ERROR_AGAIN
                                                    : JQ_ERROR_IO,
               "cannot create a pipe for the job's output: %s",
               g_strerror (saved));
  return FALSE;
}

/* Marks in @nondefault each signal set in the mask at @hex, as
 * /proc/PID/status prints it: hex digits, the highest signals first,
 * bit 0 of the last digit signal 1.  FALSE when it is not such a mask.
 * Called in the vfork() child: no lock, no allocation. */
static gboolean
mark_mask (const char *hex, gboolean nondefault[NSIG])
{
  const char *end = hex;
  while (g_ascii_isxdigit (*end))
    end++;
  if (end == hex || *end != '\n')
    return FALSE;
  int bit = 0;
  for (const char *digit = end; digit-- > hex; bit += 4)
    for (int k = 0; k < 4; k++)
      if ((g_ascii_xdigit_value (*digit) & (1 << k)) != 0
          && bit + k + 1 < NSIG)
        nondefault[bit + k + 1] = TRUE;
  return TRUE;
}

/* Which signals the calling process ignores or catches (SigIgn and
 * SigCgt of /proc/self/status).  Called in the vfork() child, which
 * reads its own copy of the server's dispositions (vfork() copies them
 * as fork() does; no other thread can change that copy), so the answer
 * is exact whenever the server's handlers were installed, by us, GLib or
 * a library.  FALSE when /proc cannot say (not mounted): the caller then
 * resets every signal.  No lock, no allocation. */
static gboolean
find_nondefault (gboolean nondefault[NSIG])
{
  char text[4096];
  size_t len = 0;
  ssize_t n = 0;
  int fd = open ("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  while (len < sizeof text - 1
         && (n = read (fd, text + len, sizeof text - 1 - len)) > 0)
    len += (size_t) n;
  close (fd);
  text[len] = '\0';
  const char *ignored = strstr (text, "\nSigIgn:\t");
  const char *caught = strstr (text, "\nSigCgt:\t");
  return ignored != NULL && caught != NULL
         && mark_mask (ignored + strlen ("\nSigIgn:\t"), nondefault)
         && mark_mask (caught + strlen ("\nSigCgt:\t"), nondefault);
}

/* Every signal the job would not get at its default back to it, with
 * the kernel's own call: glibc's sigaction() refuses its two internal
 * signals, which a server started by system() or posix_spawn() may
 * have inherited ignored.  An ignored signal would stay ignored across
 * the exec; a caught one is reset by the exec itself, but must not run
 * the server's handler in this child (on the server's memory) between
 * the unblock below and the exec.  Only those need the call: resetting
 * all 62 cost about 90 microseconds of every launch here (one system
 * call each, the server waiting), reading which they are about 15
 * (doc/performance.md).  All zero is SIG_DFL, no flags and an empty
 * mask in every architecture's layout of the kernel's struct. */
static void
reset_signals (void)
{
  static const guint64 dfl[8];
  gboolean nondefault[NSIG] = { FALSE };
  gboolean known = find_nondefault (nondefault);
  for (int sig = 1; sig < NSIG; sig++)
    if ((!known || nondefault[sig]) && sig != SIGKILL && sig != SIGSTOP)
      syscall (SYS_rt_sigaction, sig, dfl, NULL, (size_t) (NSIG / 8));
}

/* What a job's process does between vfork() and exec, on the server's
 * stack and memory while the server's thread waits: only system calls,
 * nothing that takes a lock or allocates.  Every signal back to its
 * default (the server ignores SIGPIPE and catches others; with all of
 * them blocked meanwhile no handler of ours can run here), its own
 * process group, stdin /dev/null, stdout and stderr into the pipes,
 * every other descriptor closed, then @dir and exec.  A failure is left
 * in *@failed for the parent. */
G_GNUC_NORETURN G_GNUC_NO_INLINE static void
become_job (const char *file, char *const *argv, const char *dir,
            char *const *envp, int out_fd, int err_fd, pid_t server,
            int guardian_fd, const sigset_t *none, volatile int *failed)
{
  /* A shared queue's job dies with its server (die_with_server): the
   * signal is asked for before anything else, and a server that died
   * before that (getppid no longer names it) gets no job at all.  The
   * guardian is told of its group, which the signal does not reach (a
   * guardian that is gone or not reading cannot be told: the job runs
   * unguarded rather than not at all). */
  if (server != 0
      && (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != server))
    {
      *failed = errno != 0 ? errno : ESRCH;
      _exit (127);
    }
  if (guardian_fd >= 0)
    jq_guardian_enlist_self (guardian_fd);
  reset_signals ();
  int in = -1;
  if (setpgid (0, 0) != 0
      || sigprocmask (SIG_SETMASK, none, NULL) != 0
      || (in = open ("/dev/null", O_RDONLY)) < 0
      || (in != 0 && (dup2 (in, 0) < 0 || close (in) != 0))
      || dup2 (out_fd, 1) < 0 || dup2 (err_fd, 2) < 0
      || (close_range (3, ~0U, 0) != 0 && (closefrom (3), FALSE))
      || chdir (dir) != 0)
    {
      *failed = errno;
      _exit (127);
    }
  execve (file, argv, envp);
  *failed = errno;
  _exit (127);
}

/* Starts @file with @argv in @dir, as become_job() says (@server: our
 * pid when the job is to die with us, else 0; @guardian: the one it
 * enlists its group with, or NULL).  No PATH
 * search: @file is what the policy authorized.  vfork(), not
 * posix_spawn(): glibc's posix_spawn maps a fresh stack for its child
 * and unmaps it after, and on this virtual machine those page faults and
 * the TLB flush took half a millisecond of every launch
 * (doc/performance.md).  Returns FALSE and sets @error when it cannot be
 * started (a failed chdir or exec is reported here too). */
static gboolean
spawn_job (const char *file, char *const *argv, const char *dir,
           char *const *envp, int out_fd, int err_fd, pid_t server,
           JqGuardian *guardian, GPid *pid, GError **error)
{
  sigset_t all, none, old;
  volatile int failed = 0;

  sigfillset (&all);
  sigemptyset (&none);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  int guardian_fd = guardian != NULL ? jq_guardian_fd (guardian) : -1;
  pid_t child = vfork ();
  if (child == 0)
    become_job (file, argv, dir, envp, out_fd, err_fd, server, guardian_fd,
                &none, &failed);
  int saved = child < 0 ? errno : failed;
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (child > 0 && saved != 0)
    {
      waitpid (child, NULL, 0);   /* it never ran: reaped here */
      if (guardian != NULL)       /* it may have enlisted */
        jq_guardian_release (guardian, child);
    }
  if (saved != 0)
    {
      g_autoptr (GString) shown = g_string_new (NULL);
      jq_task_repr_append_cut (shown, file, JQ_TASK_SHOWN_MAX);
      g_set_error (error, JQ_ERROR, is_shortage (saved) ? JQ_ERROR_AGAIN
                                                        : JQ_ERROR_IO,
                   "cannot run %s in %s: %s", shown->str, dir,
                   g_strerror (saved));
      return FALSE;
    }
  *pid = child;
  return TRUE;
}

/* "Starting job N" as the installation's own server words it. */
static void
log_start (JqRunner *runner, JqJob *job)
{
  if (!is_bots4 (runner))
    {
      jq_log_write (runner->log, JQ_LOG_INFO, "Starting job %"
                    G_GUINT64_FORMAT, jq_job_get_number (job));
      return;
    }
  g_autofree char *task = jq_task_repr_cut (jq_job_get_argv (job));
  jq_log_write (runner->log, JQ_LOG_START, "Starting job %" G_GUINT64_FORMAT
                ": %s", jq_job_get_number (job), task);
}

static void guardian_start (JqRunner *runner);

/* The guardian ended while the server runs: a kill of its own (it
 * ignores the usual stop signals, so a deliberate SIGKILL, or the OOM
 * killer).  Another is started at once and told of every job running
 * now, so that a server killed after its guardian still takes its jobs'
 * groups with it (an outside test: a job's child ran on).  A job whose
 * process has ended but is not reaped yet is enlisted too: its zombie
 * holds its pid, and its group may still have members.  The log line
 * comes once that is done. */
static void
on_guardian_exit (GPid pid, int wait_status, gpointer user_data)
{
  JqRunner *runner = user_data;
  runner->guardian_watch = 0;
  g_spawn_close_pid (pid);
  jq_guardian_free (g_steal_pointer (&runner->guardian), FALSE);
  guardian_start (runner);
  for (guint i = 0; runner->guardian != NULL && i < runner->procs->len; i++)
    {
      const Proc *r = runner->procs->pdata[i];
      int pidfd = r->job != NULL ? pidfd_open (r->pid, 0) : -1;
      if (pidfd < 0)
        continue;
      jq_guardian_enlist (runner->guardian, pidfd, r->pid);
      close (pidfd);
    }
  if (runner->guardian != NULL)
    jq_log_write (runner->log, JQ_LOG_WARNING, "The jobs' guardian (pid %d) "
                  "ended (%s %d); another (pid %d) guards the %u running "
                  "job(s).", (int) pid,
                  WIFSIGNALED (wait_status) ? "signal" : "exit status",
                  WIFSIGNALED (wait_status) ? WTERMSIG (wait_status)
                                            : WEXITSTATUS (wait_status),
                  (int) jq_guardian_pid (runner->guardian), runner->running);
}

/* A shared queue's: the guardian, watched so that it is replaced when
 * it ends. */
static void
guardian_start (JqRunner *runner)
{
  g_autoptr (GError) error = NULL;
  runner->guardian = jq_guardian_start (&error);
  if (runner->guardian == NULL)
    {
      jq_log_write (runner->log, JQ_LOG_WARNING, "%s; if this server dies, "
                    "the processes its job started may outlive it.",
                    error->message);
      return;
    }
  runner->guardian_watch = g_child_watch_add (
      jq_guardian_pid (runner->guardian), on_guardian_exit, runner);
}

JqRunner *
jq_runner_new (JqLog *log, const JqRunnerSettings *settings,
               const JqRunnerHooks *hooks)
{
  JqRunner *runner = g_new0 (JqRunner, 1);
  runner->log = log;
  runner->settings = *settings;
  if (runner->settings.output_limit == 0)
    runner->settings.output_limit = JQ_OUTPUT_LIMIT;
  runner->hooks = *hooks;
  runner->procs = g_ptr_array_new_with_free_func (proc_free);
  runner->adopted = g_hash_table_new (g_direct_hash, g_direct_equal);
  runner->known = g_hash_table_new (g_direct_hash, g_direct_equal);
  if (runner->settings.die_with_server)
    guardian_start (runner);
  /* Orphans appear when their parent ends, which we are not told of. */
  if (runner->settings.adopt_orphans)
    runner->adopt_id = g_timeout_add_seconds (ADOPT_INTERVAL_S,
                                              on_adopt_timer, runner);
  return runner;
}

gboolean
jq_runner_start (JqRunner *runner, JqJob *job, GPid *pid_out,
                 GError **error)
{
  g_clear_pointer (&runner->marked, g_hash_table_unref);
  GPid pid = 0;
  int out[2], err[2];

  log_start (runner, job);
  /* Judged again now, on the files as they are: a link changed since the
   * addjob cannot make anything else run. */
  g_autofree char *file = NULL;
  g_autoptr (GError) refused = NULL;
  g_auto (GStrv) run = jq_task_resolve (runner->settings.policy,
                                        jq_job_get_argv (job), &file,
                                        &refused);
  if (run == NULL)
    {
      if (g_error_matches (refused, JQ_ERROR, JQ_ERROR_INVALID))
        g_prefix_error (&refused, "not authorized any more: ");
      g_propagate_error (error, g_steal_pointer (&refused));
      return FALSE;
    }
  if (!open_pipe (out, error))
    return FALSE;
  if (!open_pipe (err, error))
    {
      close (out[0]);
      close (out[1]);
      return FALSE;
    }
  const char *const *base = runner->settings.job_environ
                            ? runner->settings.job_environ
                            : (const char *const *) environ;
  g_auto (GStrv) envp = jq_jobmark_environ (base, runner->settings.queue_id,
                                            jq_job_get_number (job));
  gboolean started = spawn_job (
      file, run, jq_task_policy_get_job_dir (runner->settings.policy), envp,
      out[1], err[1], runner->settings.die_with_server ? getpid () : 0,
      runner->guardian, &pid, error);
  /* The server raised its own descriptor limit; the job gets the one it
   * would have had (some programs size tables by it, or use select()).
   * vfork() returns once the child has exec'd, before it can have
   * done much. */
  if (started && runner->settings.job_nofile > 0)
    {
      struct rlimit lim;
      if (prlimit (pid, RLIMIT_NOFILE, NULL, &lim) == 0)
        {
          lim.rlim_cur = MIN (lim.rlim_cur, runner->settings.job_nofile);
          prlimit (pid, RLIMIT_NOFILE, &lim, NULL);
        }
    }
  if (started && runner->settings.after_spawn != NULL)
    runner->settings.after_spawn (job, runner->settings.after_spawn_data);
  if (!started)
    {
      close (out[0]);
      close (err[0]);
      close (out[1]);
      close (err[1]);
      return FALSE;
    }

  Proc *r = proc_new (runner, job, jq_job_get_number (job), pid);
  r->started_us = g_get_real_time ();
  r->started_mono_us = g_get_monotonic_time ();
  capture_init (&r->out, r, out[0], out[1]);
  capture_init (&r->err, r, err[0], err[1]);
  if (runner->settings.maxruntime_ms > 0)
    r->timeout_id = g_timeout_add (runner->settings.maxruntime_ms,
                                   on_maxruntime, r);
  GSource *ended = g_child_watch_source_new (pid);
  g_source_set_callback (ended, G_SOURCE_FUNC (on_process_exit), r, NULL);
  r->watch_id = attach_job_watch (ended);
  if (pid_out != NULL)
    *pid_out = pid;
  return TRUE;
}

guint
jq_runner_get_running (JqRunner *runner)
{
  return runner->running;
}

GPtrArray *
jq_runner_list (JqRunner *runner, GArray *pids, GArray *started_us)
{
  GPtrArray *jobs = g_ptr_array_new ();
  for (guint i = 0; i < runner->procs->len; i++)
    {
      Proc *r = runner->procs->pdata[i];
      if (r->job == NULL)
        continue;
      g_ptr_array_add (jobs, r->job);
      if (pids != NULL)
        g_array_append_val (pids, r->pid);
      if (started_us != NULL)
        g_array_append_val (started_us, r->started_us);
    }
  return jobs;
}

void
jq_runner_terminate_all (JqRunner *runner, const char *why)
{
  /* Not the jobs a server before us left: they are not ours to stop,
   * and run on after us as they did after it. */
  for (guint i = 0; i < runner->procs->len; i++)
    {
      Proc *r = runner->procs->pdata[i];
      if (r->job == NULL)
        continue;
      jq_log_write (runner->log, JQ_LOG_WARNING,
                    "Terminating job %" G_GUINT64_FORMAT " (%s)",
                    jq_job_get_number (r->job), why);
      terminate (r);
    }
}

void
jq_runner_free (JqRunner *runner)
{
  if (runner == NULL)
    return;
  g_ptr_array_unref (runner->procs);
  g_clear_handle_id (&runner->adopt_id, g_source_remove);
  GHashTableIter iter;
  gpointer watch;
  g_hash_table_iter_init (&iter, runner->adopted);
  while (g_hash_table_iter_next (&iter, NULL, &watch))
    if (GPOINTER_TO_UINT (watch) != 0)
      g_source_remove (GPOINTER_TO_UINT (watch));
  g_hash_table_unref (runner->adopted);
  g_hash_table_unref (runner->known);
  g_clear_pointer (&runner->marked, g_hash_table_unref);
  g_clear_handle_id (&runner->guardian_watch, g_source_remove);
  jq_guardian_free (runner->guardian, TRUE);
  g_free (runner);
}

/* ---------------------------------------------- jobs of a server before us */

static gboolean
on_left_exit (int fd, GIOCondition condition, gpointer user_data)
{
  Proc *r = user_data;
  JqRunner *runner = r->runner;
  guint64 number = r->number;
  jq_log_write (runner->log, JQ_LOG_INFO,
                "The process of job %" G_GUINT64_FORMAT " from before the "
                "restart (pid %d) has ended.", number, r->pid);
  r->watch_id = 0;            /* removed as this returns */
  proc_drop (r);
  if (runner->hooks.adopted_ended != NULL)
    runner->hooks.adopted_ended (number, runner->hooks.user_data);
  return G_SOURCE_REMOVE;
}

gboolean
jq_runner_adopt (JqRunner *runner, guint64 number, int pid)
{
  int fd = pidfd_open (pid, 0);
  if (fd < 0)
    return FALSE;             /* it ended just now */
  Proc *r = proc_new (runner, NULL, number, pid);
  r->pidfd = fd;
  r->watch_id = g_unix_fd_add (fd, G_IO_IN, on_left_exit, r);
  r->started_us = jq_jobmark_started_us (pid);
  if (runner->settings.maxruntime_ms > 0 && r->started_us > 0)
    {
      gint64 ran_ms = MAX (g_get_real_time () - r->started_us, 0) / 1000;
      guint64 left_ms = (guint64) ran_ms >= runner->settings.maxruntime_ms
                        ? 0 : runner->settings.maxruntime_ms - ran_ms;
      r->timeout_id = g_timeout_add (MIN (left_ms, G_MAXUINT),
                                     on_maxruntime, r);
    }
  jq_log_write (runner->log, JQ_LOG_WARNING,
                "Job %" G_GUINT64_FORMAT " from before the restart is still "
                "running (pid %d); no job starts until it ends.",
                number, pid);
  return TRUE;
}

/* A recorded start is the job's own process: that pid, started then, a
 * group leader.  Its marks alone are no proof: a descendant that called
 * setpgid() carries them too, and outlives a job that has ended (it was
 * waited for as the job, for as long as it lived).  Only a start that was
 * never committed is found by its marks. */
int
jq_runner_find_left (JqRunner *runner, guint64 number, int pid,
                     gint64 started_us)
{
  if (pid > 0)
    return jq_jobmark_is_same_process (pid, started_us) ? pid : 0;
  if (runner->marked == NULL)
    runner->marked = jq_jobmark_find ("/proc", runner->settings.queue_id);
  gpointer marked = g_hash_table_lookup (runner->marked, &number);
  if (marked != NULL)
    return GPOINTER_TO_INT (marked);
  return jq_jobmark_is_same_process (pid, started_us) ? pid : 0;
}

/* ---------------------------------------------- the scheduler's seam */

static gpointer
ops_create (gpointer data, JqTaskPolicy *policy, JqLog *log,
            const JqRunnerHooks *hooks)
{
  JqRunnerSettings settings = *(const JqRunnerSettings *) data;
  settings.policy = policy;
  return jq_runner_new (log, &settings, hooks);
}

static gboolean
ops_start (gpointer runner, JqJob *job, GPid *pid, GError **error)
{
  return jq_runner_start (runner, job, pid, error);
}

static void
ops_kill_all (gpointer runner, const char *why)
{
  jq_runner_terminate_all (runner, why);
}

static int
ops_find_left (gpointer runner, guint64 number, int pid, gint64 started_us)
{
  return jq_runner_find_left (runner, number, pid, started_us);
}

static gboolean
ops_adopt (gpointer runner, guint64 number, int pid)
{
  return jq_runner_adopt (runner, number, pid);
}

static guint
ops_count (gpointer runner)
{
  return jq_runner_get_running (runner);
}

static GPtrArray *
ops_list (gpointer runner, GArray *pids, GArray *started_us)
{
  return jq_runner_list (runner, pids, started_us);
}

static void
ops_free (gpointer runner)
{
  jq_runner_free (runner);
}

const JqRunnerOps jq_runner_ops = {
  .create = ops_create,
  .start = ops_start,
  .kill_all = ops_kill_all,
  .find_left = ops_find_left,
  .adopt = ops_adopt,
  .count = ops_count,
  .list = ops_list,
  .free = ops_free,
};
