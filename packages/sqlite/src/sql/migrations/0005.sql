-- Migration 5: retry delay of the last failed attempt.
ALTER TABLE {{schema}}.jobs ADD COLUMN retry_delay_ms INTEGER NOT NULL DEFAULT 0;
