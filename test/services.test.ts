/**
 * The servers `.ci/services.sh` starts are the ones the issue asks for (#12), checked from the
 * outside before any store test relies on them:
 *   - REDIS_CLUSTER_URLS is a real Redis Cluster: three masters that together serve all 16384 hash
 *     slots, that a cluster client spreads keys over, and that refuses a command across slots.
 *   - DATABASE_URL_APP logs in as a least-privilege role: it may read and write the rows of the
 *     tables the migration made (PG_APP_TABLE, and any made with PG_APP_TABLE_CMD), and nothing
 *     more: no CREATE in any schema, no temporary tables, owner of nothing, no login without its
 *     password.
 * Without these variables the tests skip, saying why; under CI=true they fail instead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { createClient, createCluster } from 'redis';
import { requireDriver, uniqueName } from './services.js';

/** The variables, or undefined after registering a skip (a failure under CI=true) that says why. */
function environment<const K extends string>(title: string, names: readonly K[]): Record<K, string> | undefined {
  const missing = names.filter((name) => !process.env[name]);
  if (missing.length === 0) return Object.fromEntries(names.map((name) => [name, process.env[name]!])) as Record<K, string>;
  const reason = `${missing.join(', ')} not set; run \`source .ci/services.sh\` first`;
  if (process.env.CI === 'true') {
    test(`${title}: ${missing.join(', ')} set (required under CI=true)`, () => assert.fail(reason));
  } else {
    test(title, { skip: reason }, () => {});
  }
  return undefined;
}

const TOTAL_SLOTS = 16384;

const cluster = environment('the Redis Cluster', ['REDIS_CLUSTER_URLS']);
if (cluster) {
  const urls = cluster.REDIS_CLUSTER_URLS.split(',');

  describe('the Redis Cluster of .ci/services.sh', () => {
    test('three nodes, each reporting cluster_state:ok with every slot served', async () => {
      assert.equal(urls.length, 3, `REDIS_CLUSTER_URLS lists ${urls.length} nodes: ${urls.join(' ')}`);
      for (const url of urls) {
        const client = await createClient({ url }).connect();
        try {
          const info = String(await client.sendCommand(['CLUSTER', 'INFO']));
          const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
          assert.equal(field('cluster_state'), 'ok', `${url}:\n${info}`);
          assert.equal(field('cluster_slots_assigned'), String(TOTAL_SLOTS), url);
          assert.equal(field('cluster_slots_ok'), String(TOTAL_SLOTS), url);
          assert.equal(field('cluster_known_nodes'), '3', url);
          assert.equal(field('cluster_size'), '3', `${url}: masters serving slots`);
        } finally {
          await client.quit();
        }
      }
    });

    test('three masters, no replica, and each slot is served by exactly one of them', async () => {
      const client = await createClient({ url: urls[0] }).connect();
      let nodes: string;
      try {
        nodes = String(await client.sendCommand(['CLUSTER', 'NODES']));
      } finally {
        await client.quit();
      }
      // One line per node: id address flags master-id ping pong epoch link-state slot...
      const lines = nodes.trim().split('\n');
      const masters = lines.filter((line) => line.split(' ')[2]!.split(',').includes('master'));
      assert.equal(lines.length, 3, nodes);
      assert.equal(masters.length, 3, nodes);
      const owners = new Array<number>(TOTAL_SLOTS).fill(0);
      for (const line of masters) {
        for (const range of line.split(' ').slice(8)) {
          const [from, to = from] = range.split('-').map(Number);
          for (let slot = from!; slot <= to!; slot++) owners[slot]!++;
        }
      }
      const unserved = owners.filter((count) => count === 0).length;
      const doubled = owners.filter((count) => count > 1).length;
      assert.deepEqual({ unserved, doubled }, { unserved: 0, doubled: 0 }, nodes);
    });

    test("node-redis's cluster client spreads keys over all three masters; a node refuses a command across slots", async () => {
      const client = createCluster({ rootNodes: urls.map((url) => ({ url })) });
      await client.connect();
      const prefix = uniqueName('services-check');
      try {
        // 60 keys: the chance that they miss one master of three is 3 × (2/3)^60, about 1e-10.
        const keys = Array.from({ length: 60 }, (_, i) => `${prefix}:${i}`);
        for (const key of keys) await client.set(key, key, { PX: 60_000 });
        for (const key of keys) assert.equal(await client.get(key), key);

        // Which node holds which key: a node answers EXISTS only for its own slots (MOVED otherwise).
        const perNode: number[] = [];
        const slots = new Map<string, number>();
        for (const url of urls) {
          const node = await createClient({ url }).connect();
          try {
            let held = 0;
            for (const key of keys) {
              slots.set(key, Number(await node.sendCommand(['CLUSTER', 'KEYSLOT', key])));
              held += await node.sendCommand(['EXISTS', key]).then(Number, (error: Error) => {
                assert.match(error.message, /^MOVED /);
                return 0;
              });
            }
            perNode.push(held);
          } finally {
            await node.quit();
          }
        }
        assert.equal(perNode.reduce((a, b) => a + b, 0), keys.length, `each key on exactly one node: ${perNode}`);
        assert.ok(perNode.every((held) => held > 0), `keys on every master: ${perNode}`);

        // Two keys in different slots in one command: a real cluster node answers CROSSSLOT. (Asked
        // of one node directly: node-redis's cluster client splits a multi-key DEL by slot itself.)
        const first = keys[0]!;
        const other = keys.find((key) => slots.get(key) !== slots.get(first))!;
        const node = await createClient({ url: urls[0] }).connect();
        try {
          await assert.rejects(node.sendCommand(['DEL', first, other]), { message: /^CROSSSLOT / });
        } finally {
          await node.quit();
        }
      } finally {
        for (let i = 0; i < 60; i++) await client.del(`${prefix}:${i}`);
        await client.close();
      }
    });
  });
}

