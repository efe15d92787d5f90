/**
 * The reporter `npm test` uses (`node --test --test-reporter=./build/test/reporter.js`): quiet when
 * all is well, complete when it is not, the same in a CI log and in a terminal.
 *
 *   - one line per test file: passed, failed, skipped, todo, and how long it took;
 *   - every skip with its reason, a skipped suite included (Node's own summary counts a skipped
 *     `describe` as a suite, not a skip, and so says "skipped 0" when the browser suite is off);
 *   - every failure in full: the test's path, where it is, and the error as Node prints it
 *     (message, diff, stack, cause), followed by what that file wrote to stdout/stderr;
 *   - totals, which count a timed-out test or a failed hook as failed, and list tests cancelled
 *     because their parent failed separately.
 * Output of files that pass is not shown; `TEST_OUTPUT=all` shows it for every file.
 *
 * Written for Node 20 and 24, with `--test-concurrency=1` (files one after another). A test's
 * `data.file` names the file that *declared* it, which for a shared suite (the store contract) is
 * a helper, not the test file; so results are gathered until the event that closes a test file
 * (Node 20: `test:complete` for the file itself; Node 24: `test:summary`), and the file's line is
 * printed when the next file starts, since a failure of the file itself (a load error, a crash)
 * is reported just after that event.
 */
import { relative, resolve } from 'node:path';
import { inspect } from 'node:util';
import type { TestEvent } from 'node:test/reporters';

interface Problem {
  /** The test's path inside its file: describe › test. */
  title: string;
  where: string;
  error: unknown;
}

interface FileReport {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  todo: number;
  cancelled: number;
  failures: Problem[];
  cancellations: string[];
  skips: string[];
  diagnostics: string[];
  output: string[];
  seconds: number;
}

const color = process.stdout.isTTY === true && !('NO_COLOR' in process.env);
const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const red = (text: string) => paint(31, text);
const green = (text: string) => paint(32, text);
const yellow = (text: string) => paint(33, text);
const dim = (text: string) => paint(2, text);
const indent = (text: string, by = '    ') => text.replace(/^(?=.)/gm, by);
const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/** The fields of the test events that this reporter reads (their shapes differ a little between Node versions). */
interface EventData {
  name?: string;
  nesting?: number;
  file?: string;
  line?: number;
  column?: number;
  message?: string;
  skip?: string | boolean;
  todo?: string | boolean;
  details?: { type?: string; error?: Error & { failureType?: string; cause?: unknown } };
}

const newReport = (): FileReport => ({
  ...{ name: '', passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0, seconds: 0 },
  ...{ failures: [], cancellations: [], skips: [], diagnostics: [], output: [] },
});

