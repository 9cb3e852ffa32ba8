-- Migration 3: index of the unfinished runs.
--
-- A claim of chunks finishes the runs whose chunks are all done (a chunk completion does
-- it too, after its commit, but a crash may fall between the two): it walks the
-- unfinished runs only.
CREATE INDEX CONCURRENTLY IF NOT EXISTS runs_open ON {{schema}}.runs (seq)
  WHERE state IN ('running', 'paused');
