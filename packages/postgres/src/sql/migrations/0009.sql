-- Migration 9: chunks issued on demand.
--
-- createRun wrote every chunk row up front (a run of 1e12 items / chunk 1 would never end);
-- now a claim writes the next rows when it first leases them. Runs created before this
-- migration have all their rows: issued = chunks.
ALTER TABLE {{schema}}.runs ADD COLUMN issued bigint NOT NULL DEFAULT 0;
UPDATE {{schema}}.runs SET issued = chunks;
