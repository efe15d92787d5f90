-- The PostgreSQL table behind PostgresStore, as a migration: run it as the role that should own
-- the table (not the application's role), then grant the application's role only
--   GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "sessions" TO your_app_role;
-- {{table}} stands for the table name (PostgresStore's `table` option, `sessions` by default):
-- replace every {{table}} before running. .ci/services.sh does exactly that (see its header).
--
-- PROVISIONAL: today's schema, written for the CI setup; the core rewrite (issues #11, #12)
-- owns this DDL and replaces this file.
--
-- id is the SHA-256 of the session ID, never the ID itself; times are epoch milliseconds.
CREATE TABLE "{{table}}" (
  id TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  user_id TEXT
);
-- The sweep of expired rows, and every read (expires_at > now).
CREATE INDEX "{{table}}_expires_at" ON "{{table}}" (expires_at);
-- idsOfUser / deleteUser; partial, because most sessions belong to nobody.
CREATE INDEX "{{table}}_user_id" ON "{{table}}" (user_id) WHERE user_id IS NOT NULL;
