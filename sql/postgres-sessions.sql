-- The PostgreSQL table behind PostgresStore, as a migration: run it as the role that should own the
-- table (not the application's role), then give the application's role only
--   GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "sessions" TO your_app_role;
-- and create the store with { createTable: false }. {{table}} stands for the table name
-- (PostgresStore's `table` option, `sessions` by default). It is exactly
-- PostgresStore.schema('{{table}}'), which test/postgres-store.test.ts checks; .ci/services.sh runs it.
--
-- id is the SHA-256 of the session ID, never the ID itself; data maps each key of session.data to
-- the JSON text of its value; times are epoch milliseconds. fillfactor 90 keeps room on each page
-- for the next version of its rows, so that a save (which changes no indexed column unless the
-- expiry moves) stays a HOT update. For a table made before, ALTER TABLE "{{table}}" SET (fillfactor = 90).
CREATE TABLE IF NOT EXISTS "{{table}}" (
  id TEXT PRIMARY KEY,
  data JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  user_id TEXT
) WITH (fillfactor = 90);
CREATE INDEX IF NOT EXISTS "{{table}}_expires_at" ON "{{table}}" (expires_at);
CREATE INDEX IF NOT EXISTS "{{table}}_user_id" ON "{{table}}" (user_id) WHERE user_id IS NOT NULL;