export default async function* summaryReporter(source: AsyncIterable<TestEvent | { type: 'test:summary'; data: EventData }>) {
  const showAllOutput = process.env.TEST_OUTPUT === 'all';
  const started = Date.now();
  let closedAt = started;
  /** Closed test files, by absolute path; a file's output is gathered here from the start. */
  const files = new Map<string, FileReport>();
  const outputs = new Map<string, string[]>();
  /** Results since the last file closed: they belong to the next file to close. */
  let open = newReport();
  /** Names of the tests (and suites) open at each nesting level, for failure titles. */
  const stack: string[] = [];
  /** Closed files whose lines are not printed yet. */
  const unprinted: FileReport[] = [];

  const pathOf = (data: EventData) => (data.file === undefined ? undefined : resolve(data.file));
  const nameOf = (path: string) => relative(process.cwd(), path);
  // An event about a test file as a whole (its process), not about a test declared in it.
  const isFileItself = (data: EventData) =>
    data.nesting === 0 && data.file !== undefined && data.name !== undefined && resolve(data.name) === resolve(data.file);
  const titleOf = (data: EventData) => [...stack.slice(0, data.nesting ?? 0), data.name ?? '?'].join(' › ');
  const whereOf = (data: EventData) => (data.file === undefined ? '' : `${nameOf(resolve(data.file))}:${data.line ?? '?'}:${data.column ?? '?'}`);

  function close(path: string): void {
    if (files.has(path)) return; // Node 24 closes a file twice when it fails: test:summary, then test:complete
    open.name = nameOf(path);
    open.output = outputs.get(path) ?? [];
    open.seconds = (Date.now() - closedAt) / 1000;
    closedAt = Date.now();
    files.set(path, open);
    unprinted.push(open);
    open = newReport();
    stack.length = 0;
  }

  function* printLines(): Generator<string> {
    for (const report of unprinted.splice(0)) yield* printLine(report);
  }

  function* printLine(report: FileReport): Generator<string> {
    const counts = [
      `${report.passed} passed`,
      report.failed > 0 ? red(`${report.failed} failed`) : '',
      report.cancelled > 0 ? red(`${report.cancelled} cancelled`) : '',
      report.skipped > 0 ? yellow(`${report.skipped} skipped`) : '',
      report.todo > 0 ? yellow(`${report.todo} todo`) : '',
    ].filter(Boolean);
    const ok = report.failed === 0 && report.cancelled === 0;
    yield `${ok ? green('✔') : red('✖')} ${report.name}  ${counts.join(', ')}  ${dim(`(${report.seconds.toFixed(1)} s)`)}\n`;
    for (const line of report.diagnostics) yield dim(indent(`ℹ ${line}`)) + '\n';
  }

  for await (const event of source) {
    const data = event.data as EventData;
    const path = pathOf(data);
    // The first event of the next file: the previous file can have nothing more to report.
    if (unprinted.length > 0 && (event.type === 'test:start' || event.type === 'test:pass' || event.type === 'test:fail') && !isFileItself(data)) {
      yield* printLines();
    }
    switch (event.type) {
      case 'test:start':
        if (isFileItself(data)) break;
        stack.length = data.nesting ?? 0;
        stack.push(data.name ?? '?');
        break;
      case 'test:pass':
      case 'test:fail': {
        const error = data.details?.error;
        const failureType = error?.failureType;
        const isSuite = data.details?.type === 'suite';
        if (isFileItself(data)) {
          // The file's process failed outside any test (a load error, a crash, an exit code). A file
          // whose tests failed says so too (subtestsFailed): those failures are listed already.
          if (event.type === 'test:fail' && failureType !== 'subtestsFailed' && path !== undefined) {
            const report = files.get(path) ?? open;
            report.failed++;
            report.failures.push({ title: 'its process failed outside any test (its output is below)', where: whereOf(data), error });
            if (report === open) close(path);
          }
          break;
        }
        if (data.todo !== undefined && data.todo !== false) {
          open.todo++;
          open.skips.push(`${titleOf(data)} ${dim('(todo)')}: ${data.todo === true ? 'no reason given' : data.todo}`);
        } else if (data.skip !== undefined && data.skip !== false) {
          open.skipped++;
          open.skips.push(`${titleOf(data)}${isSuite ? dim(' (a whole suite)') : ''}: ${data.skip === true ? 'no reason given' : data.skip}`);
        } else if (event.type === 'test:pass') {
          if (!isSuite) open.passed++;
        } else if (failureType === 'subtestsFailed') {
          // A suite or test whose subtests failed: those are listed themselves.
        } else if (failureType === 'cancelledByParent') {
          open.cancelled++;
          open.cancellations.push(titleOf(data));
        } else {
          open.failed++;
          open.failures.push({ title: titleOf(data), where: whereOf(data), error });
        }
        break;
      }
      case 'test:stdout':
      case 'test:stderr':
        if (path !== undefined && data.message !== undefined) {
          if (!outputs.has(path)) outputs.set(path, []);
          outputs.get(path)!.push(data.message);
        }
        break;
      case 'test:diagnostic':
        // Without a file, these are Node's own totals; this reporter counts for itself.
        if (path !== undefined && data.message !== undefined) open.diagnostics.push(data.message);
        break;
      case 'test:summary': // Node 24: the end of one file (and, without a file, of the run)
        if (path !== undefined) close(path);
        break;
      case 'test:complete': // Node 20: the file itself completes after its tests
        if (path !== undefined && isFileItself(data)) close(path);
        break;
    }
  }
  yield* printLines();
  if (open.passed + open.failed + open.skipped + open.todo + open.cancelled > 0) {
    // Results no file claimed (should not happen with --test-concurrency=1): shown, not lost.
    open.name = '(tests outside any closed file)';
    files.set('', open);
    yield* printLine(open);
  }

  const all = [...files.values()];
  const sum = (key: 'passed' | 'failed' | 'skipped' | 'todo' | 'cancelled') => all.reduce((total, report) => total + report[key], 0);
  const skips = all.flatMap((report) => report.skips.map((line) => `${report.name} › ${line}`));
  if (skips.length > 0) {
    yield `\n${yellow(`Skipped (${skips.length})`)}\n`;
    for (const line of skips) yield `  ﹣ ${line}\n`;
  }
  const cancellations = all.flatMap((report) => report.cancellations.map((line) => `${report.name} › ${line}`));
  if (cancellations.length > 0) {
    yield `\n${red(`Cancelled because their parent failed (${cancellations.length})`)}\n`;
    for (const line of cancellations) yield `  ✖ ${line}\n`;
  }
  for (const report of all) {
    const failedHere = report.failures.length > 0 || report.cancelled > 0;
    for (const { title, where, error } of report.failures) {
      yield `\n${red(`✖ ${report.name} › ${title}`)}\n${dim(`  at ${where}`)}\n${indent(formatError(error), '  ')}\n`;
    }
    if ((failedHere || showAllOutput) && report.output.length > 0) {
      yield `\n${dim(`── output of ${report.name} ──`)}\n${report.output.join('').replace(/\n?$/, '\n')}${dim('── end of output ──')}\n`;
    }
  }

  const failed = sum('failed') + sum('cancelled');
  const totals = [
    `${sum('passed')} passed`,
    `${sum('failed')} failed`,
    `${sum('cancelled')} cancelled`,
    `${sum('skipped')} skipped`,
    `${sum('todo')} todo`,
  ].join(', ');
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  yield `\n${failed > 0 ? red('✖ FAILED') : green('✔ passed')}: ${plural(all.length, 'file')}, ${totals} ${dim(`(${seconds} s)`)}\n`;
}

/** The error as Node prints it, unwrapped from the runner's ERR_TEST_FAILURE. */
function formatError(error: unknown): string {
  const inner = error instanceof Error && (error as { code?: string }).code === 'ERR_TEST_FAILURE' && error.cause !== undefined ? error.cause : error;
  return typeof inner === 'string' ? inner : inspect(inner, { colors: color, depth: 6 });
}
