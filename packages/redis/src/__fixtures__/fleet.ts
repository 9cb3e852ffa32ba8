/**
 * Spawns the fleet workers of the multi-process tests and talks to them line by line.
 *
 * Every wait is bounded: a test that waits on a child fails with a message
 * naming the worker, the line or result it waited for, what the child printed
 * and how it ended, instead of hanging until the test timeout. A child that
 * ends (exit, signal, or a spawn that failed and never runs) settles every
 * wait on it at once. Its stdout is drained before that (the `close` event,
 * not `exit`), so a result printed just before a normal exit is never lost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** One child process running `fleet-worker.ts` with `task`. */
export interface Worker {
  readonly child: ChildProcess;
  /** `worker <n> (pid <pid>)`, for messages. */
  readonly name: string;
  /**
   * Resolves once the child has printed the line `text` (at once if it
   * already has); rejects if the child ends without printing it or
   * `deadlineMs` passes first.
   */
  waitFor(text: string, deadlineMs: number): Promise<void>;
  /**
   * Resolves with the JSON result line; rejects if the child ends without
   * one (the message names the exit code or signal) or `deadlineMs` passes first.
   */
  result(deadlineMs: number): Promise<unknown>;
  /** Sends `go`. */
  start(): void;
  /** SIGKILLs the child if it still runs; resolves once it has ended. */
  kill(): Promise<void>;
}

let spawned = 0;

/**
 * Starts a worker on `task`. `command` replaces the Node binary (a test of
 * the harness itself passes one that does not exist).
 */
export function spawnWorker(task: object, command = process.execPath): Worker {
  const child = spawn(command, ['--conditions=@batchflight/source', '--import', 'tsx', WORKER], {
    env: { ...process.env, FLEET_TASK: JSON.stringify(task) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const name = `worker ${String(++spawned)} (pid ${String(child.pid)})`;
  const lines: string[] = [];
  const waits = new Set<() => void>();
  let json: { value: unknown } | undefined;
  let ended: string | undefined;
  const end = (how: string): void => {
    if (ended !== undefined) return;
    ended = how;
    for (const check of [...waits]) check();
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('{') && json === undefined) json = { value: JSON.parse(line) };
    else lines.push(line);
    for (const check of [...waits]) check();
  });
  // 'close' comes after 'exit' and after stdout has been read to its end.
  child.on('close', (code, signal) => {
    end(`exited (code ${String(code)}, signal ${String(signal)})`);
  });
  // A spawn that fails emits 'error' and never 'exit' or 'close'.
  child.on('error', (error) => {
    end(`failed: ${error.message}`);
  });
  // A child that died before `go` closes its stdin: the write fails with EPIPE; its end reports it.
  child.stdin.on('error', () => undefined);

  /** Settles when `ready()` returns a value, the child ends, or the deadline passes. */
  const wait = <T>(what: string, deadlineMs: number, ready: () => { value: T } | undefined) =>
    new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const got = ready();
        if (got !== undefined) {
          finish();
          resolve(got.value);
        } else if (ended !== undefined) {
          fail(`it ${ended}`);
        }
      };
      const fail = (why: string): void => {
        finish();
        const printed = lines.length === 0 ? 'nothing' : JSON.stringify(lines);
        reject(new Error(`${name}: waited for ${what}, but ${why}; it printed ${printed}.`));
      };
      const timer = setTimeout(() => {
        fail(`${String(deadlineMs)} ms passed${ended === undefined ? ' (it still runs)' : ''}`);
      }, deadlineMs);
      const finish = (): void => {
        clearTimeout(timer);
        waits.delete(check);
      };
      waits.add(check);
      check();
    });

  const worker: Worker = {
    child,
    name,
    waitFor: (text, deadlineMs) =>
      wait(`the line ${JSON.stringify(text)}`, deadlineMs, () =>
        lines.includes(text) ? { value: undefined } : undefined,
      ),
    result: (deadlineMs) => wait('its result line', deadlineMs, () => json),
    start: () => {
      if (ended === undefined) child.stdin.write('go\n');
    },
    kill: async () => {
      if (ended === undefined) child.kill('SIGKILL');
      await wait('its end after SIGKILL', 10_000, () =>
        ended === undefined ? undefined : { value: undefined },
      ).catch(() => undefined);
    },
  };
  return worker;
}

/** Kills every worker still running (for `finally`): no child outlives its test. */
export async function killAll(workers: readonly Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.kill()));
}
