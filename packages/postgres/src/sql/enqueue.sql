-- Enqueue: the one-statement insert of many jobs, and the transaction of a call with
-- idempotency keys or dependencies (ledger first, then the jobs, their dependencies, and the
-- cancellation of jobs that depend on an ended one).

-- fragment: insert_jobs(seq_column, seq_value)
-- One INSERT of many jobs (with their NOTIFY). $1: a JSON array of tuples [queue, name,
-- payload, idempotency key, partition key, partition, ordered, priority, run at, has deps, max
-- attempts, backoff, seq] (one array: far cheaper to build and to parse than a dozen text[]
-- literals; payloads are spliced in as already-serialised JSON); $2: now; $3, $4: the NOTIFY
-- channel and this store's instance tag. Returns only the seqs, as one array in seq order
-- (RETURNING run_at is for the NOTIFY): the rest is known to the caller, which spares the
-- server serialising and the client parsing every payload again, and one array spares the
-- client a row object per job.
WITH ins AS (
  INSERT INTO {{schema}}.jobs ({{seq_column}}queue, name, payload, state, idempotency_key,
    partition_key, fair_key, partition, ordered, priority, run_at, has_deps, attempts,
    max_attempts, backoff, epoch, created_at, updated_at)
  SELECT {{seq_value}}x->>0, x->>1, x->2, 'pending', x->>3, x->>4,
    COALESCE(x->>4, ''), (x->>5)::int, (x->>6)::boolean, (x->>7)::bigint, (x->>8)::bigint,
    (x->>9)::boolean, 0, (x->>10)::int, NULLIF(x->11, 'null'::jsonb), 0, $2, $2
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, ord)
  ORDER BY e.ord
  RETURNING seq, queue, run_at
), {{> note src=ins channel=$3 instance=$4}}
SELECT array_agg(ins.seq ORDER BY ins.seq)::text[] AS seqs, (SELECT count(*) FROM note) AS notes
FROM ins

-- name: INSERT_JOBS
-- Many jobs (see the `insert_jobs` fragment), identities assigned in input order.
{{> insert_jobs seq_column="" seq_value=""}};

-- name: INSERT_JOBS_WITH_SEQ
-- Many jobs with the identities given (the 13th tuple element), as the enqueue transaction
-- reserved them for the ledger.
{{> insert_jobs seq_column="seq, " seq_value="(x->>12)::bigint, "}};

-- name: DEPENDENCY_STATES
-- The state of each dependency named by an enqueue ($1: their seqs).
SELECT seq::text AS seq, state FROM {{schema}}.jobs WHERE seq = ANY($1::bigint[]);

-- name: RESERVE_SEQS
-- $1 fresh job identities, for the ledger entries written before their jobs.
SELECT nextval(pg_get_serial_sequence('{{schema}}.jobs', 'seq'))::text AS seq
FROM generate_series(1, $1);

-- name: LEDGER_INSERT
-- Insert-first into the ledger, in key order (the caller sorts: no deadlock between racing
-- callers): a key being inserted by a concurrent transaction makes this wait for it, then lose
-- to it. Returns the entries won.
INSERT INTO {{schema}}.ledger (queue, key, job_seq, fingerprint, state)
SELECT t.queue, t.key, t.job_seq, t.fingerprint, 'pending'
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY
  AS t(queue, key, job_seq, fingerprint, ord)
ORDER BY t.ord
ON CONFLICT (queue, key) DO NOTHING RETURNING job_seq::text AS job_seq;

-- name: LEDGER_ENTRIES
-- The ledger entries of the keys an enqueue lost ($1 queues, $2 keys).
SELECT g.queue, g.key, g.job_seq::text AS job_seq, g.fingerprint, g.state, g.result
FROM {{schema}}.ledger g JOIN unnest($1::text[], $2::text[]) AS t(queue, key)
  ON g.queue = t.queue AND g.key = t.key;

-- name: INSERT_DEPS
-- The dependencies of the jobs created ($1 job, $2 the job it depends on).
INSERT INTO {{schema}}.job_deps (job_seq, depends_on)
SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING;

-- name: CANCEL_ON_ENQUEUE
-- Cancels the jobs just created ($1) that depend on a dead or cancelled job, with their
-- errors ($2), as the contract's cascade would have (lastError, a `cancelled` attempt).
-- $3: now; $4: whether attempts record payloads.
WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS t(seq, error)),
upd AS (
  UPDATE {{schema}}.jobs j SET state = 'cancelled', last_error = i.error, finished_at = $3,
    updated_at = $3
  FROM i WHERE j.seq = i.seq
  RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state,
    j.result, j.payload, j.last_error
), log AS (
  INSERT INTO {{schema}}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
    ended_at, outcome, error, payload)
  SELECT seq, queue, name, attempts, epoch, '', $3, $3, 'cancelled', last_error,
    {{> payload_if flag=$4}} FROM upd
)
{{> ledger_sync src=upd}};

-- name: JOBS_BY_SEQ
-- The jobs with the seqs of $1, with their dependencies.
SELECT j.*, {{> deps}} FROM {{schema}}.jobs j WHERE j.seq = ANY($1::bigint[]);
