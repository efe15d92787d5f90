/**
 * Where the real servers are, for tests that need one. `.ci/services.sh` starts Redis and
 * PostgreSQL and exports their URLs; run `source .ci/services.sh` in your shell to get them locally.
 *
 * Without a URL the tests skip, saying so loudly. Under `CI=true` they fail instead: in CI a
 * missing server means the setup is broken, and a green run that tested nothing would hide it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { after, test } from 'node:test';

export type ServiceVariable = 'REDIS_URL' | 'DATABASE_URL' | 'REDIS_CLUSTER_URLS' | 'DATABASE_URL_APP';

/**
 * The URL in `variable`, or `undefined` after registering a test that skips (locally) or fails
 * (under CI=true) with the reason. Call it at the top level of a test file and wrap the server's
 * tests in `if (url)`.
 */
export function serviceUrl(variable: ServiceVariable): string | undefined {
  const url = process.env[variable];
  if (url) return url;
  const reason = `${variable} is not set; run \`source .ci/services.sh\` first to start real servers`;
  if (process.env.CI === 'true') {
    test(`${variable} is set (required under CI=true)`, () => {
      assert.fail(`${reason}. Under CI=true a missing server is a failure, not a skip.`);
    });
  } else {
    console.warn(`\n*** SKIPPING tests that need ${variable}: ${reason} ***\n`);
    test(`tests needing ${variable}`, { skip: reason }, () => {});
  }
  return undefined;
}

/**
 * Runs one of the outage helpers exported by `.ci/services.sh` (REDIS_STOP_CMD, REDIS_START_CMD,
 * PG_STOP_CMD, PG_START_CMD). Each returns once the server is down or accepting connections again.
 */
export function runServiceCommand(variable: 'REDIS_STOP_CMD' | 'REDIS_START_CMD' | 'PG_STOP_CMD' | 'PG_START_CMD'): void {
  const command = process.env[variable];
  if (!command) throw new Error(`${variable} is not set; run \`source .ci/services.sh\` first`);
  execFileSync(command, { stdio: 'inherit', timeout: 60_000 });
}

/**
 * Loads a CommonJS dev dependency typed by the caller's own minimal interface. The drivers ship no
 * types we depend on (no @types/pg or @types/better-sqlite3), and the tests only need a few methods.
 */
export const requireDriver = createRequire(import.meta.url) as (name: string) => unknown;

/** A name no other test run uses: for tables and key prefixes on a shared server. */
export function uniqueName(base: string): string {
  return `${base}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Remembers table names and drops those tables once the file's tests are done: for tests whose
 * servers (child processes) make their own tables in PostgreSQL at `databaseUrl`.
 */
export function tablesDroppedAfter(databaseUrl: string): string[] {
  const tables: string[] = [];
  after(async () => {
    const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string }) => { query(sql: string): Promise<unknown>; end(): Promise<void> } };
    const pool = new Pool({ connectionString: databaseUrl });
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });
  return tables;
}
