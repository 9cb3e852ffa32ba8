/**
 * The schema of the SQLite job store as append-only, numbered migrations,
 * compiled into this module (no file is read at run time, so bundlers and
 * single-file deployments keep working).
 *
 * Rules: never edit a shipped migration, only append a new one. `{p}` is
 * replaced by the table prefix. Every migration runs inside the same
 * `BEGIN IMMEDIATE` transaction that records it in `{p}migrations`, so
 * concurrent processes serialise on the database write lock: the first one
 * applies, the others wait (busy timeout), see the recorded version and skip.
 */

/** One migration. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, in version order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, ledger, attempt log, steps, runs and chunks',
    sql: `
CREATE TABLE {p}jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  idempotency_key TEXT,
  partition_key TEXT,
  fair_key TEXT NOT NULL,
  partition INTEGER,
  ordered INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  has_deps INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  backoff TEXT,
  epoch INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  started_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  result TEXT,
  last_error TEXT
);
CREATE INDEX {p}jobs_fair_priority ON {p}jobs (fair_key, priority DESC, seq) WHERE state IN ('pending','failed');
CREATE INDEX {p}jobs_fair_run_at ON {p}jobs (fair_key, run_at) WHERE state IN ('pending','failed');
CREATE INDEX {p}jobs_lease ON {p}jobs (lease_expires_at) WHERE state = 'leased';
CREATE INDEX {p}jobs_ordered ON {p}jobs (queue, partition_key, seq) WHERE ordered = 1;
CREATE INDEX {p}jobs_partition ON {p}jobs (partition, created_at);
CREATE INDEX {p}jobs_finished ON {p}jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE {p}job_deps (
  job_seq INTEGER NOT NULL,
  depends_on INTEGER NOT NULL,
  PRIMARY KEY (job_seq, depends_on)
) WITHOUT ROWID;

CREATE TABLE {p}ledger (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  job_seq INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE TABLE {p}attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_seq INTEGER NOT NULL,
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT
);
CREATE INDEX {p}attempts_job ON {p}attempts (job_seq);
CREATE INDEX {p}attempts_ended ON {p}attempts (ended_at);

CREATE TABLE {p}steps (
  job_seq INTEGER NOT NULL,
  step TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (job_seq, step)
) WITHOUT ROWID;

CREATE TABLE {p}runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  input TEXT NOT NULL,
  state TEXT NOT NULL,
  total INTEGER NOT NULL,
  chunk_size INTEGER NOT NULL,
  chunks INTEGER NOT NULL,
  idempotency_key TEXT UNIQUE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);

CREATE TABLE {p}chunks (
  run_seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  start INTEGER NOT NULL,
  end_at INTEGER NOT NULL,
  offset_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  PRIMARY KEY (run_seq, idx)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'attempt payloads (recorded only with attemptPayloads: true)',
    sql: `
ALTER TABLE {p}attempts ADD COLUMN payload TEXT;
`,
  },
  {
    version: 3,
    name: 'dependents index; chunk attempts, retry time and errors; run maxChunkAttempts and last error',
    sql: `
CREATE INDEX {p}job_deps_dependents ON {p}job_deps (depends_on);
ALTER TABLE {p}runs ADD COLUMN max_chunk_attempts INTEGER NOT NULL DEFAULT 10;
ALTER TABLE {p}runs ADD COLUMN last_error TEXT;
ALTER TABLE {p}chunks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {p}chunks ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 4,
    name: 'job counts kept by triggers; ready jobs by run_at',
    // counts() grouped the whole jobs table on every depth sample (~75-125 ms on 100k jobs,
    // blocking the event loop). The triggers keep one row per (queue, partition, state) in the
    // writing transaction itself, whichever statement changes a job; partition -1 is none.
    sql: `
CREATE TABLE {p}job_counts (
  queue TEXT NOT NULL,
  part INTEGER NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (queue, part, state)
) WITHOUT ROWID;
INSERT INTO {p}job_counts (queue, part, state, n)
  SELECT queue, COALESCE(partition, -1), state, COUNT(*) FROM {p}jobs GROUP BY 1, 2, 3;
CREATE TRIGGER {p}jobs_count_insert AFTER INSERT ON {p}jobs BEGIN
  INSERT INTO {p}job_counts (queue, part, state, n)
    VALUES (new.queue, COALESCE(new.partition, -1), new.state, 1)
    ON CONFLICT (queue, part, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER {p}jobs_count_update AFTER UPDATE OF state, queue, partition ON {p}jobs
  WHEN old.state <> new.state OR old.queue <> new.queue OR old.partition IS NOT new.partition
BEGIN
  UPDATE {p}job_counts SET n = n - 1
    WHERE queue = old.queue AND part = COALESCE(old.partition, -1) AND state = old.state;
  INSERT INTO {p}job_counts (queue, part, state, n)
    VALUES (new.queue, COALESCE(new.partition, -1), new.state, 1)
    ON CONFLICT (queue, part, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER {p}jobs_count_delete AFTER DELETE ON {p}jobs BEGIN
  UPDATE {p}job_counts SET n = n - 1
    WHERE queue = old.queue AND part = COALESCE(old.partition, -1) AND state = old.state;
END;
CREATE INDEX {p}jobs_ready_run_at ON {p}jobs (run_at) WHERE state IN ('pending','failed');
`,
  },
  {
    version: 5,
    name: 'retry delay of the last failed attempt',
    // The worker's backoff gets it as previousDelayMs, so a growing backoff grows across
    // attempts whichever worker runs the retry (FailInput.delayMs; 0 after requeue / replay).
    sql: `
ALTER TABLE {p}jobs ADD COLUMN retry_delay_ms INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 6,
    name: 'chunks issued on demand',
    // createRun wrote every chunk row up front (a run of 1e12 items / chunk 1 would never end);
    // now a claim writes the next rows when it first leases them. Runs created before this
    // migration have all their rows: issued = chunks.
    sql: `
ALTER TABLE {p}runs ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
UPDATE {p}runs SET issued = chunks;
`,
  },
];
