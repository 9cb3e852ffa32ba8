-- Runs and their chunks. A run's chunk rows are written when a claim first leases them
-- (runs.issued counts them, migration 9), not all at createRun.

-- name: RUN_RECORD
-- Run $1 with its progress (items processed, chunks done).
SELECT r.seq::text AS seq, r.name, r.input, r.state, r.total, r.chunk_size, r.chunks,
  r.created_at, r.updated_at, r.finished_at, r.last_error,
  (SELECT COALESCE(sum(c.offset_at - c.start), 0) FROM {{schema}}.chunks c WHERE c.run_seq = r.seq)::text AS processed,
  (SELECT count(*) FROM {{schema}}.chunks c WHERE c.run_seq = r.seq AND c.state = 'done')::int AS done
FROM {{schema}}.runs r WHERE r.seq = $1;

-- name: INSERT_RUN
-- A new run (no chunk rows yet); nothing when its idempotency key $7 is taken.
INSERT INTO {{schema}}.runs (name, input, state, total, chunk_size, chunks, idempotency_key,
  created_at, updated_at, finished_at, max_chunk_attempts)
VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $8, $9, $10)
ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq::text AS seq;

-- name: RUN_BY_KEY
-- The run of idempotency key $1.
SELECT seq::text AS seq FROM {{schema}}.runs WHERE idempotency_key = $1;

-- name: CLAIM_CHUNKS
-- Leases up to $4 claimable issued chunks (pending and due, or with an expired lease) of the
-- running runs (run $1 and names $2, NULL: any) to worker $5 until $6, at now $3, in run and
-- index order. It first finishes the runs whose chunks are all done, and fails the chunks
-- (and runs) whose expired lease was their last attempt.
WITH finished AS (
  UPDATE {{schema}}.runs r
  SET state = 'succeeded', finished_at = $3, updated_at = $3
  WHERE ($1::bigint IS NULL OR r.seq = $1) AND ($2::text[] IS NULL OR r.name = ANY($2))
    AND r.state IN ('running', 'paused')
    AND r.issued >= r.chunks
    AND NOT EXISTS (SELECT 1 FROM {{schema}}.chunks c WHERE c.run_seq = r.seq AND c.state <> 'done')
), exhausted AS (
  -- An expired lease is a failed attempt; at the run's maxChunkAttempts the chunk and
  -- the run fail (with their other leased chunks handed back).
  SELECT c.run_seq, c.idx FROM {{schema}}.chunks c JOIN {{schema}}.runs r ON r.seq = c.run_seq
  WHERE r.state = 'running' AND ($1::bigint IS NULL OR r.seq = $1)
    AND ($2::text[] IS NULL OR r.name = ANY($2))
    AND c.state = 'leased' AND c.lease_expires_at <= $3
    AND c.attempts + 1 >= r.max_chunk_attempts
  FOR UPDATE OF c SKIP LOCKED
), exhausted_upd AS (
  UPDATE {{schema}}.chunks x SET state = 'failed', attempts = x.attempts + 1, epoch = x.epoch + 1,
    lease_owner = NULL, lease_expires_at = NULL
  FROM exhausted e WHERE x.run_seq = e.run_seq AND x.idx = e.idx
), handed_back AS (
  UPDATE {{schema}}.chunks x SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
  WHERE x.run_seq IN (SELECT run_seq FROM exhausted) AND x.state = 'leased'
    AND (x.run_seq, x.idx) NOT IN (SELECT run_seq, idx FROM exhausted)
), c AS (
  SELECT c.run_seq, c.idx, r.name, c.state AS old_state
  FROM {{schema}}.chunks c JOIN {{schema}}.runs r ON r.seq = c.run_seq
  WHERE r.state = 'running' AND ($1::bigint IS NULL OR r.seq = $1)
    AND ($2::text[] IS NULL OR r.name = ANY($2))
    AND r.seq NOT IN (SELECT run_seq FROM exhausted)
    AND ((c.state = 'pending' AND (c.not_before IS NULL OR c.not_before <= $3))
      OR (c.state = 'leased' AND c.lease_expires_at <= $3
        AND c.attempts + 1 < r.max_chunk_attempts))
  ORDER BY c.run_seq, c.idx LIMIT $4
  FOR UPDATE OF c SKIP LOCKED
), runs_upd AS (
  UPDATE {{schema}}.runs r SET last_error = 'lease expired', updated_at = $3,
    state = CASE WHEN r.seq IN (SELECT run_seq FROM exhausted) THEN 'failed' ELSE r.state END
  WHERE r.seq IN (SELECT run_seq FROM exhausted
    UNION SELECT run_seq FROM c WHERE old_state = 'leased')
)
UPDATE {{schema}}.chunks x SET state = 'leased', epoch = x.epoch + 1, lease_owner = $5,
  lease_expires_at = $6, not_before = NULL,
  attempts = x.attempts + CASE WHEN c.old_state = 'leased' THEN 1 ELSE 0 END
