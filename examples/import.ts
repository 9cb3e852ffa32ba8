/** docs/import.md and packages/import/README.md: a CSV into a SQLite table, in a scratch folder. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

// The snippet names its files relative to the working folder, as a user at a shell would.
const home = process.cwd();
const scratch = mkdtempSync(join(tmpdir(), 'batchflight-import-example-'));
process.chdir(scratch);
writeFileSync('users.csv', 'email,name\nada@example.com,Ada\nbob@example.com,Bob\n');
const db = new Database('app.db');
db.exec('CREATE TABLE users (email TEXT PRIMARY KEY, name TEXT NOT NULL)');
db.close();

// #region usage
import { importFile } from '@batchflight/import';

const summary = await importFile({ input: 'users.csv', into: 'sqlite:app.db', table: 'users' });
// { rowsRead, bytesRead, totalBytes, inserted, updated, skipped, rejected, seconds, stopped, ... }
// #endregion

const check = new Database('app.db', { readonly: true });
/** What the example left: the summary and the rows of the table. */
export const results = {
  summary,
  rows: check.prepare('SELECT email, name FROM users ORDER BY email').all(),
};
check.close();
process.chdir(home);
rmSync(scratch, { recursive: true, force: true });
