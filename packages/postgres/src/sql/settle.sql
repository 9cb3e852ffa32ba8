-- The compare-and-set statements on leases: heartbeat, release, complete, fail. Each takes
-- arrays of (seq, epoch, …) `unnest()`ed WITH ORDINALITY into `i`, updates the rows whose
-- (seq, epoch, state = 'leased') still match (`upd`), and returns the input rows with `ok`
-- and, for the refused ones, the job's current state and epoch (`cur`).

-- name: HEARTBEAT
-- Extends the leases ($1 seqs, $2 epochs) to expire at $3; $4: now. Refused rows only.
WITH i AS (
  SELECT *, {{> leased}} FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY
    AS t(seq, epoch, ord)
), upd AS (
  UPDATE {{schema}}.jobs j SET lease_expires_at = $3, updated_at = $4
  FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
  RETURNING i.ord
)
SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
  j.state, j.epoch::text AS cur
FROM i LEFT JOIN upd u ON u.ord = i.ord {{> refused_job}} {{> only_refused}};

-- name: RELEASE
-- Hands the leased jobs ($1 seqs, $2 epochs) back as pending without counting the attempt,
-- due at once ($3: now), with a NOTIFY ($4 channel, $5 instance). Every input row.
WITH i AS (
  SELECT *, {{> leased}} FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY
    AS t(seq, epoch, ord)
), upd AS (
  UPDATE {{schema}}.jobs j SET state = 'pending', attempts = greatest(0, j.attempts - 1),
    lease_owner = NULL, lease_expires_at = NULL, run_at = least(j.run_at, $3), updated_at = $3
  FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
  RETURNING i.ord, j.queue, j.run_at
), {{> note src=upd channel=$4 instance=$5}}
SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
  j.state, j.epoch::text AS cur, u.queue, u.run_at::text AS run_at,
  (SELECT count(*) FROM note) AS notes
FROM i LEFT JOIN upd u ON u.ord = i.ord {{> refused_job}}
ORDER BY i.ord;

-- fragment: complete()
-- Marks the leased jobs ($1 seqs, $2 epochs) succeeded with their results ($3, JSON texts) at
-- $4, logs the attempts ($5: with payloads) and updates the ledger. No separate FOR UPDATE
-- pass: the UPDATE locks the rows itself. The row keeps its lease_owner (the record shows it
-- only while leased), so RETURNING gives the lease holder for the attempt log without a
-- second primary-key lookup of the row as it was.
WITH i AS (
  SELECT *, {{> leased}} FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY
    AS t(seq, epoch, result, ord)
), upd AS (
  UPDATE {{schema}}.jobs j SET state = 'succeeded', result = i.result::jsonb,
    lease_expires_at = NULL, finished_at = $4, updated_at = $4
  FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
  RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
    j.payload, i.ord, j.lease_owner AS old_owner, j.started_at AS started
), log AS (
  INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
    ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch, COALESCE(old_owner, ''), started, $4, 'succeeded',
    NULL, {{> payload_if flag=$5}} FROM upd ORDER BY ord
), led AS ({{> ledger_sync src=upd}})
SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
  j.state, j.epoch::text AS cur, u.queue, u.name, u.result AS res
FROM i LEFT JOIN upd u ON u.ord = i.ord {{> refused_job}}

-- name: COMPLETE
-- The completion of jobs (see the `complete` fragment), returning the refused rows only.
{{> complete}} {{> only_refused}};

-- name: COMPLETE_ALL_ROWS
-- The completion of jobs returning every input row, for the `onComplete` hook.
{{> complete}} ORDER BY i.ord;

-- name: FAIL
-- A failed attempt of each leased job ($1 seqs, $2 epochs, $3 errors): retried at $4 (the
-- delay $7 kept as the job's retryDelayMs), or dead when $5 says so or the job is out of
-- attempts (cancelling its dependents); $6: now; $8: whether attempts record payloads.
WITH RECURSIVE i AS (
  SELECT *, {{> leased}}
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::boolean[],
    $7::bigint[]) WITH ORDINALITY AS t(seq, epoch, error, retry_at, dead, delay, ord)
), l AS (
  SELECT j.seq, i.ord, i.error, i.retry_at, i.delay,
    (i.dead OR j.attempts >= j.max_attempts) AS to_dead,
    j.lease_owner, COALESCE(j.started_at, j.updated_at) AS started, i.leased
  FROM i JOIN {{schema}}.jobs j ON j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
  FOR UPDATE OF j
), upd AS (
  UPDATE {{schema}}.jobs j SET state = CASE WHEN l.to_dead THEN 'dead' ELSE 'failed' END,
    last_error = l.error, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6,
    finished_at = CASE WHEN l.to_dead THEN $6 ELSE j.finished_at END,
    run_at = CASE WHEN l.to_dead THEN j.run_at ELSE l.retry_at END,
    retry_delay_ms = CASE WHEN l.to_dead THEN j.retry_delay_ms ELSE l.delay END
  FROM l WHERE j.seq = l.seq AND j.state = l.leased
  RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
  j.payload,
    l.ord, l.lease_owner AS old_owner, l.started, l.error
), log AS (
  INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
    ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch, COALESCE(old_owner, ''), started, $6,
    CASE WHEN state = 'dead' THEN 'dead' ELSE 'failed' END, error, {{> payload_if flag=$8}}
  FROM upd ORDER BY ord
), led AS ({{> ledger_sync src=upd}}), {{> cascade src=upd now=$6 payloads=$8}}
SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
  j.state, j.epoch::text AS cur, u.state AS new_state
FROM i LEFT JOIN upd u ON u.ord = i.ord {{> refused_job}}
ORDER BY i.ord;

-- name: JOB_STATES
-- The current state and epoch of the jobs $1 (refusals the statement's snapshot left unclear).
SELECT seq::text AS seq, state, epoch::text AS epoch FROM {{schema}}.jobs
WHERE seq = ANY($1::bigint[]);
