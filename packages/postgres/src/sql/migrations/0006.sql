-- Migration 6: failed chunk attempts.
--
-- A chunk counts its failed attempts in a row (reset by progress) and may wait for a
-- retry time; a run fails at max_chunk_attempts and keeps its last error.
ALTER TABLE {{schema}}.runs ADD COLUMN max_chunk_attempts integer NOT NULL DEFAULT 10,
  ADD COLUMN last_error text;
ALTER TABLE {{schema}}.chunks ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN not_before bigint;
-- A claim looks for expired chunk leases (failed attempts) without walking a run's open chunks.
CREATE INDEX chunks_lease ON {{schema}}.chunks (lease_expires_at) WHERE state = 'leased';
