// Child processes of the harness: every server and every measuring process is forked through here,
// so that they all die with the harness (normal exit, an error, or Ctrl-C).

import { fork } from 'node:child_process';

const children = new Set();

function killAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Forks `script` with `args` and keeps track of it until it exits. */
export function spawnChild(script, args = [], { execArgv = [] } = {}) {
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // Sending to a child that is just exiting fails with EPIPE; its exit is what we wait for anyway.
  child.on('error', () => {});
  return child;
}

/**
 * Waits for the first message from `child` that `accept` returns a value for, and resolves with
 * that value. Rejects if the child exits first or `timeoutMs` passes (the child is then killed).
 */
export function nextMessage(child, accept, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const done = (error, value) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value);
    };
    const onMessage = (message) => {
      const value = accept(message);
      if (value !== undefined) done(undefined, value);
    };
    const onExit = (code, signal) => done(new Error(`${what}: process exited (${signal ?? code}) before answering`));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Runs `script` in its own process and resolves with the `result` it reports (see stats.report). */
export async function runChild(script, args, { execArgv = [], timeoutMs = 10 * 60_000, what = script } = {}) {
  const child = spawnChild(script, args, { execArgv });
  const result = await nextMessage(child, (m) => (m?.type === 'result' ? m.result : undefined), timeoutMs, what);
  child.kill();
  return result;
}

/** Stops a child politely, then for sure. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.send('exit', () => {});
  // A server gets a few seconds to close (database variants clean up their keys or table).
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}
