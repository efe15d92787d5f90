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
 * Written for Node 20 and 24, with `--test-concurrency=1` (files one after another): a file's line
 * is printed when the next file's first event arrives (or Node 24's `test:summary` for it), because
 * a failure of the file itself (a load error) comes after Node 20's `test:complete` for it.
 */
import { relative, resolve } from 'node:path';
import { inspect } from 'node:util';
import type { TestEvent } from 'node:test/reporters';

interface Problem {
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
  /** Names of the tests (and suites) open at each nesting level, for failure titles. */
  stack: string[];
  failures: Problem[];
  cancellations: string[];
  skips: string[];
  diagnostics: string[];
  output: string[];
  done: boolean;
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

export default async function* summaryReporter(source: AsyncIterable<TestEvent | { type: 'test:summary'; data: EventData }>) {
  const files = new Map<string, FileReport>();
  const showAllOutput = process.env.TEST_OUTPUT === 'all';
  const started = Date.now();
  let lastLineAt = started;
  let progress = false;
  let current: FileReport | undefined;

  const fileOf = (data: EventData): FileReport | undefined => {
    if (data.file === undefined) return undefined;
    const path = resolve(data.file);
    let report = files.get(path);
    if (!report) {
      report = {
        name: relative(process.cwd(), path),
        ...{ passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0 },
        ...{ stack: [], failures: [], cancellations: [], skips: [], diagnostics: [], output: [], done: false },
      };
      files.set(path, report);
    }
    return report;
  };
  // A test event about the file as a whole (it failed to load, or crashed), not about a test in it.
  const isFileItself = (data: EventData) =>
    data.nesting === 0 && data.file !== undefined && data.name !== undefined && resolve(data.name) === resolve(data.file);
  const titleOf = (report: FileReport, data: EventData) =>
    [report.name, ...report.stack.slice(0, data.nesting ?? 0), data.name ?? '?'].join(' › ');
  const whereOf = (data: EventData) =>
    data.file === undefined ? '' : `${relative(process.cwd(), resolve(data.file))}:${data.line ?? '?'}:${data.column ?? '?'}`;

  function* fileLine(report: FileReport): Generator<string> {
    if (report.done) return;
    report.done = true;
    const seconds = ((Date.now() - lastLineAt) / 1000).toFixed(1);
    lastLineAt = Date.now();
    const counts = [
      `${report.passed} passed`,
      report.failed > 0 ? red(`${report.failed} failed`) : '',
      report.cancelled > 0 ? red(`${report.cancelled} cancelled`) : '',
      report.skipped > 0 ? yellow(`${report.skipped} skipped`) : '',
      report.todo > 0 ? yellow(`${report.todo} todo`) : '',
    ].filter(Boolean);
    const ok = report.failed === 0 && report.cancelled === 0;
    if (progress) yield '\r\x1b[K';
    progress = false;
    yield `${ok ? green('✔') : red('✖')} ${report.name}  ${counts.join(', ')}  ${dim(`(${seconds} s)`)}\n`;
    for (const line of report.diagnostics) yield dim(indent(`ℹ ${line}`)) + '\n';
  }

  const ABOUT_A_TEST = new Set(['test:start', 'test:pass', 'test:fail', 'test:stdout', 'test:stderr', 'test:diagnostic']);

  for await (const event of source) {
    const data = event.data as EventData;
    const report = fileOf(data);
    if (report && ABOUT_A_TEST.has(event.type) && report !== current) {
      if (current) yield* fileLine(current);
      current = report;
    }
    switch (event.type) {
      case 'test:start':
        if (!report) break;
        if (color && data.nesting === 0 && !progress && report.passed + report.failed + report.skipped === 0) {
          yield `${dim(`… ${report.name}`)}`;
          progress = true;
        }
        report.stack.length = data.nesting ?? 0;
        report.stack.push(data.name ?? '?');
        break;
      case 'test:pass':
      case 'test:fail': {
        if (!report) break;
        const error = data.details?.error;
        const failureType = error?.failureType;
        const isSuite = data.details?.type === 'suite';
        if (isFileItself(data)) {
          // Node reports the file itself when its process failed outside any test (a load error,
          // a crash). A file whose tests failed has those failures listed already.
          if (event.type === 'test:fail' && failureType !== 'subtestsFailed') {
            report.failed++;
            report.failures.push({ title: `${report.name}: its process failed outside any test (its output is below)`, where: whereOf(data), error });
          }
          break;
        }
        if (data.todo !== undefined && data.todo !== false) {
          report.todo++;
          if (!isSuite) report.skips.push(`${titleOf(report, data)} ${dim('(todo)')}: ${data.todo === true ? 'no reason given' : data.todo}`);
        } else if (data.skip !== undefined && data.skip !== false) {
          report.skipped++;
          const reason = data.skip === true ? 'no reason given' : data.skip;
          report.skips.push(`${titleOf(report, data)}${isSuite ? dim(' (a whole suite)') : ''}: ${reason}`);
        } else if (event.type === 'test:pass') {
          if (!isSuite) report.passed++;
        } else if (failureType === 'subtestsFailed') {
          // A suite or test whose subtests failed: those are listed themselves.
        } else if (failureType === 'cancelledByParent') {
          report.cancelled++;
          report.cancellations.push(titleOf(report, data));
        } else {
          report.failed++;
          report.failures.push({ title: titleOf(report, data), where: whereOf(data), error });
        }
        break;
      }
      case 'test:stdout':
      case 'test:stderr':
        if (report && data.message !== undefined) report.output.push(data.message);
        break;
      case 'test:diagnostic':
        // Without a file, these are Node's own totals; this reporter counts for itself.
        if (report && data.message !== undefined) report.diagnostics.push(data.message);
        break;
      case 'test:summary':
        if (report) yield* fileLine(report);
        break;
    }
  }

  for (const report of files.values()) yield* fileLine(report);
  if (progress) yield '\r\x1b[K';

  const all = [...files.values()];
  const sum = (key: 'passed' | 'failed' | 'skipped' | 'todo' | 'cancelled') => all.reduce((total, report) => total + report[key], 0);
  const skips = all.flatMap((report) => report.skips);
  if (skips.length > 0) {
    yield `\n${yellow(`Skipped (${skips.length})`)}\n`;
    for (const line of skips) yield `  ﹣ ${line}\n`;
  }
  const cancellations = all.flatMap((report) => report.cancellations);
  if (cancellations.length > 0) {
    yield `\n${red(`Cancelled because their parent failed (${cancellations.length})`)}\n`;
    for (const line of cancellations) yield `  ✖ ${line}\n`;
  }
  for (const report of all) {
    if (report.failures.length === 0 && report.cancelled === 0 && !(showAllOutput && report.output.length > 0)) continue;
    for (const { title, where, error } of report.failures) {
      yield `\n${red(`✖ ${title}`)}\n${dim(`  at ${where}`)}\n${indent(formatError(error), '  ')}\n`;
    }
    if (report.output.length > 0) {
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
