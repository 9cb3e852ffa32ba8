-- Migration 6: chunks issued on demand.
ALTER TABLE {{schema}}.runs ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
UPDATE {{schema}}.runs SET issued = chunks;
