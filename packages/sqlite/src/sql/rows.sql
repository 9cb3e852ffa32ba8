-- The statements of rows.ts (`{{schema}}.` is the table prefix).

-- name: DEPS_SELECT_JOB_DEPS
-- `deps()` in rows.ts: select job_deps.
SELECT depends_on FROM {{schema}}.job_deps WHERE job_seq = ? ORDER BY depends_on

-- name: JOB_ROW_SELECT_JOBS
-- `jobRow()` in rows.ts: select jobs.
SELECT * FROM {{schema}}.jobs WHERE seq = ?
