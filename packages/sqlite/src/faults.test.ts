/**
 * Proof under faults on SQLite: real worker processes SIGKILLed while they
 * hold leases (by `killLoop`, the harness the PostgreSQL kill test uses), a
 * slow handler whose lease is reclaimed, duplicate enqueue racing across
 * processes, and a poison job going dead and being requeued.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, Worker, type FullJobStore } from 'batchflight/jobs';
import { TestClock, bundleWorkerScript, killLoop } from '@batchflight/testing';
import { MIGRATIONS } from './migrations.js';
import { SqliteJobStore } from './store.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, '__fixtures__', 'fault-child.ts');
const dir = mkdtempSync(join(tmpdir(), 'bf-sqlite-faults-'));
const live = new Set<ChildProcess>();

afterAll(() => {
  for (const c of live) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(...args: string[]): ChildProcess {
  const proc = spawn(
    process.execPath,
    ['--conditions=@batchflight/source', '--import', 'tsx', child, ...args],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  return proc;
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      resolve(code);
    }),
  );
}

describe('SQLite under faults', () => {
  it('20,000 jobs, 4 worker processes, one SIGKILLed and restarted every 0.5 s: every job succeeded once, 20,000 effect rows', async () => {
    const path = join(dir, 'kill.db');
    const store = new SqliteJobStore({ path });
    await store.init();
    // No unique constraint: a duplicated effect would show up as an extra row.
    store.db.exec(
      'CREATE TABLE effects (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, epoch INTEGER NOT NULL, worker TEXT NOT NULL)',
    );
    const queue = new Queue(store);
    const total = 20_000;
    for (let i = 0; i < total; i += 5_000) {
      await queue.addMany(
        Array.from({ length: 5_000 }, (_, j) => ({ name: 'effect', payload: { n: i + j } })),
      );
    }
    // The harness the PostgreSQL kill test uses; one bundled file, so that a
    // restarted worker does not spend seconds loading TypeScript.
    const script = await bundleWorkerScript(join(here, '__fixtures__', 'fault-worker.ts'), [
      'better-sqlite3',
    ]);
    const report = await killLoop({
      script,
      nodeArgs: [],
      args: [path],
      workers: 4,
      killEveryMs: 500,
      readyLine: 'ready',
      done: async () => {
        const { byState } = await store.counts();
        if (byState.dead > 0) throw new Error(`jobs went dead: ${JSON.stringify(byState)}`);
        return byState.succeeded === total;
      },
      timeoutMs: 540_000,
    });
    expect(report.unexpectedExits).toEqual([]);

    const counts = await store.counts();
    expect(counts.byState).toMatchObject({ succeeded: total, pending: 0, leased: 0, dead: 0 });
    const effects = store.db
      .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT job_id) AS jobs FROM effects')
      .get() as { n: number; jobs: number };
    expect(effects).toEqual({ n: total, jobs: total });
    const log = store.db
      .prepare(
        `SELECT SUM(outcome = 'succeeded') AS ok, SUM(outcome = 'expired') AS expired,
             COUNT(DISTINCT CASE WHEN outcome = 'succeeded' THEN job_seq END) AS jobs FROM bf_attempts`,
      )
      .get() as { ok: number; expired: number; jobs: number };
    expect(log.ok).toBe(total);
    expect(log.jobs).toBe(total);
    // The kills really landed on leased jobs, which were reclaimed by the others.
    expect(report.killed).toBeGreaterThanOrEqual(3);
    expect(log.expired).toBeGreaterThan(0);
    // Every effect row was written under the epoch that completed the job.
    const mismatched = store.db
      .prepare(
        'SELECT COUNT(*) AS n FROM effects e JOIN bf_jobs j ON j.seq = CAST(e.job_id AS INTEGER) WHERE j.epoch <> e.epoch',
      )
      .get() as { n: number };
    expect(mismatched.n).toBe(0);
    console.info(
      `kill test: ${String(report.killed)} SIGKILLs, ${String(report.spawned)} processes, ` +
        `${String(log.expired)} attempts reclaimed after expiry, ${String(report.elapsedMs)} ms`,
    );
    await store.close();
  }, 600_000); // ~10-20 s on a quiet 2-core machine; generous for a loaded one

  it('4 processes migrate a fresh file at once, then race duplicate enqueues: each job exists once', async () => {
    const path = join(dir, 'dup.db');
    // No init here: the 4 processes apply the migrations concurrently on a fresh file.
    const procs = Array.from({ length: 4 }, () => start('enqueue', path, '2000'));
    const codes = await Promise.all(procs.map(exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const store = new SqliteJobStore({ path });
    await store.init();
    expect(store.schemaVersion()).toBe(MIGRATIONS.length);
    const migrations = store.db.prepare('SELECT COUNT(*) AS n FROM bf_migrations').get() as {
      n: number;
    };
    expect(migrations.n).toBe(MIGRATIONS.length);
    const { byState } = await store.counts();
    expect(byState.pending).toBe(2_000);
    const keys = store.db
      .prepare('SELECT COUNT(DISTINCT key) AS k, COUNT(*) AS n FROM bf_ledger')
      .get() as { k: number; n: number };
    expect(keys).toEqual({ k: 2_000, n: 2_000 });
    await store.close();
  }, 300_000);

  it('a lease expiring under a slow handler: the stale completion is refused, the new holder wins', async () => {
    const path = join(dir, 'slow.db');
    const clock = new TestClock();
    const a = new SqliteJobStore({ path, clock });
    const b = new SqliteJobStore({ path, clock });
    await a.init();
    await b.init();
    const { id } = await new Queue(a, { clock }).add('slow', { n: 1 });
    // Worker A's heartbeats are lost (it is stalled), so its lease runs out.
    const stalled = new Proxy(a, {
      get(target, prop) {
        if (prop === 'heartbeat') return () => Promise.reject(new Error('stalled'));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) as FullJobStore;
    let release!: (v: string) => void;
    const slow = new Worker(
      stalled,
      { slow: () => new Promise<string>((resolve) => (release = resolve)) },
      { clock, leaseMs: 2_000, pollMs: 60_000, workerId: 'slow' },
    );
    const refusals: string[] = [];
    slow.onLeaseLost((e) => refusals.push(e.refusal?.reason ?? 'none'));
    await new Promise((r) => setImmediate(r));
    await clock.advance(2_000);
    const fresh = new Worker(
      b,
      { slow: () => 'fresh' },
      { clock, leaseMs: 2_000, workerId: 'fresh' },
    );
    await fresh.drain();
    release('stale');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(refusals).toEqual(['stale-epoch']);
    expect(await b.get(id)).toMatchObject({ state: 'succeeded', result: 'fresh', epoch: 2 });
    const log = await b.attempts({ jobId: id });
    expect(log.map((x) => [x.workerId, x.outcome])).toEqual([
      ['slow', 'expired'],
      ['fresh', 'succeeded'],
    ]);
    await slow.close();
    await fresh.close();
    await a.close();
    await b.close();
  });

  it('a poison job reaches dead after maxAttempts and is requeued from there', async () => {
    const path = join(dir, 'poison.db');
    const clock = new TestClock();
    const store = new SqliteJobStore({ path, clock });
    await store.init();
    const { id } = await new Queue(store, { clock }).add(
      'parse',
      { raw: '{' },
      {
        maxAttempts: 3,
        backoff: 100,
      },
    );
    let fixed = false;
    const worker = new Worker(
      store,
      {
        parse: (p: { raw: string }) => {
          if (!fixed) return JSON.parse(p.raw) as unknown;
          return 'fixed';
        },
      },
      { clock, pollMs: 100 },
    );
    for (let i = 0; i < 3; i++) {
      await worker.drain();
      await clock.advance(100);
    }
    expect(await store.get(id)).toMatchObject({ state: 'dead', attempts: 3 });
    expect((await store.attempts({ jobId: id })).map((a) => a.outcome)).toEqual([
      'failed',
      'failed',
      'dead',
    ]);
    fixed = true;
    expect(await store.requeue([id])).toEqual([id]);
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: 'fixed', attempts: 1 });
    await worker.close();
    await store.close();
  });
});
