-- The statements of transitions.ts (`{{schema}}.` is the table prefix).

-- name: SYNC_LEDGER_UPDATE_LEDGER
-- `syncLedger()` in transitions.ts: update ledger.
UPDATE {{schema}}.ledger SET state = j.state, result = CASE WHEN j.state = 'succeeded' THEN j.result END
  FROM (SELECT queue, idempotency_key, state, result FROM {{schema}}.jobs WHERE seq = ?1 AND idempotency_key IS NOT NULL) AS j
  WHERE {{schema}}.ledger.queue = j.queue AND {{schema}}.ledger.key = j.idempotency_key AND {{schema}}.ledger.job_seq = ?1

-- name: APPEND_ATTEMPT_INSERT_ATTEMPTS
-- `appendAttempt()` in transitions.ts: insert attempts.
INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?, ?, ?,
    CASE WHEN ? THEN payload END
  FROM {{schema}}.jobs WHERE seq = ?

-- name: ENDED_DEPENDENCY_SELECT_JOB_DEPS
-- `endedDependency()` in transitions.ts: select job_deps.
SELECT d.depends_on, dj.state FROM {{schema}}.job_deps d JOIN {{schema}}.jobs dj ON dj.seq = d.depends_on
  WHERE d.job_seq = ? AND dj.state IN ('dead','cancelled') LIMIT 1

-- name: LOAD_SELECT_JOBS
-- `load()` in transitions.ts: select jobs.
SELECT {{> job_key}} FROM {{schema}}.jobs WHERE seq = ?

-- name: CANCELLABLE_DEPENDENTS_SELECT_JOB_DEPS
-- `cancellableDependents()` in transitions.ts: select job_deps.
SELECT {{> job_key_of_j}} FROM {{schema}}.job_deps d INDEXED BY {{schema}}.job_deps_dependents JOIN {{schema}}.jobs j ON j.seq = d.job_seq
  WHERE d.depends_on = ? AND j.state IN ('pending','failed')

-- name: WRITE_END
-- `writeChange()` in transitions.ts: one JobChange to a job.
UPDATE {{schema}}.jobs SET state = ?1, last_error = COALESCE(?2, last_error), epoch = epoch + ?5,
  lease_owner = NULL, lease_expires_at = NULL, finished_at = ?3, updated_at = ?3 WHERE seq = ?4

-- name: WRITE_RETRY
-- `writeChange()` in transitions.ts: one JobChange to a job.
UPDATE {{schema}}.jobs SET state = 'failed', last_error = ?1, lease_owner = NULL, lease_expires_at = NULL,
  run_at = ?2, updated_at = ?3, retry_delay_ms = ?5 WHERE seq = ?4

-- name: WRITE_RESET
-- `writeChange()` in transitions.ts: one JobChange to a job.
UPDATE {{schema}}.jobs SET state = 'pending', run_at = ?1, attempts = CASE WHEN ?2 THEN 0 ELSE attempts END,
  result = NULL, finished_at = NULL, updated_at = ?3, retry_delay_ms = 0 WHERE seq = ?4

-- name: SET_STATE_UPDATE_RUNS
-- `setState()` in transitions.ts: update runs.
UPDATE {{schema}}.runs SET state = ?1, updated_at = ?2,
    finished_at = CASE WHEN ?1 = 'cancelled' THEN ?2 ELSE finished_at END
  WHERE seq = ?3 AND state IN (SELECT value FROM json_each(?4))

-- name: HAND_BACK_UPDATE_CHUNKS
-- `handBack()` in transitions.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
  WHERE run_seq = ? AND state = 'leased'

-- name: RETRY_FAILED_CHUNKS_UPDATE_CHUNKS
-- `retryFailedChunks()` in transitions.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'pending', attempts = 0, not_before = 0
  WHERE run_seq = ? AND state = 'failed'

-- name: FENCE_LEASED_CHUNKS_UPDATE_CHUNKS
-- `fenceLeasedChunks()` in transitions.ts: update chunks.
UPDATE {{schema}}.chunks SET epoch = epoch + 1 WHERE run_seq = ? AND state = 'leased'

-- name: COUNT_FAILURE_UPDATE_CHUNKS
-- `countFailure()` in transitions.ts: update chunks.
UPDATE {{schema}}.chunks SET attempts = attempts + 1 WHERE run_seq = ? AND idx = ? RETURNING attempts

-- name: COUNT_FAILURE_UPDATE_RUNS
-- `countFailure()` in transitions.ts: update runs.
UPDATE {{schema}}.runs SET last_error = ?1, updated_at = ?2 WHERE seq = ?3 RETURNING max_chunk_attempts AS max

-- name: FAIL_CHUNK_AND_RUN_UPDATE_CHUNKS
-- `failChunkAndRun()` in transitions.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'failed' WHERE run_seq = ? AND idx = ?

-- name: FAIL_CHUNK_AND_RUN_UPDATE_RUNS
-- `failChunkAndRun()` in transitions.ts: update runs.
UPDATE {{schema}}.runs SET state = 'failed' WHERE seq = ?
