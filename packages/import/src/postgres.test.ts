import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, pgUnavailable, schemaName } from './__fixtures__/pg.js';
import { importFile } from './index.js';

const unavailable = await pgUnavailable();
const schema = schemaName('import');
const dir = mkdtempSync(join(tmpdir(), 'bf-import-pg-'));
let client: pg.Client;

beforeAll(async () => {
  if (unavailable !== undefined) return;
  client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"`);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (unavailable !== undefined) return;
  await client.end();
  await dropSchema(schema);
});

let n = 0;
async function setup(csv: string): Promise<{ file: string; table: string }> {
  n++;
  const table = `${schema}.users${String(n)}`;
  await client.query(
    `CREATE TABLE ${table} (id int PRIMARY KEY, email text UNIQUE NOT NULL, name text, age smallint CHECK (age >= 0), active boolean, born date, score numeric(8,2), meta jsonb)`,
  );
  const file = join(dir, `u${String(n)}.csv`);
  writeFileSync(file, csv);
  return { file, table };
}

describe.skipIf(unavailable !== undefined)('import into PostgreSQL', () => {
  it('COPYs typed columns, quoted multiline fields and tabs/backslashes intact', async () => {
    const t = await setup(
      'id,email,name,age,active,born,score,meta\r\n1,a@x,"A\ttab\\back\nline",30,yes,2001-02-03,12.5,"{""k"":1}"\r\n2,b@x,,,,,,\r\n',
    );
    const s = await importFile({ input: t.file, into: PG_URL, table: t.table });
    expect(s).toMatchObject({ rowsRead: 2, inserted: 2 });
    const { rows } = await client.query(
      `SELECT id, name, age, active, born::text, score::text, meta FROM ${t.table} ORDER BY id`,
    );
    expect(rows).toEqual([
      {
        id: 1,
        name: 'A\ttab\\back\nline',
        age: 30,
        active: true,
        born: '2001-02-03',
        score: '12.50',
        meta: { k: 1 },
      },
      { id: 2, name: null, age: null, active: null, born: null, score: null, meta: null },
    ]);
  });

  it('isolates a constraint violation in the middle of a chunk; the good rows commit', async () => {
    let csv = 'id,email,age\n';
    for (let i = 1; i <= 100; i++)
      csv += `${String(i)},${i === 57 ? 'u3@x' : `u${String(i)}@x`},${String(i === 80 ? -1 : i)}\n`;
    const t = await setup(csv);
    const s = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      maxErrors: 5,
      chunkSize: 1000,
    });
    expect(s).toMatchObject({ rowsRead: 100, inserted: 98, rejected: 2 });
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${t.table} WHERE id IN (57, 80)`,
    );
    expect(rows[0]?.n).toBe('0');
  });

  it('with max errors 0 stops at the violation and commits nothing of its chunk', async () => {
    const t = await setup('id,email\n1,a@x\n2,b@x\n3,c@x\n4,a@x\n5,e@x\n');
    await expect(
      importFile({ input: t.file, into: PG_URL, table: t.table, chunkSize: 2 }),
    ).rejects.toThrow(/line 5 rejected: duplicate key value violates unique constraint/);
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${t.table} ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  });

  it('upserts through a staging table: inserted vs updated, last row of a key wins', async () => {
    const t = await setup('id,email,name\n1,a@x,A\n2,b@x,B\n');
    await importFile({ input: t.file, into: PG_URL, table: t.table });
    writeFileSync(t.file, 'id,email,name\n2,b@x,B2\n3,c@x,C\n3,c@x,C2\n');
    const s = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      key: ['id'],
      restart: true,
    });
    expect(s).toMatchObject({ inserted: 1, updated: 2 });
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM ${t.table} ORDER BY id`,
    );
    expect(rows.map((r) => r.name)).toEqual(['A', 'B2', 'C2']);
    const skip = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      key: ['id'],
      mode: 'skip-existing',
      restart: true,
    });
    expect(skip).toMatchObject({ inserted: 0, skipped: 3 });
  });

  it('resumes after SIGKILL at seeded random points: every row once', async () => {
    const total = 20_000;
    let csv = 'id,email,name,age\n';
    for (let i = 1; i <= total; i++)
      csv += `${String(i)},u${String(i)}@x,"n ${String(i)}",${String(i % 90)}\n`;
    const t = await setup(csv);
    let seed = 1402;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const child = fileURLToPath(new URL('./__fixtures__/run-import.ts', import.meta.url));
    let kills = 0;
    for (let run = 0; run < 40; run++) {
      const killAfter = 1 + Math.floor(random() * 15);
      const done = await new Promise<boolean>((resolveRun, rejectRun) => {
        const p = spawn(
          process.execPath,
          [
            '--conditions=@batchflight/source',
            '--import',
            'tsx',
            child,
            t.file,
            PG_URL,
            t.table,
            '500',
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let chunks = 0;
        let finished = false;
        p.stdout.on('data', (d: Buffer) => {
          const text = d.toString();
          if (text.includes('done')) finished = true;
          chunks += (text.match(/chunk/g) ?? []).length;
          if (!finished && chunks >= killAfter) {
            kills++;
            p.kill('SIGKILL');
          }
        });
        p.on('error', rejectRun);
        p.on('close', () => {
          resolveRun(finished);
        });
      });
      if (done) break;
    }
    expect(kills).toBeGreaterThan(0);
    const { rows } = await client.query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id) AS lo, max(id) AS hi, sum(age)::int AS s FROM ${t.table}`,
    );
    let ages = 0;
    for (let i = 1; i <= total; i++) ages += i % 90;
    expect(rows[0]).toEqual({ n: total, d: total, lo: 1, hi: total, s: ages });
  }, 120_000);
});
