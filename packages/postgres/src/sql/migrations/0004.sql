-- Migration 4: attempt payloads.
--
-- Filled only by a store constructed with attemptPayloads: true.
ALTER TABLE {{schema}}.attempts ADD COLUMN payload jsonb;
