-- Migration 5: dependents index.
--
-- A job that goes dead or cancelled cancels its dependents: found by depends_on.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_deps_dependents ON {{schema}}.job_deps (depends_on);
