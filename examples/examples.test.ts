/**
 * Every example of the documentation, run: each module is the snippet of its
 * page between its stand-ins, so importing it runs the snippet. The Redis
 * samples run in a child process, which must exit by itself (nothing left
 * holding a connection). PostgreSQL and Redis are the local servers.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Null when something accepts connections at host:port, else why the
 * examples that need it are skipped. With CI=true a missing server fails.
 */
async function unreachable(what: string, url: string, port: number): Promise<string | null> {
  const { hostname } = new URL(url);
  const reason = await new Promise<string | null>((resolve) => {
    const socket = connect({ host: hostname, port: Number(new URL(url).port || port) });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(`${what} at ${url} did not answer`);
    });
    socket.once('connect', () => {
      socket.end();
      resolve(null);
    });
    socket.once('error', (error) => {
      resolve(`${what} at ${url} is unreachable (${error.message})`);
    });
  });
  if (reason !== null && process.env['CI'] === 'true')
    throw new Error(`${reason}; CI=true requires it.`);
  if (reason !== null) console.warn(`skipping the ${what} examples: ${reason}`);
  return reason;
}
const noPostgres = await unreachable(
  'PostgreSQL',
  process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  5432,
);
const noRedis = await unreachable(
  'Redis',
  process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  6379,
);

function runToExit(file: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--conditions=@batchflight/source',
        '--import',
        'tsx',
        fileURLToPath(new URL(file, import.meta.url)),
      ],
      { timeout: 25_000 },
      (error, _stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : null,
          stderr,
        });
      },
    );
  });
}

describe('README examples', () => {
  it('single flight: two queries for three calls', async () => {
    const { db } = await import('./quick-singleflight.js');
    expect(db.queries).toBe(2);
  });
  it('batch: one query for two loads', async () => {
    const { db, results } = await import('./quick-batch.js');
    expect(db.queries).toEqual([[1, 2]]);
    expect(results).toEqual({ ada: { id: 1 }, bob: { id: 2 } });
  });
  it('cache: the second read is a hit', async () => {
    const { db, results } = await import('./quick-cache.js');
    expect(db.queries).toBe(1);
    expect(results.again).toEqual({ id: 42 });
  });
  it('jobs: the welcome job ran once', async () => {
    const { sent } = await import('./quick-jobs.js');
    expect(sent).toEqual([42]);
  });
});

