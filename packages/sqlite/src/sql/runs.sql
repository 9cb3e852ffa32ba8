-- The statements of runs.ts (`{{schema}}.` is the table prefix).

-- name: RUN_RECORD_SELECT_RUNS
-- `runRecord()` in runs.ts: select runs.
SELECT * FROM {{schema}}.runs WHERE seq = ?

-- name: RUN_RECORD_SELECT_CHUNKS
-- `runRecord()` in runs.ts: select chunks.
SELECT COALESCE(SUM(offset_at - start), 0) AS processed,
  COALESCE(SUM(state = 'done'), 0) AS done FROM {{schema}}.chunks WHERE run_seq = ?

-- name: CREATE_RUN_SELECT_RUNS
-- `createRun()` in runs.ts: select runs.
SELECT seq, name, input, total, chunk_size FROM {{schema}}.runs WHERE idempotency_key = ?

-- name: CREATE_RUN_INSERT_RUNS
-- `createRun()` in runs.ts: insert runs.
INSERT INTO {{schema}}.runs (name, input, state, total, chunk_size, chunks, idempotency_key, created_at, updated_at,
    finished_at, max_chunk_attempts)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) RETURNING seq

-- name: CLAIM_CHUNKS_SELECT_CHUNKS
-- `claimChunks()` in runs.ts: select chunks.
SELECT c.run_seq, c.idx, c.state, r.name FROM {{schema}}.chunks c JOIN {{schema}}.runs r ON r.seq = c.run_seq
  WHERE r.state = 'running' AND (?1 IS NULL OR r.seq = ?1)
    AND (?2 IS NULL OR r.name IN (SELECT value FROM json_each(?2)))
    AND ((c.state = 'pending' AND c.not_before <= ?3) OR (c.state = 'leased' AND c.lease_expires_at <= ?3))
  ORDER BY r.seq, c.idx LIMIT ?4

-- name: CLAIM_CHUNKS_UPDATE_CHUNKS
-- `claimChunks()` in runs.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'leased', epoch = epoch + 1, lease_owner = ?1, lease_expires_at = ?2
  WHERE run_seq = ?3 AND idx = ?4 RETURNING *

-- name: ISSUE_CHUNKS_SELECT_RUNS
-- `issueChunks()` in runs.ts: select runs.
SELECT seq, name, total, chunk_size, chunks, issued FROM {{schema}}.runs
  WHERE state = 'running' AND issued < chunks AND (?1 IS NULL OR seq = ?1)
    AND (?2 IS NULL OR name IN (SELECT value FROM json_each(?2)))
  ORDER BY seq

-- name: ISSUE_CHUNKS_INSERT_CHUNKS
-- `issueChunks()` in runs.ts: insert chunks.
INSERT INTO {{schema}}.chunks (run_seq, idx, start, end_at, offset_at, state, epoch, lease_owner, lease_expires_at)
  VALUES (?1, ?2, ?3, ?4, ?3, 'leased', 1, ?5, ?6)

-- name: ISSUE_CHUNKS_UPDATE_RUNS
-- `issueChunks()` in runs.ts: update runs.
UPDATE {{schema}}.runs SET issued = ? WHERE seq = ?

-- name: CHUNK_CAS_SELECT_CHUNKS
-- `chunkCas()` in runs.ts: select chunks.
SELECT c.* FROM {{schema}}.chunks c JOIN {{schema}}.runs r ON r.seq = c.run_seq
  WHERE c.run_seq = ? AND c.idx = ? AND c.epoch = ? AND c.state = 'leased' AND r.state = 'running'

-- name: CHECKPOINT_CHUNK_UPDATE_CHUNKS
-- `checkpointChunk()` in runs.ts: update chunks.
UPDATE {{schema}}.chunks SET offset_at = ?1, attempts = CASE WHEN ?1 > offset_at THEN 0 ELSE attempts END,
    state = CASE WHEN ?5 THEN 'pending' ELSE state END,
    lease_owner = CASE WHEN ?5 THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN ?5 THEN NULL ELSE COALESCE(?2, lease_expires_at) END
  WHERE run_seq = ?3 AND idx = ?4

-- name: CHECKPOINT_CHUNK_UPDATE_RUNS
-- `checkpointChunk()` in runs.ts: update runs.
UPDATE {{schema}}.runs SET updated_at = ? WHERE seq = ?

-- name: COMPLETE_CHUNK_UPDATE_CHUNKS
-- `completeChunk()` in runs.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'done', offset_at = end_at, lease_owner = NULL, lease_expires_at = NULL
  WHERE run_seq = ? AND idx = ?

-- name: COMPLETE_CHUNK_SELECT_CHUNKS
-- `completeChunk()` in runs.ts: select chunks.
SELECT (SELECT COUNT(*) FROM {{schema}}.chunks WHERE run_seq = ?1 AND state <> 'done')
  + (SELECT chunks - issued FROM {{schema}}.runs WHERE seq = ?1) AS n

-- name: COMPLETE_CHUNK_UPDATE_RUNS
-- `completeChunk()` in runs.ts: update runs.
UPDATE {{schema}}.runs SET updated_at = ?1,
    state = CASE WHEN ?2 = 0 THEN 'succeeded' ELSE state END,
    finished_at = CASE WHEN ?2 = 0 THEN ?1 ELSE finished_at END
  WHERE seq = ?3

-- name: FAIL_CHUNK_UPDATE_CHUNKS
-- `failChunk()` in runs.ts: update chunks.
UPDATE {{schema}}.chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, not_before = ?1
  WHERE run_seq = ?2 AND idx = ?3
