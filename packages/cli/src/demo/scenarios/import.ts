/**
 * Bulk import scenario of `npm run demo` (SQLite, the embedded default):
 * 100,000 CSV rows, one of them bad; `batchflight import` is SIGKILLed about
 * halfway and run again. The claims: every good row exactly once, the bad row
 * reported with its line, and the chunked import far ahead of row-by-row
 * INSERTs (timed on a 5,000-row sample and scaled, labelled as computed).
 * The time comparison is reported, not claimed: on SQLite a row-by-row INSERT
 * has no network round trip, so the import's lead there is CSV parsing bound
 * and small; the PostgreSQL figures are in bench/import.bench.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { importFile } from '@batchflight/import';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, ms } from '../table.js';

const ROWS = 100_000;
const BAD_LINE = 61_235; // line of the file (header is line 1)
const SAMPLE = 5_000;
const DDL = `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT,
  age INTEGER, active BOOLEAN, joined TEXT)`;

function csv(): string {
  const lines = ['id,email,name,age,active,joined'];
  for (let i = 1; i <= ROWS; i++) {
    const age = i + 1 === BAD_LINE ? 'forty' : String(18 + (i % 60));
    lines.push(
      `${String(i)},user${String(i)}@example.com,"User ${String(i)}, Jr",${age},${i % 2 === 0 ? 'true' : 'false'},2026-01-${String(1 + (i % 28)).padStart(2, '0')}`,
    );
  }
  return lines.join('\n') + '\n';
}

export const importScenario: Scenario = {
  id: 'import-resume',
  capability: 'import',
  title: '100,000 CSV rows into SQLite, import SIGKILLed halfway and resumed, one bad row',
  async run(env): Promise<ScenarioReport> {
    const file = join(env.workDir, 'users.csv');
    const dbFile = join(env.workDir, 'import.db');
    const rejects = join(env.workDir, 'import-rejects.csv');
    writeFileSync(file, csv());
    new Database(dbFile).exec(DDL).close();
    const into = `sqlite:${dbFile}`;
    const args = ['import', file, '--into', into, '--table', 'users', '--max-errors', '1'];
    args.push('--reject-file', rejects, '--chunk', '2000', '--json');

    // First run: the real command in a child, killed once about half the rows are committed.
    const started = performance.now();
    // The bin itself: built .js, or .ts through tsx when the demo runs from source (as spawnScript does).
    const fromSource = import.meta.url.endsWith('.ts');
    const bin = fileURLToPath(new URL(`../../bin${fromSource ? '.ts' : '.js'}`, import.meta.url));
    const node = fromSource ? ['--conditions=@batchflight/source', '--import', 'tsx', bin] : [bin];
    const child = spawn(process.execPath, [...node, ...args], { stdio: 'ignore' });
    const reader = new Database(dbFile, { readonly: true });
    let atKill = 0;
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const n = (reader.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
        if (n >= ROWS / 2 && atKill === 0) {
          atKill = n;
          child.kill('SIGKILL');
        }
      }, 5);
      child.on('close', () => {
        clearInterval(poll);
        resolve();
      });
    });
    // Second run, in process: continues after the last committed chunk.
    const summary = await importFile({
      input: file,
      into,
      table: 'users',
      maxErrors: 1,
      rejectFile: rejects,
      chunkSize: 2000,
    });
    const killedAndResumedMs = performance.now() - started;
    const final = reader
      .prepare('SELECT count(*) AS n, count(DISTINCT id) AS d, sum(id) AS s FROM users')
      .get() as { n: number; d: number; s: number };
    reader.close();
    const expectedSum = (ROWS * (ROWS + 1)) / 2 - (BAD_LINE - 1);
    const rejectLines = existsSync(rejects)
      ? readFileSync(rejects, 'utf8').trim().split('\n').slice(1)
      : [];
    const reportedLine = Number(rejectLines[0]?.split(',')[0] ?? NaN);

    // The import's own time: a clean run of the same file into a fresh database.
    const cleanDb = join(env.workDir, 'import-clean.db');
    new Database(cleanDb).exec(DDL).close();
    const tClean = performance.now();
    await importFile({
      input: file,
      into: `sqlite:${cleanDb}`,
      table: 'users',
      maxErrors: 1,
      chunkSize: 5000,
    });
    const cleanMs = performance.now() - tClean;

    // Row-by-row baseline: one INSERT per row, each its own transaction, on a sample.
    const naive = new Database(join(env.workDir, 'import-naive.db'));
    naive.pragma('journal_mode = WAL');
    naive.exec(DDL);
    const insert = naive.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)');
    const t0 = performance.now();
    for (let i = 1; i <= SAMPLE; i++) {
      insert.run(
        i,
        `user${String(i)}@example.com`,
        `User ${String(i)}, Jr`,
        18 + (i % 60),
        i % 2,
        '2026-01-01',
      );
    }
    const naiveMs = ((performance.now() - t0) / SAMPLE) * ROWS;
    naive.close();

    const duplicates = final.n - final.d;
    const lost = ROWS - 1 - final.d;
    return {
      columns: ['row-by-row INSERT', 'batchflight import (killed + resumed)'],
      rows: [
        [
          'time for 100,000 rows',
          `${ms(naiveMs)} (computed from ${count(SAMPLE)} rows)`,
          `${ms(cleanMs)} (uninterrupted run)`,
        ],
        ['killed run + resumed run, process start included', '-', ms(killedAndResumedMs)],
        ['rows committed when SIGKILLed', '-', count(atKill)],
        ['rows at the end', '-', count(final.n)],
        ['duplicates / lost', '-', `${count(duplicates)} / ${count(Math.max(0, lost))}`],
        [
          'bad row reported',
          '-',
          `line ${String(reportedLine)} (${String(summary.rejected)} rejected)`,
        ],
      ],
      claims: [
        { what: 'rows committed before the kill', actual: atKill, atLeast: 1, atMost: ROWS - 2 },
        { what: 'duplicate rows', actual: duplicates, atMost: 0 },
        { what: 'good rows lost', actual: Math.max(0, lost), atMost: 0 },
        {
          what: 'ids differing from the file (sum check)',
          actual: final.s === expectedSum ? 0 : 1,
          atMost: 0,
        },
        {
          what: 'line of the reported bad row',
          actual: reportedLine,
          atLeast: BAD_LINE,
          atMost: BAD_LINE,
        },
      ],
      verdict: `resumed after the last committed chunk: ${count(final.n)} rows, none twice, the bad row on line ${String(reportedLine)} in the reject file, ${(naiveMs / cleanMs).toFixed(0)}x row-by-row`,
    };
  },
};

/** The import scenarios, in the order they run. */
export const importScenarios: readonly Scenario[] = [importScenario];
