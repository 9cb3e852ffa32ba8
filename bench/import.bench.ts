/**
 * Bulk import, side by side in one run: 1,000,000 generated rows of 8 mixed-type columns into
 * PostgreSQL with `psql \copy` (the ceiling), batchflight import (plain COPY and upsert),
 * chunked multi-row INSERTs (measured on 200,000 rows and scaled) and row-by-row INSERTs
 * (measured on 20,000 rows and scaled); then into SQLite. RSS is sampled over the 1M-row import.
 *
 *   npm run bench -- import        (BATCHFLIGHT_PG_URL, default the local test database;
 *                                   BENCH_ROUNDS alternated rounds of psql/plain/upsert, default 3)
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import pg from 'pg';
import { importFile } from '@batchflight/import';

const URL_ = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), 'bf-import-bench-'));
const file = join(dir, 'rows.csv');
const schema = `bf_import_bench_${String(process.pid)}`;
const PG_DDL = (t: string): string =>
  `CREATE TABLE ${t} (id bigint PRIMARY KEY, email text NOT NULL, name text, age integer, active boolean, born date, score numeric(10,2), created timestamptz)`;

function row(i: number): string[] {
  return [
    String(i),
    `user${String(i)}@example.com`,
    `"User ${String(i)}, ""the"" ${String(i % 7)}"`,
    String(18 + (i % 70)),
    i % 3 === 0 ? 'true' : 'false',
    `19${String(50 + (i % 50))}-0${String(1 + (i % 9))}-1${String(i % 10)}`,
    `${String(i % 10_000)}.${String(i % 100).padStart(2, '0')}`,
    `2026-11-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00Z`,
  ];
}

async function generate(): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,email,name,age,active,born,score,created\n');
  for (let i = 1; i <= ROWS; i++) {
    if (!out.write(row(i).join(',') + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const client = new pg.Client({ connectionString: URL_ });
const results: { name: string; rowsPerS: number; note: string }[] = [];
const record = (name: string, rows: number, ms: number, note = ''): number => {
  const rowsPerS = (rows / ms) * 1000;
  results.push({ name, rowsPerS, note });
  console.log(
    `${name.padEnd(40)} ${Math.round(rowsPerS).toLocaleString('en-US').padStart(10)} rows/s  ${note}`,
  );
  return rowsPerS;
};
async function table(name: string): Promise<string> {
  const t = `${schema}.${name}`;
  await client.query(`DROP TABLE IF EXISTS ${t}`);
  await client.query(PG_DDL(t));
  return t;
}

async function inserts(t: string, n: number, per: number): Promise<number> {
  const started = performance.now();
  for (let i = 1; i <= n; i += per) {
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (let j = i; j < i + per && j <= n; j++) {
      const r = row(j);
      r[2] = `User ${String(j)}, "the" ${String(j % 7)}`;
      const base = params.length;
      tuples.push(`(${r.map((_, k) => `$${String(base + k + 1)}`).join(',')})`);
      params.push(...r);
    }
    await client.query(`INSERT INTO ${t} VALUES ${tuples.join(',')}`, params);
  }
  return performance.now() - started;
}

await client.connect();
try {
  await client.query(`CREATE SCHEMA ${schema}`);
  console.log(`generating ${ROWS.toLocaleString('en-US')} rows…`);
  await generate();

  // psql, plain and upsert alternate over several rounds and each ratio is taken within its
  // round: on a shared machine the load moves between runs, so one run of each is not a ratio.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const ratios: { plain: number; unchanged: number; changed: number }[] = [];
  let maxRss = 0;
  const rss0 = process.memoryUsage().rss;
  let plain = 0;
  let t = '';
  for (let round = 1; round <= rounds; round++) {
    t = await table('psql');
    let started = performance.now();
    const psql = spawnSync('psql', [URL_, '-q', '-c', `\\copy ${t} FROM '${file}' CSV HEADER`], {
      stdio: 'inherit',
    });
    if (psql.status !== 0) throw new Error('psql \\copy failed');
    const ceiling = record(
      `psql \\copy (round ${String(round)})`,
      ROWS,
      performance.now() - started,
    );

    t = await table('plain');
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 50);
    started = performance.now();
    await importFile({ input: file, into: URL_, table: t, restart: true });
    const plainMs = performance.now() - started;
    clearInterval(sampler);
    plain = record(
      `batchflight import (COPY) (round ${String(round)})`,
      ROWS,
      plainMs,
      `RSS ${String(Math.round(rss0 / 2 ** 20))} MB at start, max ${String(Math.round(maxRss / 2 ** 20))} MB`,
    );

    const upsertOf = async (label: string): Promise<number> => {
      const begun = performance.now();
      await importFile({
        input: file,
        into: URL_,
        table: t,
        key: ['id'],
        mode: 'upsert',
        restart: true,
      });
      return record(
        `batchflight import --upsert, ${label} (round ${String(round)})`,
        ROWS,
        performance.now() - begun,
      );
    };
    // The same file again: every row equals the stored one and is not rewritten.
    const unchanged = await upsertOf('all unchanged');
    // Every stored row made different (not timed), so the upsert rewrites each one.
    await client.query(`UPDATE ${t} SET name = name || '!'`);
    const changed = await upsertOf('all changed');
    ratios.push({ plain: plain / ceiling, unchanged: unchanged / plain, changed: changed / plain });
  }
  const median = (values: number[]): number => {
    const sorted = [...values].sort((x, y) => x - y);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const plainRatio = median(ratios.map((r) => r.plain));
  const unchangedRatio = median(ratios.map((r) => r.unchanged));
  const changedRatio = median(ratios.map((r) => r.changed));

  t = await table('chunked');
  const chunked = record(
    'chunked multi-row INSERT (1000/stmt)',
    200_000,
    await inserts(t, 200_000, 1000),
    'measured on 200,000 rows',
  );

  t = await table('naive');
  const naive = record(
    'row-by-row INSERT (autocommit)',
    20_000,
    await inserts(t, 20_000, 1),
    'measured on 20,000 rows',
  );

  const sqliteFile = join(dir, 'bench.db');
  new Database(sqliteFile)
    .exec(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, age INTEGER, active BOOLEAN, born DATE, score NUMERIC, created TIMESTAMP)',
    )
    .close();
  const started = performance.now();
  await importFile({ input: file, into: `sqlite:${sqliteFile}`, table: 't' });
  record('batchflight import into SQLite', ROWS, performance.now() - started);

  console.log(
    `\nbatchflight/psql \\copy per round ${ratios.map((r) => r.plain.toFixed(2)).join(' ')}, median ${plainRatio.toFixed(2)} (target >= 0.80); ` +
      `upsert/plain (target >= 0.40) all unchanged per round ${ratios.map((r) => r.unchanged.toFixed(2)).join(' ')}, median ${unchangedRatio.toFixed(2)}; ` +
      `all changed per round ${ratios.map((r) => r.changed.toFixed(2)).join(' ')}, median ${changedRatio.toFixed(2)}; ` +
      `last round vs row-by-row ${(plain / naive).toFixed(0)}x (target >= 50x); vs chunked INSERT ${(plain / chunked).toFixed(1)}x`,
  );
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
}
