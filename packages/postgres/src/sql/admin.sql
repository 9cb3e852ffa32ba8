-- Operator statements: reading jobs, counts and the attempt log; dead-lettering, cancelling,
-- requeueing, replaying and purging jobs.

-- name: GET_JOB
-- One job ($1) with its dependencies.
SELECT j.*, {{> deps}} FROM {{schema}}.jobs j WHERE j.seq = $1;

-- name: QUERY_JOBS
-- Jobs in seq order after $6 (0: from the first), at most $7, filtered by queue $1, name $2,
-- states $3, partition key $4 and partition $5 (NULL: any).
SELECT j.*, {{> deps}} FROM {{schema}}.jobs j
WHERE ($1::text IS NULL OR j.queue = $1) AND ($2::text IS NULL OR j.name = $2)
  AND ($3::text[] IS NULL OR j.state = ANY($3::text[]))
  AND ($4::text IS NULL OR j.partition_key = $4) AND ($5::int IS NULL OR j.partition = $5)
  AND j.seq > $6
ORDER BY j.seq LIMIT $7;

-- name: COUNT_JOBS
-- Jobs by queue, partition and state, of queue $1 (NULL: all).
SELECT queue, partition, state, count(*)::int AS n FROM {{schema}}.jobs
WHERE ($1::text IS NULL OR queue = $1) GROUP BY queue, partition, state;

-- name: OLDEST_READY
-- The run_at of the oldest job ready at $1 (due, nothing blocks it), of queue $2 (NULL: all).
SELECT min(j.run_at)::text AS t FROM {{schema}}.jobs j WHERE j.state IN ('pending', 'failed')
  AND j.run_at <= $1 AND ($2::text IS NULL OR j.queue = $2) AND {{> unblocked}};

-- name: ATTEMPTS
-- The attempt log of job $1 (NULL: all) ended at $2 or later (NULL: all), at most $3 rows.
SELECT *, payload IS NOT NULL AS recorded FROM {{schema}}.attempts
WHERE ($1::bigint IS NULL OR job_seq = $1)
  AND ($2::bigint IS NULL OR ended_at >= $2) ORDER BY id LIMIT $3;

-- name: TERMINATE
-- Moves the unfinished jobs $1 to state $2 (dead or cancelled) with lastError $3 (NULL: kept)
-- at $4, fencing a lease holder (epoch + 1) and logging its attempt, cancelling the
-- dependents; $5: whether attempts record payloads.
WITH RECURSIVE l AS (
  SELECT seq, state AS old_state, lease_owner, COALESCE(started_at, updated_at) AS started
  FROM {{schema}}.jobs WHERE seq = ANY($1::bigint[]) AND state NOT IN ('succeeded', 'dead', 'cancelled')
  ORDER BY seq FOR UPDATE
), upd AS (
  UPDATE {{schema}}.jobs j SET state = $2, last_error = COALESCE($3, j.last_error),
    epoch = j.epoch + CASE WHEN l.old_state = 'leased' THEN 1 ELSE 0 END,
    lease_owner = NULL, lease_expires_at = NULL, finished_at = $4, updated_at = $4
  FROM l WHERE j.seq = l.seq
  RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
    j.payload,
    l.old_state, l.lease_owner AS old_owner, l.started
), log AS (
  INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
    ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch - 1, COALESCE(old_owner, ''), started, $4, $2, $3,
    {{> payload_if flag=$5}}
  FROM upd WHERE old_state = 'leased'
), led AS ({{> ledger_sync src=upd}}), {{> cascade src=upd now=$4 payloads=$5}}
SELECT seq::text AS seq FROM upd;

-- name: REQUEUE
-- Puts the dead, failed and cancelled jobs $1 back as pending at $2 (attempts reset when $3)
-- at $4, but those with an ended dependency; with a NOTIFY ($5 channel, $6 instance).
WITH upd AS (
  UPDATE {{schema}}.jobs j SET state = 'pending', run_at = $2,
    attempts = CASE WHEN $3 THEN 0 ELSE j.attempts END, result = NULL, finished_at = NULL,
    updated_at = $4, retry_delay_ms = 0
  WHERE j.seq = ANY($1::bigint[]) AND j.state IN ('dead', 'failed', 'cancelled')
    AND NOT {{> ended_dep}}
  RETURNING j.seq, j.queue, j.run_at, j.idempotency_key, j.state, j.result
), led AS ({{> ledger_sync src=upd}}), {{> note src=upd channel=$5 instance=$6}}
SELECT seq::text AS seq, queue, run_at::text AS run_at, (SELECT count(*) FROM note) AS notes
FROM upd;

-- fragment: replay_scope()
-- The jobs a replay covers: queue $1, partition $2, partition key $3 (NULL: any), created at
-- $4 or later.
(($1::text IS NULL OR j.queue = $1) AND ($2::int IS NULL OR j.partition = $2)
      AND ($3::text IS NULL OR j.partition_key = $3) AND j.created_at >= $4)

-- name: REPLAY_SELECT
-- The jobs of a replay's scope, in seq order.
SELECT j.*, {{> deps}} FROM {{schema}}.jobs j WHERE {{> replay_scope}} ORDER BY j.seq;

-- name: REPLAY
-- Puts the finished and failed jobs of the scope back as pending at $5 (fresh attempts, no
-- result), but those with an ended dependency, with a NOTIFY ($6 channel, $7 instance). A
-- replay does the work again: its memoized steps go (a requeue keeps them).
WITH upd AS (
  UPDATE {{schema}}.jobs j SET state = 'pending', run_at = $5, attempts = 0, result = NULL,
    finished_at = NULL, updated_at = $5, retry_delay_ms = 0
  WHERE {{> replay_scope}} AND j.state IN ('succeeded', 'dead', 'cancelled', 'failed')
    AND NOT {{> ended_dep}}
  RETURNING j.seq, j.queue, j.run_at, j.idempotency_key, j.state, j.result
), led AS ({{> ledger_sync src=upd}}),
st AS (DELETE FROM {{schema}}.steps WHERE job_seq IN (SELECT seq FROM upd)),
{{> note src=upd channel=$6 instance=$7}}
SELECT queue, run_at::text AS run_at, (SELECT count(*) FROM note) AS notes FROM upd;

-- name: PURGE
-- Deletes the jobs in states $1 finished before $2, with their steps and dependencies (the
-- ledger and the attempt log stay).
WITH v AS (
  DELETE FROM {{schema}}.jobs WHERE state = ANY($1::text[]) AND finished_at < $2 RETURNING seq
), st AS (DELETE FROM {{schema}}.steps WHERE job_seq IN (SELECT seq FROM v)),
dp AS (DELETE FROM {{schema}}.job_deps WHERE job_seq IN (SELECT seq FROM v))
SELECT count(*)::int AS n FROM v;
