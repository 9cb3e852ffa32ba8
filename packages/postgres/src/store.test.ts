import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnqueuedEvent } from 'batchflight/jobs';
import { TestClock } from '@batchflight/testing';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { InvalidOptionError } from 'batchflight/core';
import { Queue } from 'batchflight/jobs';
import { PostgresTimeoutError } from './errors.js';
import { PostgresJobStore, type PostgresJobStoreOptions } from './store.js';
import { MIGRATIONS } from './migrations.js';
import { PG_URL, dropSchema, pgUnavailable, schemaName } from './__fixtures__/pg.js';

const unavailable = await pgUnavailable();

/** Resolves with the first event matching `pred`. */
function nextEvent(
  store: PostgresJobStore,
  pred: (e: EnqueuedEvent) => boolean,
): Promise<EnqueuedEvent> {
  return new Promise((resolve) => {
    const sub = store.onEnqueued((e) => {
      if (!pred(e)) return;
      sub.dispose();
      resolve(e);
    });
  });
}

describe('PostgresJobStore options', () => {
  it('rejects a schema name that is not a plain identifier', () => {
    expect(() => new PostgresJobStore({ schema: 'x"; DROP TABLE y; --' })).toThrow(/schema/);
    expect(() => new PostgresJobStore({ schema: 'Upper' })).toThrow(/\[a-z_\]/);
    expect(() => new PostgresJobStore({ poolSize: 0 })).toThrow(/poolSize/);
  });

  it('rejects unknown options and own-pool options next to pool', () => {
    const misspelt = { poolsize: 1 } as unknown as PostgresJobStoreOptions;
    expect(() => new PostgresJobStore(misspelt)).toThrow(InvalidOptionError);
    expect(() => new PostgresJobStore(misspelt)).toThrow(/unknown option "poolsize"/);
    const pool = new pg.Pool({ connectionString: PG_URL });
    for (const more of [
      { connectionString: PG_URL },
      { poolSize: 2 },
      { connectTimeoutMs: 100 },
      { queryTimeoutMs: 100 },
    ]) {
      expect(() => new PostgresJobStore({ pool, ...more })).toThrow(
        /cannot be combined with option pool/,
      );
    }
    expect(() => new PostgresJobStore({ connectTimeoutMs: 0 })).toThrow(/connectTimeoutMs/);
    expect(() => new PostgresJobStore({ queryTimeoutMs: 1.5 })).toThrow(/queryTimeoutMs/);
    expect(() => new PostgresJobStore({ closeTimeoutMs: -1 })).toThrow(/closeTimeoutMs/);
    void pool.end();
  });

  it('fails init, add and close with a PostgresTimeoutError against a server that never answers', async () => {
    // Accepts connections and never says a word: a hung server or a black-holed proxy.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const store = new PostgresJobStore({
      connectionString: `postgres://postgres@127.0.0.1:${String(port)}/x`,
      connectTimeoutMs: 200,
      closeTimeoutMs: 200,
    });
    try {
      const init = await store.init().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(PostgresTimeoutError.is(init)).toBe(true);
      expect(init).toMatchObject({
        code: 'ERR_BATCHFLIGHT_PG_TIMEOUT',
        operation: 'connect',
        timeoutMs: 200,
      });
      expect((init as Error).message).toMatch(/connectTimeoutMs \(200 ms\)/);
      expect((init as Error).cause).toBeInstanceOf(Error);
      await expect(new Queue(store).add('x', 1)).rejects.toMatchObject({
        code: 'ERR_BATCHFLIGHT_PG_TIMEOUT',
        operation: 'connect',
      });
      await store.close().catch((error: unknown) => {
        // close() itself may hit its own bound; it must still be a bounded, typed error.
        expect(error).toMatchObject({ code: 'ERR_BATCHFLIGHT_PG_TIMEOUT', operation: 'close' });
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('ships its migrations numbered from 1 without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});

if (unavailable === undefined) {
  describe('PostgresJobStore on PostgreSQL', () => {
    const schema = schemaName('store');
    const clock = new TestClock();
    let a: PostgresJobStore;
    let b: PostgresJobStore;

    beforeAll(async () => {
      a = new PostgresJobStore({ connectionString: PG_URL, schema, clock, poolSize: 3 });
      b = new PostgresJobStore({ connectionString: PG_URL, schema, clock, poolSize: 3 });
      await Promise.all([a.init(), b.init()]);
    });

    afterAll(async () => {
      await a.close();
      await b.close();
      await dropSchema(schema);
    });

    it('creates its tables in the configured schema and records the migrations', async () => {
      const { rows } = await a.pool.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
        [schema],
      );
      expect(rows.map((r) => r.table_name)).toEqual([
        'attempts',
        'chunks',
        'job_deps',
        'jobs',
        'ledger',
        'migrations',
        'runs',
        'steps',
      ]);
      expect(await a.schemaVersion()).toBe(MIGRATIONS.length);
    });

    it('bounds a statement the server does not answer in time by queryTimeoutMs', async () => {
      const slow = new PostgresJobStore({
        connectionString: PG_URL,
        schema,
        clock,
        poolSize: 2,
        queryTimeoutMs: 200,
        // A statement that outlasts the bound, inside the completion transaction.
        onComplete: async (client) => {
          await client.query('SELECT pg_sleep(5)');
        },
      });
      try {
        await slow.init(); // migrations are not bounded by queryTimeoutMs
        const [r] = await slow.enqueue([{ name: 'slow', payload: 1, queue: 'slow' }]);
        const [job] = await slow.claim({
          workerId: 'w',
          limit: 1,
          leaseMs: 60_000,
          queues: ['slow'],
        });
        const error = await slow.complete([{ id: r!.id, epoch: job!.epoch }]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(PostgresTimeoutError.is(error)).toBe(true);
        expect(error).toMatchObject({ operation: 'query', timeoutMs: 200 });
        expect((error as Error).message).toMatch(/queryTimeoutMs \(200 ms\)/);
        expect(((error as Error).cause as Error).message).toMatch(/Query read timeout/);
        // The store goes on: the connection that timed out was discarded.
        expect((await slow.get(r!.id))?.state).toBe('leased');
      } finally {
        await slow.close();
      }
    });

    it('upgrades an existing schema with concurrent index builds, rebuilding an INVALID index a crashed build left', async () => {
      const old = schemaName('upgrade');
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const store = new PostgresJobStore({ connectionString: PG_URL, schema: old, clock });
      try {
        // A schema at version 6, as an earlier release left it.
        await admin.query(`CREATE SCHEMA "${old}"`);
        await admin.query(
          `CREATE TABLE "${old}".migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
        );
        for (const m of MIGRATIONS.filter((x) => x.version <= 6)) {
          await admin.query(
            m.sql.replaceAll(' CONCURRENTLY', '').replaceAll('{{schema}}', `"${old}"`),
          );
          await admin.query(`INSERT INTO "${old}".migrations VALUES ($1, $2, 0)`, [
            m.version,
            m.name,
          ]);
        }
        // A build of migration 7 that died half-way: an INVALID index under its name.
        await admin.query(
          `CREATE TABLE "${old}".dup (v integer); INSERT INTO "${old}".dup VALUES (1), (1)`,
        );
        await expect(
          admin.query(`CREATE UNIQUE INDEX CONCURRENTLY jobs_lease_expiry ON "${old}".dup (v)`),
        ).rejects.toThrow(/could not create unique index/);
        await store.init();
        expect(await store.schemaVersion()).toBe(MIGRATIONS.length);
        const { rows } = await admin.query<{ table: string; valid: boolean; def: string }>(
          `SELECT t.relname AS table, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = x.relnamespace
           WHERE n.nspname = $1 AND x.relname IN ('jobs_lease_expiry', 'jobs_lease')`,
          [old],
        );
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ table: 'jobs', valid: true });
        expect(rows[0]?.def).toMatch(/\(lease_expires_at\) WHERE \(lease_expires_at IS NOT NULL\)/);
        // Re-running is a no-op.
        const again = new PostgresJobStore({ connectionString: PG_URL, schema: old, clock });
        await again.init();
        await again.close();
      } finally {
        await store.close();
        await admin.end();
        await dropSchema(old);
      }
    });

    it('writes the chunk rows of a run when claims first lease them; concurrent claims never share one', async () => {
      const run = await a.createRun({ name: 'lazy', input: null, total: 100_000, chunkSize: 1 });
      expect(run.chunks).toBe(100_000);
      const rows = async () =>
        (
          await a.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${schema}".chunks WHERE run_seq = $1`,
            [run.id],
          )
        ).rows[0]?.n;
      expect(await rows()).toBe(0);
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 === 0 ? a : b).claimChunks({
            workerId: `w${String(i)}`,
            limit: 5,
            leaseMs: 60_000,
            runId: run.id,
          }),
        ),
      );
      const indexes = claims.flat().map((c) => c.index);
      expect(new Set(indexes).size).toBe(indexes.length);
      expect(await rows()).toBe(indexes.length);
      expect(indexes.length).toBeGreaterThan(0);
      expect(await a.cancelRun(run.id)).toBe(true);
    });

    it('wakes a listener in another client through LISTEN/NOTIFY, once per queue', async () => {
      const woke = nextEvent(a, (e) => e.queue === 'mail');
      // The LISTEN connection is opened by the first subscription: wait until it is up.
      await waitForListener(a);
      await b.enqueue([
        { name: 'send', payload: 1, queue: 'mail' },
        { name: 'send', payload: 2, queue: 'mail', runAt: clock.now() - 5 },
      ]);
      expect(await woke).toEqual({ queue: 'mail', count: 2, runAt: clock.now() - 5 });
    });

    it('emits its own enqueues in-process exactly once (not again through NOTIFY)', async () => {
      const seen: EnqueuedEvent[] = [];
      const sub = a.onEnqueued((e) => {
        if (e.queue === 'own') seen.push(e);
      });
      await waitForListener(a);
      await a.enqueue([{ name: 'x', payload: 1, queue: 'own' }]);
      expect(seen).toEqual([{ queue: 'own', count: 1, runAt: clock.now() }]);
      // A NOTIFY from b afterwards arrives after ours would have: ours was filtered out.
      const later = nextEvent(a, (e) => e.queue === 'own');
      await b.enqueue([{ name: 'x', payload: 2, queue: 'own' }]);
      await later;
      expect(seen.map((e) => e.count)).toEqual([1, 1]);
      sub.dispose();
    });

    it('reconnects the LISTEN connection after it was killed, and says so with a "*" wake-up', async () => {
      const star = nextEvent(a, (e) => e.queue === '*');
      await waitForListener(a);
      await a.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()`,
        [`LISTEN "${a.channel}"`],
      );
      expect((await star).count).toBe(0);
      const woke = nextEvent(a, (e) => e.queue === 'after');
      await b.enqueue([{ name: 'x', payload: 1, queue: 'after' }]);
      expect((await woke).count).toBe(1);
    });

    it('requeue and release wake listeners too', async () => {
      const [r] = await b.enqueue([{ name: 'x', payload: 1, queue: 'rq' }]);
      await b.deadLetter([r?.id ?? ''], 'test');
      const woke = nextEvent(a, (e) => e.queue === 'rq');
      await waitForListener(a);
      await b.requeue([r?.id ?? '']);
      expect((await woke).count).toBe(1);
    });

    it('onComplete runs in the completion transaction: accepted jobs only, rolled back on error', async () => {
      await a.pool.query(`CREATE TABLE "${schema}".effects (job_id text NOT NULL, result jsonb)`);
      let failNext = false;
      const c = new PostgresJobStore({
        connectionString: PG_URL,
        schema,
        clock,
        onComplete: async (client, done) => {
          await client.query(
            `INSERT INTO "${schema}".effects SELECT * FROM unnest($1::text[], $2::jsonb[])`,
            [done.map((d) => d.id), done.map((d) => JSON.stringify(d.result))],
          );
          if (failNext) throw new Error('effect failed');
        },
      });
      try {
        const [r1, r2] = await c.enqueue([
          { name: 'fx', payload: 1 },
          { name: 'fx', payload: 2 },
        ]);
        const jobs = await c.claim({ workerId: 'w', limit: 10, leaseMs: 1_000, names: ['fx'] });
        const j1 = jobs.find((j) => j.id === r1?.id);
        const j2 = jobs.find((j) => j.id === r2?.id);
        const res = await c.complete([
          { id: j1?.id ?? '', epoch: j1?.epoch ?? 0, result: 'one' },
          { id: j2?.id ?? '', epoch: (j2?.epoch ?? 0) + 7, result: 'stale' },
        ]);
        expect(res.accepted).toEqual([j1?.id]);
        failNext = true;
        await expect(
          c.complete([{ id: j2?.id ?? '', epoch: j2?.epoch ?? 0, result: 'two' }]),
        ).rejects.toThrow('effect failed');
        expect((await c.get(j2?.id ?? ''))?.state).toBe('leased');
        const { rows } = await c.pool.query(`SELECT job_id, result FROM "${schema}".effects`);
        expect(rows).toEqual([{ job_id: j1?.id, result: 'one' }]);
      } finally {
        await c.close();
      }
    });

    it('returns enqueue results in input order across seq digit boundaries', async () => {
      const results = await a.enqueue(
        Array.from({ length: 1_200 }, (_, i) => ({ name: 'order', payload: i, queue: 'order' })),
      );
      const seqs = results.map((r) => Number(r.id));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      for (const i of [0, 9, 10, 99, 100, 999, 1_000, 1_199]) {
        const r = results[i];
        expect(r?.job?.payload).toBe(i);
        expect((await b.get(r?.id ?? ''))?.payload).toBe(i);
      }
    });

    it('completes, fails and heartbeats hundreds of leases in one call each', async () => {
      await a.enqueue(Array.from({ length: 300 }, (_, i) => ({ name: 'bulk', payload: i })));
      const jobs = await a.claim({ workerId: 'w', limit: 300, leaseMs: 1_000, names: ['bulk'] });
      expect(jobs).toHaveLength(300);
      const hb = await b.heartbeat(jobs, 5_000);
      expect(hb.accepted).toHaveLength(300);
      const ok = await b.complete(jobs.slice(0, 200).map((j) => ({ id: j.id, epoch: j.epoch })));
      const ko = await b.fail(
        jobs
          .slice(200)
          .map((j) => ({ id: j.id, epoch: j.epoch, error: 'x', retryAt: clock.now() + 1 })),
      );
      expect(ok.accepted).toHaveLength(200);
      expect(ko.retrying).toHaveLength(100);
      const again = await b.complete(jobs.slice(0, 3).map((j) => ({ id: j.id, epoch: j.epoch })));
      expect(again.refused.map((r) => r.reason)).toEqual([
        'not-leased',
        'not-leased',
        'not-leased',
      ]);
    });

    it('close() ends a pool it created but never one it was given', async () => {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
      const given = new PostgresJobStore({ pool, schema, clock });
      await given.init();
      await given.close();
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await pool.end();
      const owned = new PostgresJobStore({ connectionString: PG_URL, schema, clock });
      await owned.init();
      await owned.close();
      await owned.close(); // idempotent
      expect(owned.pool.ended).toBe(true);
      await expect(owned.get('1')).rejects.toThrow(/closed/);
    });
  });
} else {
  describe('PostgresJobStore on PostgreSQL', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
}

/** Waits until the store's LISTEN connection is registered on the server. */
async function waitForListener(store: PostgresJobStore): Promise<void> {
  for (;;) {
    const { rows } = await store.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`,
      [`LISTEN "${store.channel}"`],
    );
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
