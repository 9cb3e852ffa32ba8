-- Migration 2: attempt payloads (recorded only with attemptPayloads: true).
ALTER TABLE {{schema}}.attempts ADD COLUMN payload TEXT;
