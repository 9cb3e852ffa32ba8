-- The statements of jobs.ts (`{{schema}}.` is the table prefix).

-- name: ENQUEUE_SELECT_JOBS
-- `enqueue()` in jobs.ts: select jobs.
SELECT state FROM {{schema}}.jobs WHERE seq = ?

-- name: ENQUEUE_SELECT_LEDGER
-- `enqueue()` in jobs.ts: select ledger.
SELECT job_seq, fingerprint, state, result FROM {{schema}}.ledger WHERE queue = ? AND key = ?

-- name: ENQUEUE_INSERT_JOBS
-- `enqueue()` in jobs.ts: insert jobs.
INSERT INTO {{schema}}.jobs (queue, name, payload, state, idempotency_key, partition_key, fair_key, partition,
    ordered, priority, run_at, has_deps, attempts, max_attempts, backoff, epoch, created_at, updated_at)
  VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?)

-- name: ENQUEUE_INSERT_JOB_DEPS
-- `enqueue()` in jobs.ts: insert job_deps.
INSERT INTO {{schema}}.job_deps (job_seq, depends_on) VALUES (?, ?)

-- name: ENQUEUE_INSERT_LEDGER
-- `enqueue()` in jobs.ts: insert ledger.
INSERT INTO {{schema}}.ledger (queue, key, job_seq, fingerprint, state) VALUES (?, ?, ?, ?, 'pending')

-- name: CLAIM_EXHAUSTED_LEASES
-- `claim()` in jobs.ts: select jobs.
SELECT {{> job_key_of_j}} FROM {{schema}}.jobs j INDEXED BY {{schema}}.jobs_lease WHERE j.state = 'leased' AND j.lease_expires_at <= ?1
  AND j.attempts >= j.max_attempts
  AND (?2 IS NULL OR j.queue IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR j.name IN (SELECT value FROM json_each(?3)))

-- name: CLAIM_CANDIDATES
-- `claim()` in jobs.ts: select jobs.
WITH RECURSIVE keys(fair_key) AS (
    -- Distinct fairness keys by index skips: O(keys · log n), not O(ready jobs).
    SELECT MIN(fair_key) FROM {{schema}}.jobs WHERE state IN ('pending','failed')
    UNION ALL
    SELECT (SELECT MIN(x.fair_key) FROM {{schema}}.jobs x
            WHERE x.state IN ('pending','failed') AND x.fair_key > keys.fair_key)
    FROM keys WHERE keys.fair_key IS NOT NULL
  ), pool AS (
    SELECT c.seq FROM keys k JOIN {{schema}}.jobs c ON c.seq IN (
      SELECT x.seq FROM {{schema}}.jobs x
      WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed') AND +x.run_at <= ?2
        AND {{> claimable}}
      ORDER BY x.priority DESC, x.seq LIMIT ?4)
    UNION
    SELECT c.seq FROM keys k JOIN {{schema}}.jobs c ON c.seq IN (
      SELECT x.seq FROM {{schema}}.jobs x
      WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed')
        AND ?1 > 0 AND x.run_at <= ?2 - ?1 AND {{> claimable}}
      ORDER BY x.run_at LIMIT ?4)
    UNION
    SELECT seq FROM (
      SELECT x.seq FROM {{schema}}.jobs x INDEXED BY {{schema}}.jobs_lease
      WHERE x.state = 'leased' AND x.lease_expires_at <= ?2 AND {{> claimable}}
      ORDER BY x.lease_expires_at LIMIT ?4)
  ), scored AS (
    SELECT j.seq, j.fair_key, j.state,
      j.priority + CASE WHEN ?1 > 0 THEN MAX(0, ?2 - j.run_at) / ?1 ELSE 0 END AS eff
    FROM pool p CROSS JOIN {{schema}}.jobs j ON j.seq = p.seq
  ), ranked AS (
    SELECT seq, fair_key, state, eff,
      ROW_NUMBER() OVER (PARTITION BY fair_key ORDER BY eff DESC, seq) AS rn
    FROM scored
  )
  SELECT r.seq, r.state FROM ranked r LEFT JOIN json_each(?3) w ON w.key = r.fair_key
  WHERE r.rn <= ?4
  ORDER BY (r.rn - 1) * 1.0 / COALESCE(w.value, 1), r.eff DESC, r.seq
  LIMIT ?4

-- name: CLAIM_LOG_RECLAIMED
-- `claim()` in jobs.ts: insert attempts.
INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?1,
    'expired', 'lease expired', CASE WHEN ?3 THEN payload END
  FROM {{schema}}.jobs WHERE seq IN (SELECT value FROM json_each(?2)) AND +state = 'leased'

-- name: CLAIM_LEASE_JOBS
-- `claim()` in jobs.ts: update jobs.
UPDATE {{schema}}.jobs SET state = 'leased', attempts = attempts + 1, epoch = epoch + 1,
    lease_owner = ?1, lease_expires_at = ?2, started_at = ?3, updated_at = ?3
  WHERE seq IN (SELECT value FROM json_each(?4))

-- name: REFUSAL_SELECT_JOBS
-- `refusal()` in jobs.ts: select jobs.
SELECT state, epoch FROM {{schema}}.jobs WHERE seq = ?

-- name: HEARTBEAT_UPDATE_JOBS
-- `heartbeat()` in jobs.ts: update jobs.
UPDATE {{schema}}.jobs SET lease_expires_at = ?1, updated_at = ?2
  FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?3)) v
  WHERE {{schema}}.jobs.seq = v.s AND {{schema}}.jobs.epoch = v.e AND +{{schema}}.jobs.state = 'leased' RETURNING {{schema}}.jobs.seq

-- name: RELEASE_UPDATE_JOBS
-- `release()` in jobs.ts: update jobs.
UPDATE {{schema}}.jobs SET state = 'pending', attempts = MAX(0, attempts - 1), lease_owner = NULL,
    lease_expires_at = NULL, run_at = MIN(run_at, ?1), updated_at = ?1
  WHERE seq = ?2 AND epoch = ?3 AND state = 'leased' RETURNING queue, run_at

-- name: COMPLETE_INSERT_ATTEMPTS
-- `complete()` in jobs.ts: insert attempts.
INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
  SELECT j.seq, j.queue, j.name, j.attempts, j.epoch, COALESCE(j.lease_owner, ''),
    COALESCE(j.started_at, j.updated_at), ?1, 'succeeded', NULL, CASE WHEN ?3 THEN j.payload END
  FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?2)) v
  CROSS JOIN {{schema}}.jobs j ON j.seq = v.s AND j.epoch = v.e AND +j.state = 'leased'

-- name: COMPLETE_UPDATE_JOBS
-- `complete()` in jobs.ts: update jobs.
UPDATE {{schema}}.jobs SET state = 'succeeded', result = v.r, lease_owner = NULL, lease_expires_at = NULL,
    finished_at = ?1, updated_at = ?1
  FROM (SELECT value ->> 0 AS s, value ->> 1 AS e, value ->> 2 AS r FROM json_each(?2)) v
  WHERE {{schema}}.jobs.seq = v.s AND {{schema}}.jobs.epoch = v.e AND +{{schema}}.jobs.state = 'leased'
  RETURNING {{schema}}.jobs.seq, {{schema}}.jobs.queue, {{schema}}.jobs.name, {{schema}}.jobs.idempotency_key, {{schema}}.jobs.result

-- name: FAIL_SELECT_JOBS
-- `fail()` in jobs.ts: select jobs.
SELECT {{> job_key}}, attempts, max_attempts FROM {{schema}}.jobs WHERE seq = ? AND epoch = ? AND state = 'leased'
