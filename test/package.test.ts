/**
 * What `npm pack` / `npm publish` ship (issue #13): the built code and its types, the README and the
 * licence; no tests, benchmarks, test builds, sources or source maps. Packed from a copy of the
 * project with nothing built, so the test also proves that `prepare` builds dist/ on its own, as
 * it must for a publish or an install from git.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyProject, pack, ROOT, type Packed } from './package-helpers.js';

interface PackageJson {
  license?: string;
  main?: string;
  types?: string;
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

describe('npm pack', { timeout: 180_000 }, () => {
  let project: string;
  let packed: Packed;
  let paths: string[];
  const scratch = mkdtempSync(join(tmpdir(), 'plain-session-pack-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  before(async () => {
    project = join(scratch, 'project');
    copyProject(project);
    packed = await pack(project);
    paths = packed.files.map((file) => file.path).sort();
  });

  test('builds dist/ by itself (prepare), from a copy of the project with nothing built', (t) => {
    assert.ok(packageJson.scripts?.prepare, 'package.json has a prepare script');
    assert.ok(paths.includes('dist/index.js'), `dist/index.js is packed; got ${paths.join(', ')}`);
    assert.ok(paths.includes('dist/index.d.ts'), 'dist/index.d.ts is packed');
    t.diagnostic(`${packed.filename}: ${paths.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
    t.diagnostic(paths.join(' '));
  });

  test('ships no test, benchmark, test build, TypeScript source or source map', () => {
    const unwanted = paths.filter(
      (path) =>
        /^(test|bench|build|lib|examples|docs|\.ci|sql)\//.test(path) ||
        /\.map$/.test(path) ||
        /\.tsbuildinfo$/.test(path) ||
        (/\.ts$/.test(path) && !/\.d\.ts$/.test(path)),
    );
    assert.deepEqual(unwanted, []);
  });

  test('every file that package.json points to is in the package', () => {
    const targets = [packageJson.main, packageJson.types];
    for (const target of Object.values(packageJson.exports ?? {})) {
      targets.push(...(typeof target === 'string' ? [target] : Object.values(target)));
    }
    for (const target of targets) {
      assert.ok(target, 'main and types are set');
      assert.ok(paths.includes(target.replace(/^\.\//, '')), `${target} is packed`);
    }
  });

  test('the shipped .js name no source map (none is shipped)', () => {
    const dist = join(project, 'dist');
    const pointing = readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.js') && readFileSync(join(dist, file), 'utf8').includes('sourceMappingURL'));
    assert.deepEqual(pointing, []);
  });

  test('carries the MIT licence package.json names, and no runtime dependency', () => {
    assert.ok(paths.includes('LICENSE'));
    assert.ok(paths.includes('README.md'));
    assert.equal(packageJson.license, 'MIT');
    assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} the plain-session authors\n/);
    assert.deepEqual(Object.keys(packageJson.dependencies ?? {}), [], 'dependencies stay empty: a promise to users');
  });
});
