import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { importFile, InputChangedError, RowRejectedError } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'bf-import-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
function setup(
  csv: string | Buffer,
  ddl = 'CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT, age INTEGER CHECK (age >= 0))',
) {
  n++;
  const db = join(dir, `t${String(n)}.db`);
  const file = join(dir, `t${String(n)}.csv`);
  writeFileSync(file, csv);
  const d = new Database(db);
  d.exec(ddl);
  d.close();
  return { db, file, into: `sqlite:${db}` };
}
function rows(db: string, sql = 'SELECT * FROM users ORDER BY id'): unknown[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all();
  } finally {
    d.close();
  }
}

describe('import into SQLite', () => {
  it('reads quoted fields with embedded newlines, a BOM and CRLF', async () => {
    const t = setup(
      Buffer.from('\uFEFFid,email,name,age\r\n1,a@x,"Ann\r\n""Q"", Jr",30\r\n2,b@x,Bob,\r\n'),
    );
    const s = await importFile({ input: t.file, into: t.into, table: 'users' });
    expect(s).toMatchObject({ rowsRead: 2, inserted: 2, rejected: 0 });
    expect(rows(t.db)).toEqual([
      { id: 1, email: 'a@x', name: 'Ann\r\n"Q", Jr', age: 30 },
      { id: 2, email: 'b@x', name: 'Bob', age: null },
    ]);
  });

  it('handles an empty file and a header-only file', async () => {
    const e = setup('');
    expect(await importFile({ input: e.file, into: e.into, table: 'users' })).toMatchObject({
      rowsRead: 0,
      inserted: 0,
    });
    const h = setup('id,email\n');
    expect(await importFile({ input: h.file, into: h.into, table: 'users' })).toMatchObject({
      rowsRead: 0,
      inserted: 0,
    });
  });

  it('stops at a type error on line N, naming it, with nothing of its chunk committed', async () => {
    const t = setup('id,email,age\n1,a@x,1\n2,b@x,2\n3,c@x,old\n4,d@x,4\n');
    const err = await importFile({
      input: t.file,
      into: t.into,
      table: 'users',
      chunkSize: 2,
    }).catch((e: unknown) => e);
    expect(RowRejectedError.is(err)).toBe(true);
    expect((err as RowRejectedError).line).toBe(4);
    expect((err as Error).message).toMatch(
      /line 4 rejected: column age \(INTEGER\): "old" is not an integer/,
    );
    expect(rows(t.db)).toHaveLength(2);
  });

  it('rejects a wrong column count and a mid-chunk constraint violation to the reject file, committing the good rows', async () => {
    const t = setup('id,email,age\n1,a@x,1\n2,b@x\n3,c@x,-5\n4,d@x,4\n5,a@x,5\n6,f@x,6\n');
    const rejectFile = join(dir, 'rejects.csv');
    const s = await importFile({
      input: t.file,
      into: t.into,
      table: 'users',
      maxErrors: 10,
      rejectFile,
    });
    expect(s).toMatchObject({ rowsRead: 6, inserted: 3, rejected: 3 });
    expect((rows(t.db) as { id: number }[]).map((r) => r.id)).toEqual([1, 4, 6]);
    const rejects = readFileSync(rejectFile, 'utf8').trim().split('\n');
    expect(rejects[0]).toBe('line,reason,record');
    expect(rejects[1]).toMatch(/^3,"expected 3 fields, got 2",/);
    expect(rejects[2]).toMatch(/^4,CHECK constraint failed/);
    expect(rejects[3]).toMatch(/^6,UNIQUE constraint failed: users.email/);
  });

  it('upserts and skips existing rows on a key', async () => {
    const t = setup('id,email,name\n1,a@x,A\n2,b@x,B\n');
    await importFile({ input: t.file, into: t.into, table: 'users' });
    writeFileSync(t.file, 'id,email,name\n2,b@x,B2\n3,c@x,C\n3,c@x,C2\n');
    const up = await importFile({
      input: t.file,
      into: t.into,
      table: 'users',
      key: ['email'],
      restart: true,
    });
    expect(up).toMatchObject({ inserted: 1, updated: 2 });
    expect((rows(t.db) as { name: string }[]).map((r) => r.name)).toEqual(['A', 'B2', 'C2']);
    writeFileSync(t.file, 'id,email,name\n2,b@x,B3\n4,d@x,D\n');
    const skip = await importFile({
      input: t.file,
      into: t.into,
      table: 'users',
      key: ['email'],
      mode: 'skip-existing',
      restart: true,
    });
    expect(skip).toMatchObject({ inserted: 1, skipped: 1 });
    expect((rows(t.db) as { name: string }[]).map((r) => r.name)).toEqual(['A', 'B2', 'C2', 'D']);
  });

  it('reads NDJSON from stdin', async () => {
    const t = setup('');
    const stdin = Readable.from([
      Buffer.from('{"id":1,"email":"a@x"}\n{"id":2,'),
      Buffer.from('"email":"b@x","age":3}\n'),
    ]);
    const s = await importFile({
      input: '-',
      format: 'ndjson',
      into: t.into,
      table: 'users',
      stdin,
    });
    expect(s).toMatchObject({ rowsRead: 2, inserted: 2 });
    expect(rows(t.db)).toEqual([
      { id: 1, email: 'a@x', name: null, age: null },
      { id: 2, email: 'b@x', name: null, age: 3 },
    ]);
  });

  it('refuses a file changed since the checkpoint unless restart is given', async () => {
    const t = setup('id,email\n1,a@x\n2,b@x\n3,c@x\n');
    await expect(
      importFile({ input: t.file, into: t.into, table: 'users', chunkSize: 1, maxErrors: 0 }),
    ).resolves.toMatchObject({ inserted: 3 });
    writeFileSync(t.file, 'id,email\n1,A@x\n2,b@x\n3,c@x\n');
    const err = await importFile({ input: t.file, into: t.into, table: 'users' }).catch(
      (e: unknown) => e,
    );
    expect(InputChangedError.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/changed since the last run\. Pass restart/);
    // the same file again is complete: nothing imported twice
    writeFileSync(t.file, 'id,email\n1,a@x\n2,b@x\n3,c@x\n');
    await expect(
      importFile({ input: t.file, into: t.into, table: 'users' }),
    ).resolves.toMatchObject({ rowsThisRun: 0, inserted: 3 });
  });

  it('validates options, naming the option and echoing the value', async () => {
    const t = setup('');
    await expect(
      importFile({ input: t.file, into: t.into, table: 'users', chunkSize: 0 }),
    ).rejects.toThrow('importFile(): option chunkSize must be an integer >= 1, got 0.');
    await expect(importFile({ input: t.file, into: 'mysql://x', table: 'users' })).rejects.toThrow(
      /option into must be/,
    );
    await expect(
      importFile({ input: t.file, into: t.into, table: 'users', mode: 'upsert' }),
    ).rejects.toThrow(/option key must name/);
  });

  it('resumes after SIGKILL at seeded random points: every row once', async () => {
    const total = 20_000;
    let csv = 'id,email,name,age\n';
    for (let i = 1; i <= total; i++)
      csv += `${String(i)},u${String(i)}@x,"name ${String(i)}\nline 2",${String(i % 90)}\n`;
    const t = setup(csv);
    let seed = 14;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const child = fileURLToPath(new URL('./__fixtures__/run-import.ts', import.meta.url));
    let kills = 0;
    for (let run = 0; run < 30; run++) {
      const killAfter = 1 + Math.floor(random() * 20);
      const done = await new Promise<boolean>((resolveRun, rejectRun) => {
        const p = spawn(
          process.execPath,
          [
            '--conditions=@batchflight/source',
            '--import',
            'tsx',
            child,
            t.file,
            t.into,
            'users',
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
    const got = rows(
      t.db,
      'SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi, sum(age) AS s FROM users',
    )[0];
    let ages = 0;
    for (let i = 1; i <= total; i++) ages += i % 90;
    expect(got).toEqual({ n: total, d: total, lo: 1, hi: total, s: ages });
  }, 120_000);
});
