-- Migration 3: dependents index; chunk attempts, retry time and errors; run maxChunkAttempts and last error.
CREATE INDEX {{schema}}.job_deps_dependents ON {{schema}}.job_deps (depends_on);
ALTER TABLE {{schema}}.runs ADD COLUMN max_chunk_attempts INTEGER NOT NULL DEFAULT 10;
ALTER TABLE {{schema}}.runs ADD COLUMN last_error TEXT;
ALTER TABLE {{schema}}.chunks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {{schema}}.chunks ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
