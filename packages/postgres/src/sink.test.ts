import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import { stream, type StreamDeadLetter } from 'batchflight/stream';
import { postgresSink, type PostgresSinkOptions } from './sink.js';
import { isPostgresRetryable } from './sink-retryable.js';
import { PG_URL, dropSchema, pgUnavailable, schemaName } from './__fixtures__/pg.js';

const unavailable = await pgUnavailable();

interface Click {
  readonly id: number;
  readonly user: number;
  readonly page: string;
  readonly at?: Date;
  readonly tags?: string[];
  readonly raw?: Buffer;
}

describe.skipIf(unavailable !== undefined)('postgresSink', () => {
  const schema = schemaName('sink');
  let pool: pg.Pool;
  let n = 0;

  /** A fresh table in the file's schema. */
  async function table(): Promise<string> {
    const name = `clicks_${String(++n)}`;
    await pool.query(
      `CREATE TABLE ${schema}.${name} (id bigint PRIMARY KEY, user_id int NOT NULL CHECK (user_id >= 0), page text NOT NULL, at timestamptz, tags text[], raw bytea, seen int NOT NULL DEFAULT 7)`,
    );
    return name;
  }

  function sinkOf(name: string, more: Partial<PostgresSinkOptions<Click>> = {}) {
    return postgresSink<Click>({
      pool,
      schema,
      table: name,
      columns: ['id', 'user_id', 'page', 'at', 'tags', 'raw'],
      key: 'id',
      toRow: (c) => [c.id, c.user, c.page, c.at ?? null, c.tags ?? null, c.raw ?? null],
      ...more,
    });
  }

  async function rows(name: string): Promise<Record<string, unknown>[]> {
    const result = await pool.query(`SELECT * FROM ${schema}.${name} ORDER BY id`);
    return result.rows as Record<string, unknown>[];
  }

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    await pool.query(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    await pool.end();
    await dropSchema(schema);
  });

  const awkward: Click = {
    id: 3,
    user: 1,
    page: 'tab\there\nnew line \\ back\rslash "quoted" é',
    at: new Date('2026-01-02T03:04:05.678Z'),
    tags: ['a', 'b,c', 'd"e', 'f\\g'],
    raw: Buffer.from([0, 1, 254, 255]),
  };

  for (const copyFromRows of [Infinity, 1]) {
    const via = copyFromRows === 1 ? 'copy' : 'insert';
    it(`writes a batch via ${via}, values as pg binds them, and skips a redelivered key`, async () => {
      const name = await table();
      const sink = sinkOf(name, { copyFromRows });
      const batch: Click[] = [
        { id: 1, user: 5, page: '/a' },
        awkward,
        { id: 2, user: 6, page: '/b' },
      ];
      await expect(sink.writeMany(batch)).resolves.toEqual({ rows: 3, inserted: 3, via });
      // The same ids again, one new: only the new one is inserted; the stored rows are untouched.
      const again = await sink.writeMany([
        { id: 3, user: 9, page: '/changed' },
        { id: 4, user: 0, page: '/d' },
      ]);
      expect(again).toEqual({ rows: 2, inserted: 1, via });
      const stored = await rows(name);
      expect(stored.map((r) => r.id)).toEqual(['1', '2', '3', '4']);
      expect(stored[2]).toMatchObject({
        user_id: 1,
        page: awkward.page,
        at: awkward.at,
        tags: awkward.tags,
        raw: awkward.raw,
        seen: 7, // a column not written keeps its default
      });
      expect(stored[0]).toMatchObject({ at: null, tags: null, raw: null });
    });
  }

  it('takes object rows keyed by column and a composite key', async () => {
    const name = `composite_${String(++n)}`;
    await pool.query(
      `CREATE TABLE ${schema}.${name} (tenant text, id int, v text, PRIMARY KEY (tenant, id))`,
    );
    const sink = postgresSink<{ t: string; id: number; v: string }>({
      pool,
      schema,
      table: name,
      columns: ['tenant', 'id', 'v'],
      key: ['tenant', 'id'],
      toRow: (x) => ({ tenant: x.t, id: x.id, v: x.v }),
    });
    const result = await sink.writeMany([
      { t: 'a', id: 1, v: 'x' },
      { t: 'b', id: 1, v: 'y' },
      { t: 'a', id: 1, v: 'again' }, // a duplicate within one batch is skipped too
    ]);
    expect(result.inserted).toBe(2);
    const stored = await pool.query(`SELECT tenant, id, v FROM ${schema}.${name} ORDER BY tenant`);
    expect(stored.rows).toEqual([
      { tenant: 'a', id: 1, v: 'x' },
      { tenant: 'b', id: 1, v: 'y' },
    ]);
  });

  it('splits a multi-row INSERT past 65,535 parameters into statements of one transaction', async () => {
    const name = await table();
    const sink = sinkOf(name, { copyFromRows: Infinity });
    // 6 columns: 10,922 rows per statement, so 12,000 rows take two.
    const batch = Array.from({ length: 12_000 }, (_, i) => ({ id: i, user: 1, page: '/p' }));
    const poisoned = [...batch.slice(0, 11_999), { id: 11_999, user: -1, page: '/bad' }];
    // The second statement fails on the CHECK: the first one's rows are rolled back with it.
    await expect(sink.writeMany(poisoned)).rejects.toMatchObject({ code: '23514' });
    expect(await rows(name)).toHaveLength(0);
    await expect(sink.writeMany(batch)).resolves.toEqual({
      rows: 12_000,
      inserted: 12_000,
      via: 'insert',
    });
  });

  for (const copyFromRows of [Infinity, 1]) {
    it(`in stream(), a poisoned item (${copyFromRows === 1 ? 'COPY' : 'INSERT'}) is bisected out and dead-lettered, the rest committed`, async () => {
      const name = await table();
      const dead: StreamDeadLetter<Click>[] = [];
      const sink = stream<Click>({
        ...sinkOf(name, { copyFromRows }),
        maxItems: 50,
        lingerMs: 0,
        onDeadLetter: (d) => dead.push(d),
      });
      const items = Array.from({ length: 100 }, (_, i) => ({
        id: i,
        user: i === 37 ? -5 : 1,
        page: '/',
      }));
      await sink.consume(items);
      await sink.close();
      expect(dead.map((d) => d.item.id)).toEqual([37]);
      expect(dead[0]?.error).toMatchObject({ code: '23514' });
      expect(isPostgresRetryable(dead[0]?.error)).toBe(false);
      expect((await rows(name)).map((r) => Number(r.id))).toEqual(
        items.filter((c) => c.id !== 37).map((c) => c.id),
      );
      expect(sink.stats()).toMatchObject({ written: 99, dead: 1, retries: 0 });
    });
  }

  it('a throw of toRow and a wrong row shape fail the write as data errors (not retryable)', async () => {
    const name = await table();
    const throwing = sinkOf(name, {
      toRow: () => {
        throw new RangeError('no row for this click');
      },
    });
    const error = await throwing
      .writeMany([{ id: 1, user: 1, page: '/' }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect(throwing.isRetryable(error)).toBe(false);
    const short = sinkOf(name, { toRow: (c) => [c.id] });
    await expect(short.writeMany([{ id: 1, user: 1, page: '/' }])).rejects.toThrow(
      /toRow\(item\) returned 1 values for 6 columns/,
    );
    const bad = sinkOf(name, { toRow: () => 42 as unknown as unknown[] });
    await expect(bad.writeMany([{ id: 1, user: 1, page: '/' }])).rejects.toThrow(
      /must return an array of values in the order of columns or an object keyed by column, got 42/,
    );
  });

  it('a value of the wrong type is a data error; a serialization failure is retryable', async () => {
    const name = await table();
    const sink = postgresSink<string>({
      pool,
      schema,
      table: name,
      columns: ['id', 'user_id', 'page'],
      key: 'id',
      toRow: (id) => [id, 1, '/'],
    });
    const typeError = await sink.writeMany(['not a number']).catch((e: unknown) => e);
    expect(typeError).toMatchObject({ code: '22P02' });
    expect(sink.isRetryable(typeError)).toBe(false);
    // A real serialization failure: two SERIALIZABLE transactions that read what the other writes.
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      for (const c of [a, b]) await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await a.query(`SELECT count(*) FROM ${schema}.${name}`);
      await b.query(`SELECT count(*) FROM ${schema}.${name}`);
      await a.query(`INSERT INTO ${schema}.${name} (id, user_id, page) VALUES (100, 1, '/')`);
      await b.query(`INSERT INTO ${schema}.${name} (id, user_id, page) VALUES (101, 1, '/')`);
      await a.query('COMMIT');
      const failure = await b.query('COMMIT').catch((e: unknown) => e);
      expect(failure).toMatchObject({ code: '40001' });
      expect(sink.isRetryable(failure)).toBe(true);
    } finally {
      a.release();
      b.release();
    }
  });

  it('a refused connection is retryable: the stream retries and then commits', async () => {
    const name = await table();
    // A pool on a port nobody listens on, then the real one: the first attempt fails to connect.
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    let attempt = 0;
    const good = sinkOf(name);
    const refused = sinkOf(name, { pool: dead });
    const sink = stream<Click>({
      writeMany: (items, ctx) => {
        attempt = ctx.attempt;
        return ctx.attempt === 1 ? refused.writeMany(items, ctx) : good.writeMany(items, ctx);
      },
      isRetryable: good.isRetryable,
      retry: { backoff: 0 },
      lingerMs: 0,
    });
    await sink.consume([{ id: 1, user: 1, page: '/' }]);
    await sink.close();
    await dead.end();
    expect(attempt).toBe(2);
    expect(sink.stats()).toMatchObject({ written: 1, retries: 1, dead: 0 });
    expect(await rows(name)).toHaveLength(1);
  });

  it('a write whose signal aborted does not start', async () => {
    const name = await table();
    const sink = sinkOf(name);
    const reason = new Error('forced close');
    const ctx = { signal: AbortSignal.abort(reason), name: 's', attempt: 1, scope: undefined };
    await expect(sink.writeMany([{ id: 1, user: 1, page: '/' }], ctx)).rejects.toBe(reason);
    expect(await rows(name)).toHaveLength(0);
  });
});

