-- Pieces spliced into the statements of this folder by scripts/sql-modules.ts
-- (`{{> name arg=value}}`); not exported themselves.

-- fragment: record_columns()
-- The columns a `JobRecord` is read from, but `deps` (`j` is the row alias).
j.seq, j.queue, j.name, j.payload, j.state, j.idempotency_key, j.partition_key,
  j.partition, j.ordered, j.priority, j.run_at, j.attempts, j.max_attempts, j.backoff, j.epoch,
  j.lease_owner, j.lease_expires_at, j.started_at, j.created_at, j.updated_at, j.finished_at,
  j.result, j.last_error, j.retry_delay_ms

-- fragment: deps()
-- The dependencies of job `j`, as a text array (NULL without any).
CASE WHEN j.has_deps THEN ARRAY(SELECT d.depends_on::text FROM {{schema}}.job_deps d
  WHERE d.job_seq = j.seq ORDER BY d.depends_on) END AS deps

-- fragment: payload_if(flag)
-- The job's payload when the store records attempt payloads (`flag`, a boolean parameter).
CASE WHEN {{flag}}::boolean THEN payload END

-- fragment: ledger_sync(src)
-- Keeps the ledger entry of each job in `src` in step with the job's state.
UPDATE {{schema}}.ledger g
  SET state = u.state, result = CASE WHEN u.state = 'succeeded' THEN u.result END
  FROM {{src}} u WHERE u.idempotency_key IS NOT NULL AND g.queue = u.queue
    AND g.key = u.idempotency_key AND g.job_seq = u.seq

-- fragment: note(src, channel, instance)
-- A CTE sending one notification per queue of the rows of `src` (delivered at commit) on the
-- channel `channel`, tagged with the sending store instance `instance` (text parameters).
note AS (SELECT pg_notify({{channel}}::text, json_build_object('s', {{instance}}::text,
      'q', queue, 'n', count(*), 'r', min(run_at))::text) FROM {{src}} GROUP BY queue)

-- fragment: leased()
-- A column `leased` of the input rows `i` of a compare-and-set, compared as `j.state =
-- i.leased`: a join clause instead of the restriction `j.state = 'leased'`, which the
-- statistics (taken while jobs wait) estimate at about one row. With that estimate the planner
-- scanned the jobs table once and nested every input row under each leased job it found
-- (quadratic: ~50 ms for a complete of 500 on a table of 20,000); without it, the input
-- drives primary-key lookups (or a hash join on a small table).
'leased'::text AS leased

-- fragment: refused_job()
-- The current state and epoch of each input row `i` that the statement's `upd` did not
-- accept (`j`), for the refusal reasons; a lateral index lookup per refused row only, where a
-- plain join made the planner hash the whole jobs table for a batch of 500 (`LIMIT 1` keeps
-- the planner from flattening the subquery back into that join).
LEFT JOIN LATERAL (SELECT state, epoch FROM {{schema}}.jobs
  WHERE seq = i.seq AND u.ord IS NULL LIMIT 1) j ON true

-- fragment: only_refused()
-- Ends a settle statement that returns the refused input rows only (`u.ord IS NULL`): a batch
-- that is all accepted sends no row back (500 rows less to write and to parse). The counts are
-- a one-time filter: when every input row was accepted (`upd` has one row per distinct `ord`),
-- the anti-join and its two sorts of the batch are not run at all (complete: ~3% less server CPU).
WHERE u.ord IS NULL
  AND (SELECT count(*) FROM upd) < (SELECT count(*) FROM i) ORDER BY i.ord

-- fragment: ended_dep()
-- Job `j` has a dependency that went dead or cancelled (it must not go back to pending).
(j.has_deps AND EXISTS (SELECT 1 FROM {{schema}}.job_deps d JOIN {{schema}}.jobs dj
  ON dj.seq = d.depends_on WHERE d.job_seq = j.seq AND dj.state IN ('dead', 'cancelled')))

-- fragment: unblocked()
-- Job `j` waits on nothing: every dependency succeeded, and it heads its ordered partition.
(NOT j.has_deps OR NOT EXISTS (
    SELECT 1 FROM {{schema}}.job_deps d JOIN {{schema}}.jobs dj ON dj.seq = d.depends_on
    WHERE d.job_seq = j.seq AND dj.state <> 'succeeded'))
  AND (NOT j.ordered OR NOT EXISTS (
    SELECT 1 FROM {{schema}}.jobs o WHERE o.ordered AND o.queue = j.queue
      AND o.partition_key = j.partition_key AND o.seq < j.seq
      AND o.state IN ('pending', 'leased', 'failed')))

-- fragment: cascade_gate(src)
-- Whether `src` holds a job that went dead or cancelled (uncorrelated: evaluated once).
EXISTS (SELECT 1 FROM {{src}} WHERE state IN ('dead', 'cancelled'))

-- fragment: cascade(src, now, payloads)
-- CTEs (of a `WITH RECURSIVE`) that cancel, transitively, the pending and failed dependents
-- of the jobs of `src` (columns `seq`, `state`) that went dead or cancelled, with lastError
-- `dependency <id> <state>` and a `cancelled` attempt: the contract's "no job waits forever
-- on a dependency that will not run". `now` is a parameter; one index lookup per ended job.
-- Each step is gated by `cascade_gate` (whether `src` holds an ended job), a one-time filter
-- the executor checks before the scan: without it the generic plan could drive the walk and
-- the update from the ready jobs (the planner's estimate of the empty `src` and of the ready
-- index are both one row), reading every ready job at each claim when nothing had ended.
cascade_walk (seq, parent, parent_state) AS (
         SELECT d.job_seq, e.seq, e.state FROM {{src}} e
         JOIN {{schema}}.job_deps d ON d.depends_on = e.seq
         JOIN {{schema}}.jobs dj ON dj.seq = d.job_seq AND dj.state IN ('pending', 'failed')
         WHERE e.state IN ('dead', 'cancelled') AND {{> cascade_gate src={{src}}}}
         UNION
         SELECT d.job_seq, w.seq, 'cancelled' FROM cascade_walk w
         JOIN {{schema}}.job_deps d ON d.depends_on = w.seq
         JOIN {{schema}}.jobs dj ON dj.seq = d.job_seq AND dj.state IN ('pending', 'failed')
         WHERE {{> cascade_gate src={{src}}}}
       ), cascade_pick AS (
         SELECT DISTINCT ON (seq) seq, parent, parent_state FROM cascade_walk
         WHERE seq NOT IN (SELECT seq FROM {{src}}) ORDER BY seq, parent
       ), cascade_upd AS (
         UPDATE {{schema}}.jobs j SET state = 'cancelled',
           last_error = 'dependency ' || p.parent || ' ' || p.parent_state,
           finished_at = {{now}}, updated_at = {{now}}
         FROM cascade_pick p WHERE j.seq = p.seq AND j.state IN ('pending', 'failed')
           AND {{> cascade_gate src={{src}}}}
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state,
           j.result, j.payload, j.last_error, COALESCE(j.started_at, j.updated_at) AS started
       ), cascade_log AS (
         INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch, '', started, {{now}}, 'cancelled', last_error,
           {{> payload_if flag={{payloads}}}} FROM cascade_upd
       ), cascade_led AS ({{> ledger_sync src=cascade_upd}})