FROM c WHERE x.run_seq = c.run_seq AND x.idx = c.idx
RETURNING x.run_seq::text AS run_seq, x.idx, c.name, x.start, x.end_at, x.offset_at, x.epoch;

-- name: ISSUE_CHUNKS
-- Issues and leases up to $3 never-issued chunks of the running runs (run $1 and names $2,
-- NULL: any) to worker $4 until $5, in run and index order. A run row another claim (or a
-- pause, cancel) holds is waited for, not skipped: that holder is one short statement, and
-- the re-checked row has its new `issued`. (Skipping it left every concurrent claimer of a
-- run but one with nothing to do: with 10 claimers of one run, 17-40k items/s in chunks of
-- 500 instead of hundreds of thousands.) Runs are locked in seq order, as everywhere.
WITH r AS (
  SELECT seq, name, total, chunk_size, chunks, issued FROM {{schema}}.runs
  WHERE state = 'running' AND issued < chunks AND ($1::bigint IS NULL OR seq = $1)
    AND ($2::text[] IS NULL OR name = ANY($2))
  ORDER BY seq LIMIT $3
  FOR UPDATE
), pick AS (
  SELECT r.seq, r.total, r.chunk_size, i AS idx FROM r
  CROSS JOIN LATERAL generate_series(r.issued, least(r.chunks, r.issued + $3) - 1) AS i
  ORDER BY r.seq, i LIMIT $3
), ins AS (
  INSERT INTO {{schema}}.chunks (run_seq, idx, start, end_at, offset_at, state, epoch,
    lease_owner, lease_expires_at)
  SELECT seq, idx, idx * chunk_size, least(total, (idx + 1) * chunk_size), idx * chunk_size,
    'leased', 1, $4, $5
  FROM pick
  RETURNING run_seq, idx, start, end_at, offset_at, epoch
), upd AS (
  UPDATE {{schema}}.runs x SET issued = p.top + 1
  FROM (SELECT seq, max(idx) AS top FROM pick GROUP BY seq) p WHERE x.seq = p.seq
)
SELECT ins.run_seq::text AS run_seq, ins.idx, r.name, ins.start, ins.end_at, ins.offset_at,
  ins.epoch
FROM ins JOIN r ON r.seq = ins.run_seq;

-- name: LOCK_LEASED_CHUNK
-- Locks chunk $2 of run $1 (and the run) when epoch $3 still holds its lease.
SELECT c.start, c.end_at, c.offset_at FROM {{schema}}.chunks c JOIN {{schema}}.runs r ON r.seq = c.run_seq
WHERE c.run_seq = $1 AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
  AND r.state = 'running'
FOR UPDATE OF c, r;

-- name: CHECKPOINT_CHUNK
-- Moves the offset of chunk $4 of run $3 to $1 at $5, renewing the lease to $2 (NULL: kept),
-- or handing the chunk back when $6. Progress resets the failed-attempt count; a hand-back
-- leaves it pending (not an expired lease, which would count as a failed attempt).
WITH u AS (UPDATE {{schema}}.chunks SET offset_at = $1,
    attempts = CASE WHEN $1 > offset_at THEN 0 ELSE attempts END,
    state = CASE WHEN $6 THEN 'pending' ELSE state END,
    lease_owner = CASE WHEN $6 THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN $6 THEN NULL ELSE COALESCE($2, lease_expires_at) END
  WHERE run_seq = $3 AND idx = $4)
UPDATE {{schema}}.runs SET updated_at = $5 WHERE seq = $3;

