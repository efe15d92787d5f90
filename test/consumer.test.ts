/**
 * The package from a user's side (issue #13): `npm pack` the project, install the tarball in a
 * scratch project (package.json "type": "module") next to TypeScript from the registry, and
 *   - check that test/fixtures/consumer/src/consumer.ts imports every public export, of every
 *     `exports` subpath, listed at test time from the package's own .d.ts;
 *   - compile it, and a typed counter example, with strict, NodeNext and skipLibCheck: false, under
 *     the newest TypeScript 5 and under the TypeScript this repo builds with;
 *   - run the compiled counter, and examples/counter/server.js as it is, from the installed
 *     package over a real socket.
 * Needs the npm registry (TypeScript 5 and @types/node are installed at test time, into a temporary
 * folder removed afterwards; nothing is cached in the repo). Takes a while: bounded by timeouts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from './helpers.js';
import { copyProject, pack, ROOT, run, type Ran } from './package-helpers.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'consumer');
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

interface Compiler {
  label: string;
  /** The tsc entry script, run with this Node. */
  tsc: string;
  version: string;
  result: Ran;
  outDir: string;
}

/** Starts `node <script>` in `cwd` on a free port; resolves with its URL and a stop function. */
function start(script: string, cwd: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [script], { cwd, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (void stop(), reject(new Error(`${script} did not start:\n${output}`))), 15_000);
    child.stderr.on('data', (chunk) => (output += chunk));
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /http:\/\/localhost:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${match[1]}`, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}:\n${output}`));
    });
  });
}

/** One visitor counts to three with its cookie; another starts at one. */
async function countsPerVisitor(script: string, cwd: string): Promise<void> {
  const app = await start(script, cwd);
  try {
    const alice = new Client(app.url);
    const first = await alice.get('/');
    assert.equal(first.status, 200);
    assert.ok(alice.jar.size === 1, `the first visit sets the session cookie: ${first.setCookies.join(' | ')}`);
    await alice.get('/');
    assert.match((await alice.get('/')).body, /here 3 time/);
    assert.match((await new Client(app.url).get('/')).body, /here 1 time/);
  } finally {
    await app.stop();
  }
}

describe('the packed tarball in a scratch project', { timeout: 600_000 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'plain-session-consumer-'));
  const consumer = join(scratch, 'consumer');
  const compilers: Compiler[] = [];
  let exportsBySpecifier: Record<string, { declared: string[]; runtime: string[]; imported: string[] }>;
  after(() => rmSync(scratch, { recursive: true, force: true }));

  before(async () => {
    // 1. The tarball, packed as `npm publish` would pack it, from a copy with nothing built.
    copyProject(join(scratch, 'project'));
    const { filename } = await pack(join(scratch, 'project'), scratch);

    // 2. A scratch ES-module project that installs it, with TypeScript 5 and Node's types.
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    cpSync(join(FIXTURE, 'src'), join(consumer, 'src'), { recursive: true });
    copyFileSync(join(FIXTURE, 'tsconfig.json'), join(consumer, 'tsconfig.json'));
    copyFileSync(join(FIXTURE, 'list-exports.mjs'), join(consumer, 'list-exports.mjs'));
    copyFileSync(join(ROOT, 'examples', 'counter', 'server.js'), join(consumer, 'counter-example.js'));
    const install = await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', join(scratch, filename), 'typescript@5', `@types/node@${rootPackage.devDependencies['@types/node']}`],
      { cwd: consumer, timeout: 300_000 },
    );
    assert.equal(install.code, 0, `npm install in the scratch project failed:\n${install.stderr}`);

    // 3. Compile with each TypeScript. tsc exits non-zero on a type error but still emits.
    for (const [label, tsc] of [
      ['TypeScript 5 (newest, from the registry)', join(consumer, 'node_modules', 'typescript', 'bin', 'tsc')],
      ["the repo's TypeScript", join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')],
    ] as const) {
      const version = (await run(process.execPath, [tsc, '--version'], { cwd: consumer, timeout: 60_000 })).stdout.trim();
      const outDir = join(consumer, `out-${compilers.length}`);
      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--outDir', outDir], { cwd: consumer, timeout: 120_000 });
      compilers.push({ label, tsc, version, result, outDir });
    }

    const listed = await run(process.execPath, ['list-exports.mjs', join(consumer, 'src', 'consumer.ts')], { cwd: consumer, timeout: 60_000 });
    assert.equal(listed.code, 0, `list-exports.mjs failed:\n${listed.stderr}`);
    exportsBySpecifier = JSON.parse(listed.stdout) as typeof exportsBySpecifier;
  });

  test('consumer.ts imports every export of every entry point, as the .d.ts lists them', (t) => {
    assert.ok(Object.keys(exportsBySpecifier).length > 0, 'package.json has exports');
    for (const [specifier, { declared, imported }] of Object.entries(exportsBySpecifier)) {
      t.diagnostic(`${specifier}: ${declared.length} exports`);
      const missing = declared.filter((name) => !imported.includes(name));
      assert.deepEqual(missing, [], `test/fixtures/consumer/src/consumer.ts does not import these exports of ${specifier}: add typed usage of them`);
    }
  });

  test('the JavaScript exports are all declared in the .d.ts', () => {
    for (const [specifier, { declared, runtime }] of Object.entries(exportsBySpecifier)) {
      assert.ok(runtime.length > 0, `${specifier} exports values`);
      assert.deepEqual(runtime.filter((name) => !declared.includes(name)), [], `${specifier}: exported at run time, missing from the types`);
    }
  });

  for (const index of [0, 1]) {
    test(`compiles with strict, NodeNext, ES modules and skipLibCheck: false under ${index === 0 ? 'TypeScript 5' : "the repo's TypeScript"}`, (t) => {
      const compiler = compilers[index]!;
      t.diagnostic(`${compiler.label}: ${compiler.version}`);
      assert.match(compiler.version, index === 0 ? /^Version 5\./ : /^Version \d/);
      assert.equal(compiler.result.code, 0, `tsc (${compiler.version}) reports errors:\n${compiler.result.stdout}${compiler.result.stderr}`);
    });
  }

  test('the compiled counter, and examples/counter/server.js as it is, count visits over a real socket', async () => {
    for (const compiler of compilers) await countsPerVisitor(join(compiler.outDir, 'counter.js'), consumer);
    await countsPerVisitor('counter-example.js', consumer);
  });
});
