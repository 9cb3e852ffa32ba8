-- The statements of steps.ts (`{{schema}}.` is the table prefix).

-- name: GET_STEP_SELECT_STEPS
-- `getStep()` in steps.ts: select steps.
SELECT value FROM {{schema}}.steps WHERE job_seq = ? AND step = ?

-- name: PUT_STEP_INSERT_STEPS
-- `putStep()` in steps.ts: insert steps.
INSERT OR REPLACE INTO {{schema}}.steps (job_seq, step, value)
  SELECT seq, ?, ? FROM {{schema}}.jobs WHERE seq = ? AND epoch = ? AND state = 'leased'