-- name: COMPLETE_CHUNK
-- Marks chunk $2 of run $1 done while epoch $3 holds its lease and the run is running;
-- returns whether chunks are left to do. Without the run's lock: holding it (through the
-- commit's WAL flush) serialised every completion of a run. A pause or cancel changes the
-- run's leased chunks (handed back, or epoch bumped), so a completion that races it is refused
-- by the chunk's own check, and the two lock no row in opposite orders.
UPDATE {{schema}}.chunks c SET state = 'done', offset_at = c.end_at, lease_owner = NULL,
  lease_expires_at = NULL
WHERE c.run_seq = $1 AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
  AND EXISTS (SELECT 1 FROM {{schema}}.runs r WHERE r.seq = c.run_seq AND r.state = 'running')
RETURNING EXISTS (SELECT 1 FROM {{schema}}.chunks p
  WHERE p.run_seq = c.run_seq AND p.state = 'pending')
  OR EXISTS (SELECT 1 FROM {{schema}}.runs r WHERE r.seq = c.run_seq AND r.issued < r.chunks)
  AS pending;

-- name: FINISH_RUN
-- Finishes run $1 at $2 when it is running or paused and all its chunks are done (matches no
-- row, and writes nothing, while a chunk is open).
UPDATE {{schema}}.runs r
SET state = 'succeeded', finished_at = $2, updated_at = $2
WHERE r.seq = $1 AND r.state IN ('running', 'paused')
  AND r.issued >= r.chunks
  AND NOT EXISTS (SELECT 1 FROM {{schema}}.chunks c WHERE c.run_seq = r.seq AND c.state <> 'done');

-- name: RUN_TRANSITION
-- Moves run $3 from one of the states $4 to $1 at $2. Its chunk holders are refused from then
-- on: a pause hands the leased chunks back (claimable at their last checkpoint once the run
-- resumes), a cancel fences them; a resume retries the failed chunks from their checkpoints
-- with a fresh count.
WITH r AS (
  UPDATE {{schema}}.runs SET state = $1, updated_at = $2,
    finished_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE finished_at END
  WHERE seq = $3 AND state = ANY($4::text[]) RETURNING seq
), c AS (
  UPDATE {{schema}}.chunks SET
    epoch = epoch + CASE WHEN $1 = 'cancelled' THEN 1 ELSE 0 END,
    state = CASE WHEN $1 = 'paused' THEN 'pending' ELSE state END,
    lease_owner = CASE WHEN $1 = 'paused' THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN $1 = 'paused' THEN NULL ELSE lease_expires_at END
  WHERE $1 IN ('cancelled', 'paused') AND state = 'leased'
    AND run_seq IN (SELECT seq FROM r)
), f AS (
  UPDATE {{schema}}.chunks SET state = 'pending', attempts = 0, not_before = NULL
  WHERE $1 = 'running' AND state = 'failed' AND run_seq IN (SELECT seq FROM r)
)
SELECT count(*)::int AS n FROM r;

-- name: FAIL_CHUNK
-- A failed attempt of chunk $2 of run $1 leased at epoch $3 (only while the run is running),
-- with error $4: handed back for a retry at $5; at the run's maxChunkAttempts failed attempts
-- in a row the chunk and the run go failed (its other leased chunks handed back). $6: now.
WITH r AS (
  -- The run first (the order of a pause or cancel, which lock it, then its chunks).
  SELECT seq, max_chunk_attempts FROM {{schema}}.runs WHERE seq = $1 AND state = 'running'
  FOR UPDATE
), ch AS (
  UPDATE {{schema}}.chunks c SET attempts = c.attempts + 1, lease_owner = NULL,
    lease_expires_at = NULL,
    state = CASE WHEN c.attempts + 1 >= r.max_chunk_attempts THEN 'failed' ELSE 'pending' END,
    not_before = $5, epoch = c.epoch + CASE
      WHEN c.attempts + 1 >= r.max_chunk_attempts THEN 1 ELSE 0 END
  FROM r WHERE c.run_seq = r.seq AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
  RETURNING c.run_seq, c.idx, c.state
), others AS (
  UPDATE {{schema}}.chunks x SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
  WHERE x.run_seq IN (SELECT run_seq FROM ch WHERE state = 'failed') AND x.state = 'leased'
    AND x.idx <> $2
), ru AS (
  UPDATE {{schema}}.runs x SET last_error = $4, updated_at = $6,
    state = CASE WHEN ch.state = 'failed' THEN 'failed' ELSE x.state END
  FROM ch WHERE x.seq = ch.run_seq
)
SELECT count(*)::int AS n FROM ch;
