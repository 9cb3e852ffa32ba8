import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('waits for the previous chunk on the other connection: a key it holds uncommitted is rejected, not a hang', async () => {
    // Chunks of 2 on two connections: rows 3 and 6 repeat keys of the chunk just before theirs,
    // which is still open on the other connection when they are copied.
    const t = await setup('id,email\n1,a@x\n2,b@x\n3,b@x\n4,d@x\n5,e@x\n6,e@x\n7,g@x\n');
    const s = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      chunkSize: 2,
      maxErrors: 5,
    });
    expect(s).toMatchObject({ rowsRead: 7, inserted: 5, rejected: 2 });
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${t.table} ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 4, 5, 7]);
  });

  it('counts the rejects of every chunk across a stop and a resume', async () => {
    let csv = 'id,email,age\n';
    for (let i = 1; i <= 12; i++)
      csv += `${String(i)},u${String(i)}@x,${i === 2 || i === 11 ? 'x' : '1'}\n`;
    const t = await setup(csv);
    const controller = new AbortController();
    const first = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      chunkSize: 3,
      maxErrors: 5,
      signal: controller.signal,
      onProgress: () => {
        controller.abort();
      },
    });
    expect(first.stopped).toBe(true);
    expect(first.rejected).toBe(1);
    const second = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      chunkSize: 3,
      maxErrors: 5,
    });
    expect(second).toMatchObject({ resumed: true, rowsRead: 12, inserted: 10, rejected: 2 });
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.table}`);
    expect(rows[0]?.n).toBe(10);
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
    // Again: the rows equal the stored ones, so none is rewritten (same xmin) and they count as
    // skipped; the repeated key 3 still counts as an update of its first row by its last.
    const before = await client.query<{ xmin: string }>(`SELECT xmin FROM ${t.table} ORDER BY id`);
    const again = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      key: ['id'],
      restart: true,
    });
    expect(again).toMatchObject({ inserted: 0, updated: 1, skipped: 2 });
    const after = await client.query<{ xmin: string }>(`SELECT xmin FROM ${t.table} ORDER BY id`);
    expect(after.rows).toEqual(before.rows);
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

  it('finds a refused record by the line COPY names, past quoted newlines, and reports its column', async () => {
    const t = await setup(
      'id,email,name,age\n1,a@x,"two\nlines",1\n2,b@x,ok,x\n3,c@x,"three\n\nlines",3\n4,a@x,dup,4\n5,e@x,fine,5\n',
    );
    const rejects = join(dir, 'rejects-line.csv');
    const s = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      maxErrors: 5,
      rejectFile: rejects,
    });
    expect(s).toMatchObject({ rowsRead: 5, inserted: 3, rejected: 2 });
    const { rows } = await client.query<{ id: number; name: string }>(
      `SELECT id, name FROM ${t.table} ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 1, name: 'two\nlines' },
      { id: 3, name: 'three\n\nlines' },
      { id: 5, name: 'fine' },
    ]);
    const lines = readFileSync(rejects, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('line,reason,record');
    expect(lines[1]).toMatch(/^4,"invalid input syntax for type smallint: ""x"" \(column age\)",/);
    expect(lines[1]).toContain('"[""2"",""b@x"",""ok"",""x""]"');
    expect(lines[2]).toMatch(/^8,"duplicate key value violates unique constraint/);
  });

  it('rejects every bad row of a chunk and commits every good one', async () => {
    let csv = 'id,email,age\n';
    for (let i = 1; i <= 1000; i++)
      csv += `${String(i)},u${String(i)}@x,${i % 10 === 0 ? 'old' : String(i % 90)}\n`;
    const t = await setup(csv);
    const rejects = join(dir, 'rejects-many.csv');
    const s = await importFile({
      input: t.file,
      into: PG_URL,
      table: t.table,
      maxErrors: 100,
      chunkSize: 400,
      rejectFile: rejects,
    });
    expect(s).toMatchObject({ rowsRead: 1000, inserted: 900, rejected: 100 });
    const rejectedLines = readFileSync(rejects, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[0]));
    // the record of id i is on line i + 1
    expect(rejectedLines).toEqual(Array.from({ length: 100 }, (_, k) => (k + 1) * 10 + 1));
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${t.table} WHERE id % 10 <> 0`,
    );
    expect(rows[0]?.n).toBe(900);
  });

  it('reads a quoted empty field as NULL, as the parsing path does', async () => {
    const t = await setup('id,email,name,age\n1,a@x,"",""\n');
    await importFile({ input: t.file, into: PG_URL, table: t.table });
    const { rows } = await client.query(`SELECT name, age FROM ${t.table}`);
    expect(rows).toEqual([{ name: null, age: null }]);
  });

  it('rejects an unterminated quoted field at the end of the input', async () => {
    const t = await setup('id,email,name\n1,a@x,ok\n2,b@x,"never closed\n');
    const s = await importFile({ input: t.file, into: PG_URL, table: t.table, maxErrors: 1 });
    expect(s).toMatchObject({ rowsRead: 2, inserted: 1, rejected: 1 });
  });

  it('isolates a foreign-key violation, which COPY checks after its rows', async () => {
    await client.query(`CREATE TABLE ${schema}.teams (id int PRIMARY KEY)`);
    await client.query(`INSERT INTO ${schema}.teams VALUES (1), (2)`);
    const table = `${schema}.members`;
    await client.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, team int REFERENCES ${schema}.teams)`,
    );
    const file = join(dir, 'members.csv');
    writeFileSync(file, 'id,team\n1,1\n2,2\n3,9\n4,1\n5,2\n6,1\n');
    const s = await importFile({ input: file, into: PG_URL, table, maxErrors: 1 });
    expect(s).toMatchObject({ rowsRead: 6, inserted: 5, rejected: 1 });
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 4, 5, 6]);
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
