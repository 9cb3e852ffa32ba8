import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { runImportCommand } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'bf-import-cli-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('Ctrl-C stops at a chunk boundary and prints the command that resumes; --json summarises', async () => {
  const db = join(dir, 'a.db');
  new Database(db).exec('CREATE TABLE t (id INTEGER PRIMARY KEY)').close();
  const file = join(dir, 'a.csv');
  writeFileSync(file, 'id\n' + Array.from({ length: 50 }, (_, i) => String(i + 1)).join('\n'));
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    writeOut: (t: string) => out.push(t),
    writeErr: (t: string) => err.push(t),
    // Interrupted before the first chunk commits: the import stops after it.
    onInterrupt: (h: () => void) => {
      h();
      return () => undefined;
    },
  };
  const argv = ['import', file, '--into', `sqlite:${db}`, '--table', 't', '--chunk', '10'];
  const flags = { into: `sqlite:${db}`, table: 't', chunk: '10', json: true };
  expect(await runImportCommand(file, flags, io, argv)).toBe(0);
  expect(JSON.parse(out[0] ?? '')).toMatchObject({ rowsRead: 10, inserted: 10, stopped: true });
  expect(err.join('')).toContain(`resume with:\n  batchflight ${argv.join(' ')}\n`);
  out.length = 0;
  expect(await runImportCommand(file, flags, { ...io, onInterrupt: () => () => undefined })).toBe(
    0,
  );
  expect(JSON.parse(out[0] ?? '')).toMatchObject({
    rowsRead: 50,
    inserted: 50,
    stopped: false,
    resumed: true,
  });
});

it('usage errors exit 2 naming the flag; a failed import exits 1 with its message', async () => {
  const err: string[] = [];
  const io = {
    writeOut: () => undefined,
    writeErr: (t: string) => err.push(t),
    onInterrupt: () => () => undefined,
  };
  expect(await runImportCommand('x.csv', { table: 't' }, io)).toBe(2);
  expect(err.join('')).toContain('--into is required');
  expect(await runImportCommand('x.csv', { into: 'sqlite:x.db', table: 't', chunk: '0' }, io)).toBe(
    2,
  );
  expect(err.join('')).toContain('--chunk must be an integer >= 1, got "0"');
  expect(
    await runImportCommand(
      join(dir, 'missing.csv'),
      { into: `sqlite:${join(dir, 'b.db')}`, table: 't' },
      io,
    ),
  ).toBe(1);
});
