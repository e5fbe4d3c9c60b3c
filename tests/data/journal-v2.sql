-- A journal of format 2 (PRAGMA user_version 2: jobs have an owner, the
-- uid that queued them), as bots-jobqueue wrote it: sqlite3 queue.db
-- .dump, plus the two pragmas .dump leaves out.  Job 2 was queued by
-- uid 1001, job 3 by root; job 1 ran.  tests/test_journal.c builds a
-- file from it and opens it with the current code.  Keep it as it is,
-- as journal-v1.sql.
PRAGMA application_id = 1114600563;
PRAGMA user_version = 2;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE jobs (  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,  state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),  at_head INTEGER NOT NULL DEFAULT 0, started_us INTEGER, pid INTEGER,  owner INTEGER);
INSERT INTO jobs VALUES(2,3,X'626f74732d656e67696e6500610a620000272200','[''bots-engine'', ''a\nb'', '''', ''\''"'']',1796439679039821,'waiting',0,NULL,NULL,1001);
INSERT INTO jobs VALUES(3,9,X'626f74732d656e67696e65002d2d6e657700','[''bots-engine'', ''--new'']',1796439679112387,'waiting',0,NULL,NULL,0);
CREATE TABLE history (  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,  started_us INTEGER, ended_us INTEGER NOT NULL, exit_code INTEGER,  signal INTEGER, maxruntime_hit INTEGER NOT NULL DEFAULT 0,  start_error TEXT);
INSERT INTO history VALUES(1,5,X'626f74732d656e67696e65002d63636f6e66696700','[''bots-engine'', ''-cconfig'']',1796439678662583,1796439678663212,1796439678688787,0,NULL,0,NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
INSERT INTO meta VALUES('queue_id',2618365410453652503);
INSERT INTO meta VALUES('paused',1);
INSERT INTO meta VALUES('next_number',4);
CREATE INDEX history_ended ON history (ended_us);
COMMIT;
