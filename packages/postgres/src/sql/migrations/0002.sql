-- Migration 2: ready indexes without leased jobs; BRIN for the attempt log end times.
--
-- A claim or completion is a non-HOT update: it adds an entry to every index whose
-- predicate the new row version matches. With 'leased' out of the two ready indexes a
-- claim adds two entries per job (primary key, lease) instead of four; expired leases are
-- found through jobs_lease. The attempt log is append-only and ended_at grows with it, so a
-- BRIN index answers "since" scans at a fraction of a B-tree's insert cost.
-- Builds first, then drops: claims keep an index to use while the new ones are built.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_ready ON {{schema}}.jobs (fair_key, priority DESC, seq)
  WHERE state IN ('pending', 'failed');
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_ready_age ON {{schema}}.jobs (fair_key, run_at, seq)
  WHERE state IN ('pending', 'failed');
DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.jobs_open;
DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.jobs_open_age;
CREATE INDEX CONCURRENTLY IF NOT EXISTS attempts_ended_brin ON {{schema}}.attempts USING brin (ended_at);
DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.attempts_ended;
ALTER INDEX IF EXISTS {{schema}}.attempts_ended_brin RENAME TO attempts_ended;
