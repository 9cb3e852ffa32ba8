/** Spawns the fleet workers of the multi-process tests and talks to them line by line. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** One child process running `fleet-worker.ts` with `task`. */
export interface Worker {
  readonly child: ChildProcess;
  /** Resolves with the next stdout line equal to `text`. */
  waitFor(text: string): Promise<void>;
  /** Resolves with the JSON result line (the worker's last line). */
  readonly result: Promise<unknown>;
  /** Sends `go`. */
  start(): void;
}

export function spawnWorker(task: object): Worker {
  const child = spawn(
    process.execPath,
    ['--conditions=@batchflight/source', '--import', 'tsx', WORKER],
    {
      env: { ...process.env, FLEET_TASK: JSON.stringify(task) },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const waiting = new Map<string, () => void>();
  const seen = new Set<string>();
  let resolveResult!: (value: unknown) => void;
  let rejectResult!: (error: unknown) => void;
  const result = new Promise<unknown>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('{')) {
      resolveResult(JSON.parse(line));
      return;
    }
    seen.add(line);
    waiting.get(line)?.();
  });
  child.on('exit', (code, signal) => {
    rejectResult(new Error(`worker exited (${String(code)}, ${String(signal)}) without a result`));
    for (const resolve of waiting.values()) resolve();
  });
  result.catch(() => undefined);
  return {
    child,
    result,
    waitFor: (text) =>
      seen.has(text)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiting.set(text, resolve);
          }),
    start: () => {
      child.stdin.write('go\n');
    },
  };
}
