/**
 * The package as users get it: a copy of the project with nothing built, packed by npm the way
 * `npm publish` packs it (its `prepare` script builds dist/ first). Working on a copy keeps the
 * repo's own dist/ and build/ untouched while the test suite runs.
 */
import { execFile } from 'node:child_process';
import { cpSync, symlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ROOT } from './example-runner.js';

export { ROOT };

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects for a non-zero exit (the caller asserts on `code`). */
export function run(command: string, args: string[], options: { cwd: string; timeout: number; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr: error !== null && code === null ? `${stderr}\n${error.message}` : stderr });
    });
  });
}

/** What is not part of a fresh clone: installed, built or generated. */
const NOT_IN_A_CLONE = new Set(['node_modules', 'dist', 'build', '.git', 'test-results', '.tmp']);

/**
 * Copies the project into `into` as a fresh clone has it (no dist/, no build/), sharing the repo's
 * node_modules through a symlink so that the copy's `prepare` can run tsc without an install.
 */
export function copyProject(into: string): void {
  cpSync(ROOT, into, {
    recursive: true,
    filter: (source) => {
      const path = relative(ROOT, source);
      return path === '' || !NOT_IN_A_CLONE.has(path.split(sep)[0]!);
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
}

export interface Packed {
  filename: string;
  /** Bytes of the .tgz, and of its files unpacked. */
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

/**
 * `npm pack` in `project` (a copy from copyProject), lifecycle scripts included, so `prepare` builds.
 * `destination` writes the tarball there; without it, a dry run that only lists the files.
 */
export async function pack(project: string, destination?: string): Promise<Packed> {
  const args = ['pack', '--json', ...(destination ? ['--pack-destination', destination] : ['--dry-run'])];
  const result = await run('npm', args, { cwd: project, timeout: 120_000 });
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`);
  // npm prints the lifecycle scripts' banners on stderr and the JSON alone on stdout.
  const [packed] = JSON.parse(result.stdout) as Packed[];
  if (!packed) throw new Error(`npm pack printed no package:\n${result.stdout}`);
  return packed;
}
