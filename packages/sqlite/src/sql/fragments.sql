-- Pieces spliced into the statements of this folder by scripts/sql-modules.ts
-- (`{{> name}}`); not exported themselves. `{{schema}}.` is the table prefix.

-- fragment: job_key()
-- The columns of a job the shared state machine loads (`JobKey` in rows.ts).
seq, state, queue, has_deps, idempotency_key

-- fragment: job_key_of_j()
-- The same columns of the jobs table aliased `j`.
j.seq, j.state, j.queue, j.has_deps, j.idempotency_key

-- fragment: terminal_states()
-- The terminal job states, as a list.
('succeeded','dead','cancelled')

-- fragment: unblocked()
-- Job `x` waits on nothing: every dependency succeeded, and it heads its ordered partition
-- (an earlier dead or cancelled job no longer blocks).
(x.has_deps = 0 OR NOT EXISTS (
    SELECT 1 FROM {{schema}}.job_deps d JOIN {{schema}}.jobs dj ON dj.seq = d.depends_on
    WHERE d.job_seq = x.seq AND dj.state <> 'succeeded'))
  AND (x.ordered = 0 OR NOT EXISTS (
    SELECT 1 FROM {{schema}}.jobs o WHERE o.ordered = 1 AND o.queue = x.queue
      AND o.partition_key = x.partition_key AND o.seq < x.seq
      AND o.state IN ('pending','leased','failed')))

-- fragment: claimable()
-- Claimability beyond state and time, on alias x: dependencies done, the head of its ordered
-- partition, and in the worker's scope (?5 queues, ?6 names: JSON arrays, or NULL for all).
{{> unblocked}}
  AND (?5 IS NULL OR x.queue IN (SELECT value FROM json_each(?5)))
  AND (?6 IS NULL OR x.name IN (SELECT value FROM json_each(?6)))

-- fragment: purge_victims()
-- The terminal jobs of states ?1 (a JSON array) finished before ?2 (purge).
SELECT seq FROM {{schema}}.jobs WHERE state IN {{> terminal_states}}
  AND state IN (SELECT value FROM json_each(?1)) AND finished_at < ?2