describe('capability pages', () => {
  it('single flight', async () => {
    const { db, results } = await import('./singleflight.js');
    expect(results.stats).toMatchObject({ hits: 1, misses: 2 });
    expect(results.doc).toBe('t/d');
    expect(results.user).toEqual({ id: 7, name: 'user 7' });
    expect(results.shared).toBe(false);
    expect(db.queries).toBe(2 + 1 + 1 + 1);
  });
  it('batch', async () => {
    const { api, results } = await import('./batch.js');
    expect(results.ada).toEqual({ id: 42 });
    expect(results.both).toEqual([{ id: 1 }, { id: 2 }]);
    expect(results.written).toBe(1);
    expect(api.calls).toBeLessThanOrEqual(4);
  });
  it('DataLoader', async () => {
    const { db, results } = await import('./dataloader.js');
    expect(db.calls).toEqual([[1, 2]]);
    expect(results).toEqual({ a: { id: 1 }, b: { id: 2 }, primed: { id: 1 } });
  });
  it('cache', async () => {
    const { db, results } = await import('./cache.js');
    expect(results.user).toEqual({ id: 42, orgId: 7 });
    expect(results.rates).toEqual({ currency: 'EUR', eur: 1 });
    expect(results.again).toEqual({ id: 42, orgId: 7 });
    expect(db.queries).toBeGreaterThanOrEqual(2);
  });
  it('rate limit', async () => {
    const { upstream, results } = await import('./rate-limit.js');
    expect(upstream.calls).toBe(1);
    expect(results.decision.allowed).toBe(true);
  });
  it('retry: the failed first call is retried', async () => {
    const { api, results } = await import('./retry.js');
    expect(api.calls).toBe(3);
    expect(results.stats).toMatchObject({ retries: 1, successes: 2 });
  });
  it('circuit breaker: isolated, then closed again', async () => {
    const { results, logged } = await import('./circuit-breaker.js');
    expect(results).toEqual({ user: { id: 2 }, state: 'closed' });
    expect(logged).toEqual(['users circuit closed -> open', 'users circuit open -> closed']);
  });
  it('bulkhead', async () => {
    const { results } = await import('./bulkhead.js');
    expect(results.stats).toMatchObject({ executed: 1, rejected: 0 });
  });
  it('timeout: the slow call times out', async () => {
    const { metrics, results } = await import('./timeout.js');
    expect(metrics.slow).toBe(1);
    expect(results.user).toEqual({ id: 1 });
  });
  it('fallback and hedge', async () => {
    const { results } = await import('./fallback-hedge.js');
    expect(results.stale).toEqual({ id: 1, stale: true });
    expect(results.empty).toEqual([]);
    expect(results.doc).toEqual({ path: '/a' });
  });
  it('composing: retry outside the breaker makes 3 upstream calls, then none', async () => {
    const { upstreamCallsRetryOutside } = await import('./composing.js');
    expect(await upstreamCallsRetryOutside()).toEqual([3, 0]);
  });
  it('composition model: the first layer sees the call first', async () => {
    const { results } = await import('./composition.js');
    expect(results).toEqual({ seen: ['a', 'b', 'a', 'b'], value: 'value 2' });
  });
  it('testing kit', async () => {
    const { results } = await import('./quick-testing.js');
    expect(results.answer).toBe('value:1');
  });
});

describe('jobs pages', () => {
  it('SQLite queue and worker', async () => {
    const { results, sent } = await import('./jobs.js');
    expect(results.created).toBe(true);
    expect(results.job?.state).toBe('succeeded');
    expect(sent).toEqual([42]);
    expect(results.counts.byState['succeeded']).toBe(2);
  });
  it('runs', async () => {
    const { results, imported } = await import('./runs.js');
    expect(results.run?.state).toBe('succeeded');
    expect(results.run?.processed).toBe(100_000);
    // 200 slices, and the slice in flight at the pause again from its checkpoint
    expect(imported.length).toBeGreaterThanOrEqual(200);
  });
  it.skipIf(noPostgres !== null)(
    'PostgreSQL store: the effect written in the completion transaction',
    async () => {
      const { results, mailed } = await import('./postgres.js');
      expect(mailed).toEqual(['a@example.com']);
      expect(results.effects).toBe('1');
    },
  );
  it.skipIf(noPostgres !== null)('PostgreSQL package README', async () => {
    const { results } = await import('./quick-postgres.js');
    expect(results.counts.byState['pending']).toBe(1);
  });
});

describe('import page', () => {
  it('a CSV into a SQLite table', async () => {
    const { results } = await import('./import.js');
    expect(results.rows).toEqual([
      { email: 'ada@example.com', name: 'Ada' },
      { email: 'bob@example.com', name: 'Bob' },
    ]);
    expect(results.summary).toMatchObject({ inserted: 2, rejected: 0, stopped: false });
  });
});

describe.skipIf(noRedis !== null)('Redis samples run to exit', () => {
  for (const file of ['./distributed-redis.ts', './quick-redis.ts']) {
    it(file, async () => {
      const r = await runToExit(file);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });
  }
});

describe('stream page', () => {
  it('a stream into SQLite: a redelivered event is one row, every delivery acked after commit', async () => {
    const { results } = await import('./stream.js');
    expect(results.rows).toBe(1000);
    expect(results.acked).toBe(1001);
    expect(results.report).toEqual({ forced: false, unwritten: [] });
    expect(results.stats).toMatchObject({ itemsIn: 1001, written: 1001, dead: 0, buffered: 0 });
  });
});
