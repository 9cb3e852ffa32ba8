-- The migration bookkeeping (the migrations themselves are in migrations/).

-- name: CREATE_SCHEMA
CREATE SCHEMA IF NOT EXISTS {{schema}};

-- name: CREATE_MIGRATIONS_TABLE
CREATE TABLE IF NOT EXISTS {{schema}}.migrations (
  version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL);

-- name: SCHEMA_VERSION
-- The highest migration version applied (NULL: none).
SELECT max(version) AS v FROM {{schema}}.migrations;

-- name: RECORD_MIGRATION
-- Records migration $1 named $2 as applied at $3.
INSERT INTO {{schema}}.migrations (version, name, applied_at) VALUES ($1, $2, $3);

-- name: TRY_MIGRATION_LOCK
-- The session advisory lock of the schema's migrations ($1: its key), without waiting.
SELECT pg_try_advisory_lock(hashtext($1)) AS ok;

-- name: INDEX_VALID
-- Whether index $2 of schema $1 is valid (no row: it does not exist).
SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = $1 AND x.relname = $2;
