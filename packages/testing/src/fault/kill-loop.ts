/**
 * A store-agnostic crash harness: keeps `workers` worker processes running,
 * SIGKILLs one of them (round robin) every `killEveryMs` and starts a
 * replacement at once, until `done()` answers true. The worker script is the
 * store-specific part (it opens its store and runs a `Worker`); the caller
 * then checks the store and its effect table for exactly-once outcomes.
 *
 * The kill cadence is a fault schedule on the wall clock, not a timing
 * assertion: nothing about time is asserted by this harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Node flags that run a TypeScript worker script against the workspace sources. */
export const SOURCE_NODE_ARGS: readonly string[] = [
  '--conditions=@batchflight/source',
  '--import',
  'tsx',
];

/**
 * Bundles a TypeScript worker script (workspace sources included, `external`
 * packages left to Node) into one ESM file under `<repo>/node_modules/.cache`,
 * so that a restarted worker is up in a fraction of a second: with a worker
 * killed every 0.5 s, a 2–3 s TypeScript-loader start would never let one work.
 * Uses esbuild (present in the workspace through tsx); run with `nodeArgs: []`.
 *
 * @example
 * ```ts
 * const script = await bundleWorkerScript(fileURLToPath(new URL('./fault-worker.ts', import.meta.url)), ['pg']);
 * await killLoop({ script, nodeArgs: [], done });
 * ```
 */
export async function bundleWorkerScript(
  entry: string,
  external: readonly string[],
  repoRoot: string = process.cwd(),
): Promise<string> {
  // Optional tool, resolved at run time: only the fault tests need it.
  const { build } = (await import('esbuild')) as typeof import('esbuild');
  const outDir = join(repoRoot, 'node_modules', '.cache', 'batchflight-fault');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(
    outDir,
    `${basename(entry).replace(/\.[cm]?tsx?$/, '')}-${String(process.pid)}.mjs`,
  );
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@batchflight/source'],
    external: [...external],
    logLevel: 'error',
  });
  return outfile;
}

/** Options of {@link killLoop}. */
export interface KillLoopOptions {
  /** The worker script (with `nodeArgs` for TypeScript, e.g. {@link SOURCE_NODE_ARGS}). */
  readonly script: string;
  /** Arguments after the script; the worker's index and generation are appended. */
  readonly args?: readonly string[];
  /** Flags before the script. Default {@link SOURCE_NODE_ARGS}. */
  readonly nodeArgs?: readonly string[];
  /** Extra environment variables of the workers. */
  readonly env?: Readonly<Record<string, string>>;
  /** Worker processes kept alive, integer >= 1. Default 4. */
  readonly workers?: number;
  /** One SIGKILL every this many ms. Default 500. */
  readonly killEveryMs?: number;
  /**
   * When set, a worker is only killed after it printed this line on stdout
   * (e.g. once its store is open and its worker started), so that on a slow,
   * loaded machine the kills hit working processes rather than ones still
   * loading their code. Default: kill regardless.
   */
  readonly readyLine?: string;
  /** Polled every `pollMs`; the loop ends when it resolves true. */
  readonly done: () => Promise<boolean>;
  /** Default 200. */
  readonly pollMs?: number;
  /** Rejects after this many ms without `done()`. Default 120 000. */
  readonly timeoutMs?: number;
}

/** What happened during {@link killLoop}. */
export interface KillLoopReport {
  /** Processes started (initial ones included). */
  readonly spawned: number;
  /** SIGKILLs sent. */
  readonly killed: number;
  /** Processes that exited on their own (a crash of the worker itself), with their stderr tail. */
  readonly unexpectedExits: readonly { readonly code: number | null; readonly stderr: string }[];
  readonly elapsedMs: number;
}

interface Slot {
  child: ChildProcess;
  stderr: string;
  ready: boolean;
  killedOnPurpose: boolean;
  exited: Promise<void>;
}

/**
 * Runs the kill loop; resolves when `done()` is true and every worker exited.
 *
 * @example
 * ```ts
 * const report = await killLoop({
 *   script: fileURLToPath(new URL('./fault-worker.ts', import.meta.url)),
 *   args: [schema],
 *   done: async () => (await store.counts()).byState.succeeded === 20_000,
 * });
 * expect(report.unexpectedExits).toEqual([]);
 * ```
 */
export async function killLoop(options: KillLoopOptions): Promise<KillLoopReport> {
  const count = options.workers ?? 4;
  const killEveryMs = options.killEveryMs ?? 500;
  const pollMs = options.pollMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = Date.now();
  let spawned = 0;
  let killed = 0;
  const unexpectedExits: { code: number | null; stderr: string }[] = [];
  const slots: Slot[] = [];
  let stopping = false;

  const start = (index: number): Slot => {
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeArgs ?? SOURCE_NODE_ARGS),
        options.script,
        ...(options.args ?? []),
        String(index),
        String(spawned),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
    );
    spawned++;
    const slot: Slot = {
      child,
      stderr: '',
      ready: options.readyLine === undefined,
      killedOnPurpose: false,
      exited: new Promise((resolve) => {
        child.once('exit', (code) => {
          if (!slot.killedOnPurpose && !stopping) {
            unexpectedExits.push({ code, stderr: slot.stderr.slice(-2_000) });
          }
          resolve();
        });
      }),
    };
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (slot.ready || options.readyLine === undefined) return;
      stdout = (stdout + chunk.toString()).slice(-1_000);
      if (stdout.split('\n').includes(options.readyLine)) slot.ready = true;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      slot.stderr = (slot.stderr + chunk.toString()).slice(-4_000);
    });
    return slot;
  };

  for (let i = 0; i < count; i++) slots.push(start(i));
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      setTimeout(resolve, ms);
    });

  try {
    let next = 0;
    let lastKill = Date.now();
    for (;;) {
      if (await options.done()) break;
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `killLoop: not done after ${String(timeoutMs)} ms (${String(killed)} kills, ${String(spawned)} spawns); last stderr: ${slots.map((s) => s.stderr.slice(-300)).join(' | ')}`,
        );
      }
      // A worker that died on its own is replaced too (and reported).
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i] as Slot;
        if (slot.child.exitCode !== null || slot.child.signalCode !== null) slots[i] = start(i);
      }
      // Round robin over the workers that are up (all of them without `readyLine`).
      const index = [...slots.keys()]
        .map((k) => (next + k) % slots.length)
        .find((k) => slots[k]?.ready === true);
      if (Date.now() - lastKill >= killEveryMs && index !== undefined) {
        lastKill = Date.now();
        next = index + 1;
        const victim = slots[index] as Slot;
        victim.killedOnPurpose = true;
        victim.child.kill('SIGKILL');
        killed++;
        await victim.exited;
        slots[index] = start(index);
      }
      await sleep(Math.min(pollMs, killEveryMs));
    }
  } finally {
    stopping = true;
    for (const slot of slots) slot.child.kill('SIGKILL');
    await Promise.all(slots.map((s) => s.exited));
  }
  return { spawned, killed, unexpectedExits, elapsedMs: Date.now() - started };
}
