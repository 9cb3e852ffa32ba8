-- Migration 4: job counts kept by triggers; ready jobs by run_at.
CREATE TABLE {{schema}}.job_counts (
  queue TEXT NOT NULL,
  part INTEGER NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (queue, part, state)
) WITHOUT ROWID;
INSERT INTO {{schema}}.job_counts (queue, part, state, n)
  SELECT queue, COALESCE(partition, -1), state, COUNT(*) FROM {{schema}}.jobs GROUP BY 1, 2, 3;
CREATE TRIGGER {{schema}}.jobs_count_insert AFTER INSERT ON {{schema}}.jobs BEGIN
  INSERT INTO {{schema}}.job_counts (queue, part, state, n)
    VALUES (new.queue, COALESCE(new.partition, -1), new.state, 1)
    ON CONFLICT (queue, part, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER {{schema}}.jobs_count_update AFTER UPDATE OF state, queue, partition ON {{schema}}.jobs
  WHEN old.state <> new.state OR old.queue <> new.queue OR old.partition IS NOT new.partition
BEGIN
  UPDATE {{schema}}.job_counts SET n = n - 1
    WHERE queue = old.queue AND part = COALESCE(old.partition, -1) AND state = old.state;
  INSERT INTO {{schema}}.job_counts (queue, part, state, n)
    VALUES (new.queue, COALESCE(new.partition, -1), new.state, 1)
    ON CONFLICT (queue, part, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER {{schema}}.jobs_count_delete AFTER DELETE ON {{schema}}.jobs BEGIN
  UPDATE {{schema}}.job_counts SET n = n - 1
    WHERE queue = old.queue AND part = COALESCE(old.partition, -1) AND state = old.state;
END;
CREATE INDEX {{schema}}.jobs_ready_run_at ON {{schema}}.jobs (run_at) WHERE state IN ('pending','failed');
