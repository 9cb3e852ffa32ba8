-- Memoized steps of a job.

-- name: GET_STEP
-- The value of step $2 of job $1.
SELECT value FROM {{schema}}.steps WHERE job_seq = $1 AND step = $2;

-- name: PUT_STEP
-- Writes step $2 of job $1 with value $3 (JSON text) while epoch $4 holds the job's lease.
-- FOR SHARE: a concurrent claim (epoch bump) waits for this, or this sees its new epoch.
INSERT INTO {{schema}}.steps (job_seq, step, value)
SELECT seq, $2, $3::jsonb FROM {{schema}}.jobs WHERE seq = $1 AND epoch = $4 AND state = 'leased'
FOR SHARE
ON CONFLICT (job_seq, step) DO UPDATE SET value = EXCLUDED.value
RETURNING 1 AS ok;
