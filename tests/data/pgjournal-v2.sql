-- A PostgreSQL journal of format 2 (meta schema_version 2: each job has
-- an owner, the uid that queued it, NULL when unknown), as
-- bots-jobqueue wrote it: the tables its create_schema made, and the
-- rows a server left (job 1 queued by uid 1001, job 2 by root, job 3 by
-- a caller the kernel did not name).  tests/test_store.c loads it into
-- an empty database and opens it with the current code.  Keep it as it
-- is, as pgjournal-v1.sql.
CREATE SCHEMA bots_jobqueue;
CREATE TABLE bots_jobqueue.jobs (  number bigint PRIMARY KEY, priority integer NOT NULL,  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,  state text NOT NULL CHECK (state IN ('waiting', 'running')),  at_head boolean NOT NULL DEFAULT false, started_us bigint,  pid integer, changed bigint NOT NULL DEFAULT 0, owner bigint);
CREATE INDEX jobs_changed ON bots_jobqueue.jobs (changed);
CREATE TABLE bots_jobqueue.history (  number bigint PRIMARY KEY, priority integer NOT NULL,  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,  started_us bigint, ended_us bigint NOT NULL, exit_code integer,  signal integer, maxruntime_hit boolean NOT NULL DEFAULT false,  start_error text);
CREATE INDEX history_ended  ON bots_jobqueue.history (ended_us);
CREATE TABLE bots_jobqueue.meta (  key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO bots_jobqueue.jobs VALUES (1, 5, '\x626f74732d656e67696e65002d63636f6e66696700', '[''bots-engine'', ''-cconfig'']', 1700000000000001, 'waiting', false, NULL, NULL, 1, 1001);
INSERT INTO bots_jobqueue.jobs VALUES (2, 3, '\x626f74732d656e67696e6500610a620000272200', '[''bots-engine'', ''a\nb'', '''', ''\''"'']', 1700000000000002, 'waiting', false, NULL, NULL, 2, 0);
INSERT INTO bots_jobqueue.jobs VALUES (3, 9, '\x626f74732d656e67696e65002d2d6e657700', '[''bots-engine'', ''--new'']', 1700000000000003, 'waiting', false, NULL, NULL, 3, NULL);
INSERT INTO bots_jobqueue.meta VALUES ('schema_version', 2), ('version', 3), ('next_number', 4), ('queue_id', 2579472606699654188), ('paused', 0);
