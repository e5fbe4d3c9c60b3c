-- A journal of format 1 (PRAGMA user_version 1), as bots-jobqueue wrote
-- it: sqlite3 queue.db .dump, plus the two pragmas .dump leaves out.
-- tests/test_journal.c builds a file from it and opens it with the
-- current code.  Keep it as it is: when the format changes, add a
-- journal-vN.sql made by the new version beside it; this one stays, as
-- long as the code must read format 1.
PRAGMA application_id = 1114600563;
PRAGMA user_version = 1;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE jobs (  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,  state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),  at_head INTEGER NOT NULL DEFAULT 0, started_us INTEGER, pid INTEGER);
INSERT INTO jobs VALUES(1,5,X'626f74732d656e67696e65002d63636f6e66696700','[''bots-engine'', ''-cconfig'']',1700000000000001,'running',0,1700000000100000,4242);
INSERT INTO jobs VALUES(2,3,X'626f74732d656e67696e6500610a620000272200','[''bots-engine'', ''a\nb'', '''', ''\''"'']',1700000000000002,'waiting',0,NULL,NULL);
INSERT INTO jobs VALUES(3,9,X'626f74732d656e67696e65002d2d6e657700','[''bots-engine'', ''--new'']',1700000000000003,'waiting',0,NULL,NULL);
CREATE TABLE history (  number INTEGER PRIMARY KEY, priority INTEGER NOT NULL,  argv BLOB NOT NULL, task TEXT NOT NULL, queued_us INTEGER NOT NULL,  started_us INTEGER, ended_us INTEGER NOT NULL, exit_code INTEGER,  signal INTEGER, maxruntime_hit INTEGER NOT NULL DEFAULT 0,  start_error TEXT);
INSERT INTO history VALUES(4,5,X'626f74732d656e67696e65002d2d646f6e6500','[''bots-engine'', ''--done'']',1700000000000004,1700000000200000,1700000003200000,-9,9,1,NULL);
INSERT INTO history VALUES(5,5,X'6d697373696e672d656e67696e6500','[''missing-engine'']',1700000000000005,NULL,1700000000300000,NULL,NULL,0,'no such file');
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
INSERT INTO meta VALUES('queue_id',2579472606699654187);
INSERT INTO meta VALUES('next_number',7);
INSERT INTO meta VALUES('paused',1);
CREATE INDEX history_ended ON history (ended_us);
COMMIT;

