-- Migration 8: retry delay of the last failed attempt.
--
-- The worker's backoff gets it as previousDelayMs, so a growing backoff grows across
-- attempts whichever worker runs the retry (FailInput.delayMs; 0 after requeue / replay).
-- A constant default: no table rewrite (PostgreSQL 11+).
ALTER TABLE {{schema}}.jobs ADD COLUMN retry_delay_ms bigint NOT NULL DEFAULT 0;
