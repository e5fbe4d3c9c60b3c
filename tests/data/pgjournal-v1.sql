-- A PostgreSQL journal of format 1 (meta schema_version 1), as
-- bots-jobqueue wrote it: the tables its create_schema made (the lease
-- and members tables were the store's own in that version; they are
-- cluster.c's now, with the same columns), and the rows a server left.
-- tests/test_store.c loads it into an empty database and opens it with
-- the current code.  Keep it as it is: when the format changes, add a
-- pgjournal-vN.sql beside it; this one stays, as long as the code must
-- read format 1.
CREATE SCHEMA bots_jobqueue;
CREATE TABLE bots_jobqueue.jobs (  number bigint PRIMARY KEY, priority integer NOT NULL,  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,  state text NOT NULL CHECK (state IN ('waiting', 'running')),  at_head boolean NOT NULL DEFAULT false, started_us bigint,  pid integer, changed bigint NOT NULL DEFAULT 0);
CREATE INDEX jobs_changed ON bots_jobqueue.jobs (changed);
CREATE TABLE bots_jobqueue.history (  number bigint PRIMARY KEY, priority integer NOT NULL,  argv bytea NOT NULL, task text NOT NULL, queued_us bigint NOT NULL,  started_us bigint, ended_us bigint NOT NULL, exit_code integer,  signal integer, maxruntime_hit boolean NOT NULL DEFAULT false,  start_error text);
CREATE INDEX history_ended  ON bots_jobqueue.history (ended_us);
CREATE TABLE bots_jobqueue.meta (  key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE bots_jobqueue.lease (  id integer PRIMARY KEY CHECK (id = 1), holder text NOT NULL,  term bigint NOT NULL, expires timestamptz NOT NULL,  since timestamptz NOT NULL);
CREATE TABLE bots_jobqueue.members (  name text PRIMARY KEY, heartbeat timestamptz NOT NULL,  pid integer, started timestamptz);
INSERT INTO bots_jobqueue.jobs VALUES (1, 5, '\x626f74732d656e67696e65002d63636f6e66696700', '[''bots-engine'', ''-cconfig'']', 1700000000000001, 'running', false, 1700000000100000, 4242, 3);
INSERT INTO bots_jobqueue.jobs VALUES (2, 3, '\x626f74732d656e67696e6500610a620000272200', '[''bots-engine'', ''a\nb'', '''', ''\''"'']', 1700000000000002, 'waiting', false, NULL, NULL, 1);
INSERT INTO bots_jobqueue.jobs VALUES (3, 9, '\x626f74732d656e67696e65002d2d6e657700', '[''bots-engine'', ''--new'']', 1700000000000003, 'waiting', false, NULL, NULL, 2);
INSERT INTO bots_jobqueue.history VALUES (4, 5, '\x626f74732d656e67696e65002d2d646f6e6500', '[''bots-engine'', ''--done'']', 1700000000000004, 1700000000200000, 1700000003200000, -9, 9, true, NULL);
INSERT INTO bots_jobqueue.history VALUES (5, 5, '\x6d697373696e672d656e67696e6500', '[''missing-engine'']', 1700000000000005, NULL, 1700000000300000, NULL, NULL, false, 'no such file');
INSERT INTO bots_jobqueue.meta VALUES ('schema_version', 1), ('version', 5), ('next_number', 7), ('queue_id', 2579472606699654187), ('paused', 1);
INSERT INTO bots_jobqueue.lease VALUES (1, 'old-host:28082', 4, '2023-11-14 22:13:20+00', '2023-11-14 22:00:00+00');
INSERT INTO bots_jobqueue.members VALUES ('old-host:28082', '2023-11-14 22:13:18+00', 4711, '2023-11-14 21:00:00+00');