describe('postgresSink options', () => {
  const pool = new pg.Pool({ connectionString: PG_URL });
  afterAll(() => pool.end());
  const base: PostgresSinkOptions<number> = {
    pool,
    table: 't',
    columns: ['id', 'v'],
    key: 'id',
    toRow: (i) => [i, i],
  };
  const bad = (more: Record<string, unknown>) => () => postgresSink({ ...base, ...more });

  it('names the option, the contract and the value', () => {
    expect(bad({ pool: {} })).toThrow(
      /postgresSink\(t\): option pool must be a pg.Pool .*got an object/,
    );
    expect(bad({ table: '' })).toThrow(/option table must be a non-empty string, got ""/);
    expect(bad({ columns: [] })).toThrow(/option columns must be a non-empty array/);
    expect(bad({ columns: ['id', 'id'] })).toThrow(/name each column once/);
    expect(bad({ key: 'other' })).toThrow(/option key must be a column.*\(id, v\).*got "other"/);
    expect(bad({ key: [] })).toThrow(/option key/);
    expect(bad({ toRow: 'x' })).toThrow(/option toRow must be a function/);
    expect(bad({ copyFromRows: 0 })).toThrow(
      /option copyFromRows must be an integer >= 1 or Infinity, got 0/,
    );
    expect(bad({ colums: ['id'] })).toThrow(InvalidOptionError);
    expect(bad({ colums: ['id'] })).toThrow(/unknown option "colums"/);
    expect(() => postgresSink(null as unknown as PostgresSinkOptions<number>)).toThrow(TypeError);
  });

  it('classifies errors by what a retry can change', () => {
    const db = (code: string) => Object.assign(new Error(code), { code, severity: 'ERROR' });
    expect(isPostgresRetryable(db('40001'))).toBe(true);
    expect(isPostgresRetryable(db('40P01'))).toBe(true);
    expect(isPostgresRetryable(db('08006'))).toBe(true);
    expect(isPostgresRetryable(db('57P01'))).toBe(true);
    expect(isPostgresRetryable(db('53300'))).toBe(true);
    expect(isPostgresRetryable(db('23505'))).toBe(false);
    expect(isPostgresRetryable(db('22P02'))).toBe(false);
    expect(isPostgresRetryable(db('42P01'))).toBe(false);
    expect(isPostgresRetryable(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(
      true,
    );
    expect(isPostgresRetryable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isPostgresRetryable(new Error('wrapped', { cause: db('40001') }))).toBe(true);
    expect(isPostgresRetryable(new TypeError('bad'))).toBe(false);
    expect(isPostgresRetryable('a string')).toBe(false);
  });
});
