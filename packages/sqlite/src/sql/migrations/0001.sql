-- Migration 1: jobs, ledger, attempt log, steps, runs and chunks.
CREATE TABLE {{schema}}.jobs (
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
CREATE INDEX {{schema}}.jobs_fair_priority ON {{schema}}.jobs (fair_key, priority DESC, seq) WHERE state IN ('pending','failed');
CREATE INDEX {{schema}}.jobs_fair_run_at ON {{schema}}.jobs (fair_key, run_at) WHERE state IN ('pending','failed');
CREATE INDEX {{schema}}.jobs_lease ON {{schema}}.jobs (lease_expires_at) WHERE state = 'leased';
CREATE INDEX {{schema}}.jobs_ordered ON {{schema}}.jobs (queue, partition_key, seq) WHERE ordered = 1;
CREATE INDEX {{schema}}.jobs_partition ON {{schema}}.jobs (partition, created_at);
CREATE INDEX {{schema}}.jobs_finished ON {{schema}}.jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE {{schema}}.job_deps (
  job_seq INTEGER NOT NULL,
  depends_on INTEGER NOT NULL,
  PRIMARY KEY (job_seq, depends_on)
) WITHOUT ROWID;

CREATE TABLE {{schema}}.ledger (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  job_seq INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE TABLE {{schema}}.attempts (
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
CREATE INDEX {{schema}}.attempts_job ON {{schema}}.attempts (job_seq);
CREATE INDEX {{schema}}.attempts_ended ON {{schema}}.attempts (ended_at);

CREATE TABLE {{schema}}.steps (
  job_seq INTEGER NOT NULL,
  step TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (job_seq, step)
) WITHOUT ROWID;

CREATE TABLE {{schema}}.runs (
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

CREATE TABLE {{schema}}.chunks (
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
