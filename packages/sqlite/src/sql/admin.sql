-- The statements of admin.ts (`{{schema}}.` is the table prefix).

-- name: COUNTS_SELECT_JOB_COUNTS
-- `counts()` in admin.ts: select job_counts.
SELECT queue, part, state, n FROM {{schema}}.job_counts WHERE (?1 IS NULL OR queue = ?1) AND n > 0

-- name: COUNTS_SELECT_JOBS
-- `counts()` in admin.ts: select jobs.
SELECT x.run_at AS t FROM {{schema}}.jobs x INDEXED BY {{schema}}.jobs_ready_run_at
  WHERE x.state IN ('pending','failed') AND x.run_at <= ?1
  AND (?2 IS NULL OR x.queue = ?2) AND {{> unblocked}} ORDER BY x.run_at LIMIT 1

-- name: ATTEMPTS_SELECT_ATTEMPTS
-- `attempts()` in admin.ts: select attempts.
SELECT * FROM {{schema}}.attempts WHERE (?1 IS NULL OR job_seq = ?1) AND (?2 IS NULL OR ended_at >= ?2)
  ORDER BY id LIMIT ?3

-- name: REPLAY_SELECT_JOBS
-- `replay()` in admin.ts: select jobs.
SELECT {{> job_key}} FROM {{schema}}.jobs WHERE (?1 IS NULL OR queue = ?1)
    AND (?2 IS NULL OR partition = ?2) AND (?3 IS NULL OR partition_key = ?3) AND created_at >= ?4
  ORDER BY seq

-- name: REPLAY_DELETE_STEPS
-- `replay()` in admin.ts: delete steps.
DELETE FROM {{schema}}.steps WHERE job_seq = ?

-- name: PURGE_DELETE_STEPS
-- `purge()` in admin.ts: delete steps.
DELETE FROM {{schema}}.steps WHERE job_seq IN ({{> purge_victims}})

-- name: PURGE_DELETE_JOB_DEPS
-- `purge()` in admin.ts: delete job_deps.
DELETE FROM {{schema}}.job_deps WHERE job_seq IN ({{> purge_victims}})

-- name: PURGE_DELETE_JOBS
-- `purge()` in admin.ts: delete jobs.
DELETE FROM {{schema}}.jobs WHERE state IN {{> terminal_states}}
  AND state IN (SELECT value FROM json_each(?1)) AND finished_at < ?2