interface QueryResult {
  rows: Array<Record<string, unknown>>;
  rowCount: number | null;
}
interface Pool {
  query(text: string, params?: unknown[]): Promise<QueryResult>;
  end(): Promise<void>;
}
type PoolClass = new (options: { connectionString: string; max?: number }) => Pool;

const pg = environment('the least-privilege PostgreSQL role', [
  'DATABASE_URL',
  'DATABASE_URL_APP',
  'PG_APP_ROLE',
  'PG_APP_TABLE',
  'PG_APP_TABLE_CMD',
]);
if (pg) {
  const { Pool } = requireDriver('pg') as { Pool: PoolClass };
  const app = new Pool({ connectionString: pg.DATABASE_URL_APP, max: 2 });
  const admin = new Pool({ connectionString: pg.DATABASE_URL, max: 1 });
  const extraTables: string[] = [];
  after(async () => {
    for (const table of extraTables) await admin.query(`DROP TABLE IF EXISTS "${table}"`);
    await Promise.all([app.end(), admin.end()]);
  });

  /** Rejects with PostgreSQL's insufficient_privilege (42501) and a message matching `message`. */
  async function denied(sql: string, message: RegExp): Promise<void> {
    await assert.rejects(app.query(sql), (error: { code?: string; message: string }) => {
      assert.equal(error.code, '42501', `${sql}: ${error.message}`);
      assert.match(error.message, message);
      return true;
    });
  }

  /** SELECT, INSERT, UPDATE and DELETE on `table` as the app role, in the columns of today's schema. */
  async function readWrite(table: string): Promise<void> {
    const id = uniqueName('row');
    const t = `"${table}"`;
    await app.query(`INSERT INTO ${t} (id, data, created_at, expires_at, user_id) VALUES ($1, '{}', 1, $2, 'u1')`, [id, Date.now() + 60_000]);
    const updated = await app.query(`UPDATE ${t} SET data = data || '{"a":"1"}' WHERE id = $1`, [id]);
    assert.equal(updated.rowCount, 1);
    const { rows } = await app.query(`SELECT data, user_id FROM ${t} WHERE id = $1`, [id]);
    assert.deepEqual(rows, [{ data: { a: '1' }, user_id: 'u1' }]);
    const deleted = await app.query(`DELETE FROM ${t} WHERE id = $1`, [id]);
    assert.equal(deleted.rowCount, 1);
  }

  describe('the least-privilege PostgreSQL role of .ci/services.sh', () => {
    test('is who DATABASE_URL_APP logs in as, and has no role attribute beyond LOGIN', async () => {
      const { rows } = await app.query(
        `SELECT current_user AS name, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls
           FROM pg_roles WHERE rolname = current_user`,
      );
      assert.deepEqual(rows[0], {
        name: pg.PG_APP_ROLE,
        rolsuper: false,
        rolcreatedb: false,
        rolcreaterole: false,
        rolreplication: false,
        rolbypassrls: false,
      });
      const { rows: memberships } = await app.query(
        'SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)',
      );
      assert.deepEqual(memberships, [], 'member of no other role (pg_write_server_files, ...)');
    });

    test('needs its password: a wrong one is refused', async () => {
      const url = new URL(pg.DATABASE_URL_APP);
      url.password = 'wrong';
      const stranger = new Pool({ connectionString: url.href, max: 1 });
      try {
        await assert.rejects(stranger.query('SELECT 1'), { code: '28P01' }); // invalid_password
      } finally {
        await stranger.end();
      }
    });

    test('SELECT, INSERT, UPDATE and DELETE on the pre-created table', async () => {
      await readWrite(pg.PG_APP_TABLE);
    });

    test('exactly those four privileges on it, and it owns it not', async () => {
      const { rows } = await app.query(
        `SELECT tableowner, current_user AS me,
           ARRAY(SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
                 WHERE has_table_privilege(current_user, format('%I', tablename), p)) AS privileges
         FROM pg_tables WHERE schemaname = 'public' AND tablename = $1`,
        [pg.PG_APP_TABLE],
      );
      assert.equal(rows.length, 1, `table ${pg.PG_APP_TABLE} exists in schema public`);
      assert.notEqual(rows[0]!.tableowner, rows[0]!.me);
      assert.deepEqual(rows[0]!.privileges, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
      const { rows: owned } = await app.query(
        `SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)`,
      );
      assert.deepEqual(owned, [], 'the role owns no table, index or sequence');
    });

    test('CREATE TABLE is denied in schema public, and CREATE is granted on no schema', async () => {
      await denied(`CREATE TABLE "${uniqueName('nope')}" (id TEXT)`, /permission denied for schema public/);
      await denied(`CREATE TABLE IF NOT EXISTS "${pg.PG_APP_TABLE}" (id TEXT)`, /permission denied for schema public/);
      const { rows } = await app.query(`SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE')`);
      assert.deepEqual(rows, []);
    });

    test('no DDL on the table (not its owner), no temporary tables, no schema of its own', async () => {
      const t = `"${pg.PG_APP_TABLE}"`;
      await denied(`CREATE INDEX ON ${t} (created_at)`, /must be owner of table/);
      await denied(`ALTER TABLE ${t} ADD COLUMN extra TEXT`, /must be owner of table/);
      await denied(`DROP TABLE ${t}`, /must be owner of table/);
      await denied(`TRUNCATE ${t}`, /permission denied for table/);
      await denied('CREATE TEMP TABLE scratch (id TEXT)', /permission denied to create temporary tables/);
      await denied(`CREATE SCHEMA "${uniqueName('nope')}"`, /permission denied for database/);
    });

    test('PG_APP_TABLE_CMD migrates one more table, owned by the superuser, with the same grants', async () => {
      const table = uniqueName('sessions_extra');
      extraTables.push(table);
      execFileSync(pg.PG_APP_TABLE_CMD, [table], { stdio: 'pipe', timeout: 30_000 });
      await readWrite(table);
      const { rows } = await admin.query(
        `SELECT tableowner, (SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes WHERE tablename = $1) AS indexes
           FROM pg_tables WHERE tablename = $1`,
        [table],
      );
      assert.equal(rows[0]!.tableowner, 'postgres');
      // The migration's indexes (sql/postgres-sessions.sql) came along with the table.
      assert.ok((rows[0]!.indexes as string[]).length >= 2, `indexes: ${rows[0]!.indexes}`);
      await denied(`DROP TABLE "${table}"`, /must be owner of table/);
    });

    test('PG_APP_TABLE_CMD refuses a name that is not a plain identifier', () => {
      assert.throws(() => execFileSync(pg.PG_APP_TABLE_CMD, ['x"; DROP TABLE y; --'], { stdio: 'pipe', timeout: 30_000 }), /not a table name/);
    });
  });
}
