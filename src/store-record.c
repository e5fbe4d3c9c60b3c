/* What every store records the same way (store-record.h). */
#include "store-record.h"

#include <string.h>

GBytes *
jq_record_pack_argv (const char *const *argv)
{
  GByteArray *b = g_byte_array_new ();
  for (gsize i = 0; argv[i] != NULL; i++)
    g_byte_array_append (b, (const guint8 *) argv[i], strlen (argv[i]) + 1);
  return g_byte_array_free_to_bytes (b);
}

char **
jq_record_unpack_argv (const void *data, gsize len)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const char *p = data, *end = p + (data != NULL ? len : 0);
  while (p < end)
    {
      const char *nul = memchr (p, '\0', end - p);
      gsize n = nul ? (gsize) (nul - p) : (gsize) (end - p);
      g_autofree char *arg = g_strndup (p, n);
      g_strv_builder_add (b, arg);
      p += n + 1;
    }
  return g_strv_builder_end (b);
}

static char **
argv_at (const JqRecordReader *reader, gpointer row, int column,
         gsize *stored)
{
  gsize len = 0;
  const void *data = reader->bytes (row, column, &len);
  if (stored != NULL)
    *stored = len;
  return jq_record_unpack_argv (data, len);
}

JqJob *
jq_record_job (const JqRecordReader *reader, gpointer row)
{
  g_auto (GStrv) argv = argv_at (reader, row, JQ_JOB_COL_ARGV, NULL);
  if (argv[0] == NULL)
    return NULL;
  return jq_job_new ((guint64) reader->integer (row, JQ_JOB_COL_NUMBER),
                     (int) reader->integer (row, JQ_JOB_COL_PRIORITY),
                     (const char *const *) argv,
                     reader->integer (row, JQ_JOB_COL_QUEUED));
}

void
jq_record_load_row (const JqRecordReader *reader, gpointer row,
                    JqJournalJobFunc func, gpointer user_data,
                    guint64 *highest)
{
  guint64 number = (guint64) reader->integer (row, JQ_JOB_COL_NUMBER);
  *highest = MAX (*highest, number);
  g_autoptr (JqJob) job = jq_record_job (reader, row);
  if (job == NULL)
    return;
  jq_job_set_owner (job, jq_record_owner (reader->integer (row,
                                                          JQ_JOB_COL_OWNER)));
  gboolean running = g_strcmp0 (reader->text (row, JQ_JOB_COL_STATE),
                                "running") == 0
                     /* requeued before: keep it at the head */
                     || reader->integer (row, JQ_JOB_COL_AT_HEAD) != 0;
  func (job, running,
        running ? (int) reader->integer (row, JQ_JOB_COL_PID) : 0,
        running ? reader->integer (row, JQ_JOB_COL_STARTED) : 0, user_data);
}

JqFinished
jq_record_finished (const JqRecordReader *reader, gpointer row,
                    gsize *stored)
{
  gsize argv_bytes = 0;
  char **argv = argv_at (reader, row, JQ_HISTORY_COL_ARGV, &argv_bytes);
  const char *start_error = reader->text (row, JQ_HISTORY_COL_START_ERROR);
  if (stored != NULL)
    *stored = argv_bytes + (start_error ? strlen (start_error) : 0);
  gint64 (*integer) (gpointer, int) = reader->integer;
  return (JqFinished) {
    .number = (guint64) integer (row, JQ_HISTORY_COL_NUMBER),
    .priority = (int) integer (row, JQ_HISTORY_COL_PRIORITY),
    .argv = (const char *const *) argv,
    .queued_us = integer (row, JQ_HISTORY_COL_QUEUED),
    .started_us = integer (row, JQ_HISTORY_COL_STARTED),
    .ended_us = integer (row, JQ_HISTORY_COL_ENDED),
    .exit_code = (int) integer (row, JQ_HISTORY_COL_EXIT),
    .term_signal = (int) integer (row, JQ_HISTORY_COL_SIGNAL),
    .hit_maxruntime = integer (row, JQ_HISTORY_COL_MAXRUNTIME) != 0,
    .start_error = g_strdup (start_error),
  };
}

guint64
jq_record_next_number (guint64 stored, guint64 highest)
{
  return MAX (MAX (stored, highest + 1), 1);
}

guint32
jq_record_owner (gint64 stored)
{
  return stored >= 0 && stored < (gint64) JQ_JOB_NO_OWNER
         ? (guint32) stored : JQ_JOB_NO_OWNER;
}

gboolean
jq_record_owner_value (const JqJob *job, gint64 *stored)
{
  guint32 owner = jq_job_get_owner (job);
  *stored = owner;
  return owner != JQ_JOB_NO_OWNER;
}
