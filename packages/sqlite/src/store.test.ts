import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestClock } from '@batchflight/testing';
import { fullJobStoreConformance } from '@batchflight/testing/conformance';
import { MIGRATIONS } from './migrations.js';
import Database from 'better-sqlite3';
import { InvalidOptionError } from 'batchflight/core';
import { SqliteJobStore, type SqliteJobStoreOptions } from './store.js';

fullJobStoreConformance('sqlite', (clock, options) => {
  const dir = mkdtempSync(join(tmpdir(), 'bf-sqlite-'));
  const path = join(dir, 'jobs.db');
  return Promise.resolve({
    store: new SqliteJobStore({
      path,
      clock,
      ...(options?.attemptPayloads === undefined
        ? {}
        : { attemptPayloads: options.attemptPayloads }),
      ...(options?.onCheckpoint === undefined
        ? {}
        : { onCheckpoint: (_db, checkpoint) => options.onCheckpoint?.(checkpoint) }),
    }),
    // A second connection on the same file, as another process would have.
    open: async () => {
      const other = new SqliteJobStore({ path, clock });
      await other.init();
      return other;
    },
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describe('SqliteJobStore', () => {
  it('applies migrations once, also from several connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-sqlite-'));
    const path = join(dir, 'jobs.db');
    const stores = Array.from({ length: 4 }, () => new SqliteJobStore({ path }));
    await Promise.all(stores.map((s) => s.init()));
    const latest = MIGRATIONS.length;
    expect(stores.map((s) => s.schemaVersion())).toEqual([latest, latest, latest, latest]);
    const rows = stores[0]!.db.prepare('SELECT COUNT(*) AS n FROM bf_migrations').get() as {
      n: number;
    };
    expect(rows.n).toBe(latest);
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps tables apart with a prefix', async () => {
    const clock = new TestClock();
    const store = new SqliteJobStore({ path: ':memory:', clock, tablePrefix: 'app_' });
    await store.init();
    await store.enqueue([{ name: 'x', payload: 1 }]);
    const row = store.db.prepare('SELECT COUNT(*) AS n FROM app_jobs').get() as { n: number };
    expect(row.n).toBe(1);
    await store.close();
  });

  it('runs onComplete inside the completion transaction, only for accepted jobs', async () => {
    const clock = new TestClock();
    const seen: string[] = [];
    const store = new SqliteJobStore({
      path: ':memory:',
      clock,
      onComplete: (db, done) => {
        for (const d of done) {
          db.prepare('INSERT INTO effects (job_id, value) VALUES (?, ?)').run(
            d.id,
            String(d.result),
          );
          seen.push(d.id);
        }
      },
    });
    await store.init();
    store.db.exec('CREATE TABLE effects (job_id TEXT, value TEXT)');
    const [r] = await store.enqueue([{ name: 'x', payload: 1 }]);
    const [job] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 1000 });
    await store.complete([{ id: r!.id, epoch: job!.epoch, result: 'v' }]);
    await store.complete([{ id: r!.id, epoch: job!.epoch, result: 'again' }]);
    expect(store.db.prepare('SELECT job_id, value FROM effects').all()).toEqual([
      { job_id: r!.id, value: 'v' },
    ]);
    expect(seen).toEqual([r!.id]);
    await store.close();
  });

  it('rolls the completion back when onComplete throws', async () => {
    const clock = new TestClock();
    const store = new SqliteJobStore({
      path: ':memory:',
      clock,
      onComplete: () => {
        throw new Error('effect failed');
      },
    });
    await store.init();
    const [r] = await store.enqueue([{ name: 'x', payload: 1 }]);
    const [job] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 1000 });
    await expect(store.complete([{ id: r!.id, epoch: job!.epoch }])).rejects.toThrow(
      'effect failed',
    );
    expect((await store.get(r!.id))?.state).toBe('leased');
    expect(await store.attempts({ jobId: r!.id })).toEqual([]);
    await store.close();
  });

  it('rejects a bad table prefix', () => {
    expect(() => new SqliteJobStore({ path: ':memory:', tablePrefix: 'x; DROP' })).toThrow(
      /tablePrefix/,
    );
  });

  it('rejects unknown options: a misspelt synchronous is an error, not NORMAL', () => {
    const misspelt = { path: ':memory:', synchronus: 'FULL' } as unknown as SqliteJobStoreOptions;
    expect(() => new SqliteJobStore(misspelt)).toThrow(InvalidOptionError);
    expect(() => new SqliteJobStore(misspelt)).toThrow(/unknown option "synchronus"/);
    expect(() => new SqliteJobStore({ path: ':memory:', attemptPayloads: 'yes' as never })).toThrow(
      /attemptPayloads/,
    );
    expect(() => new SqliteJobStore({ path: ':memory:', onComplete: 1 as never })).toThrow(
      /onComplete must be a function/,
    );
  });

  it('requires exactly one of path and database; an empty path is refused', () => {
    const ctor = SqliteJobStore as unknown as new (o?: unknown) => SqliteJobStore;
    expect(() => new ctor()).toThrow(InvalidOptionError);
    expect(() => new ctor({})).toThrow(/exactly one of options path and database.*neither/);
    expect(() => new SqliteJobStore({ path: '' })).toThrow(/option path must be a non-empty/);
    const db = new Database(':memory:');
    expect(() => new SqliteJobStore({ path: 'x.db', database: db })).toThrow(
      /exactly one of options path and database.*both/,
    );
    expect(() => new SqliteJobStore({ database: {} as Database.Database })).toThrow(
      /option database must be an open better-sqlite3 Database/,
    );
    const store = new SqliteJobStore({ database: db });
    expect(store.db).toBe(db);
    db.close();
  });

  it('keeps the counts table in step with the jobs through every transition (counts() reads no job)', async () => {
    const clock = new TestClock();
    const store = new SqliteJobStore({ path: ':memory:', clock });
    await store.init();
    const grouped = () =>
      store.db
        .prepare(
          `SELECT queue, COALESCE(partition, -1) AS part, state, COUNT(*) AS n FROM bf_jobs
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        )
        .all();
    const kept = () =>
      store.db
        .prepare('SELECT queue, part, state, n FROM bf_job_counts WHERE n > 0 ORDER BY 1, 2, 3')
        .all();
    await store.enqueue([
      ...Array.from({ length: 6 }, (_, i) => ({ name: 'x', payload: i })),
      ...Array.from({ length: 4 }, (_, i) => ({
        name: 'y',
        payload: i,
        queue: 'q2',
        partitionKey: `k${String(i)}`,
      })),
    ]);
    expect(kept()).toEqual(grouped());
    const jobs = await store.claim({ workerId: 'w', limit: 6, leaseMs: 1_000 });
    await store.complete(jobs.slice(0, 2).map((j) => ({ id: j.id, epoch: j.epoch })));
    await store.fail(
      jobs.slice(2, 4).map((j) => ({ id: j.id, epoch: j.epoch, error: 'e', retryAt: clock.now() })),
    );
    await store.deadLetter([jobs[4]!.id], 'poison');
    await store.cancel([jobs[5]!.id]);
    expect(kept()).toEqual(grouped());
    await clock.advance(10_000);
    await store.purge({ finishedBefore: clock.now(), states: ['succeeded'] });
    expect(kept()).toEqual(grouped());
    const counts = await store.counts();
    expect(counts.byState).toMatchObject({ pending: 4, failed: 2, dead: 1, cancelled: 1 });
    await store.close();
  });

  it('writes the chunk rows of a run when a claim first leases them, not at createRun', async () => {
    const store = new SqliteJobStore({ path: ':memory:', clock: new TestClock() });
    await store.init();
    const rows = () =>
      (store.db.prepare('SELECT COUNT(*) AS n FROM bf_chunks').get() as { n: number }).n;
    const run = await store.createRun({ name: 'r', input: null, total: 100_000, chunkSize: 1 });
    expect(run.chunks).toBe(100_000);
    expect(rows()).toBe(0);
    const leases = await store.claimChunks({ workerId: 'w', limit: 3, leaseMs: 1_000 });
    expect(leases.map((c) => [c.index, c.start, c.end, c.epoch])).toEqual([
      [0, 0, 1, 1],
      [1, 1, 2, 1],
      [2, 2, 3, 1],
    ]);
    expect(rows()).toBe(3);
    await store.close();
  });
});
