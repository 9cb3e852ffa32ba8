-- Migration 7: lease index keyed on the lease expiry only.
--
-- The same entries as jobs_lease (only a leased job has a lease expiry), under a predicate
-- that `state = 'leased'` does not imply. With jobs_lease, every compare-and-set on
-- (seq, epoch, state = 'leased') could be planned as a scan of the whole lease index: the
-- statistics, taken while jobs wait, count almost no leased row, so it looked cheaper than
-- the primary key, and a batch of 500 completions became a nested loop of every leased job
-- against every input row (~80 µs of server CPU per completed job instead of ~14). The
-- claim's expired-lease scans (`lease_expires_at <= $1`) still use it.
-- Built and dropped concurrently on an existing schema: no lock stops enqueues, claims or
-- completions (a plain CREATE INDEX held a SHARE lock on jobs for the whole build).
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_lease_expiry ON {{schema}}.jobs (lease_expires_at)
  WHERE lease_expires_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.jobs_lease;
