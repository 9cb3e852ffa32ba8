import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATED_PATH, renderSqlModule, staleSqlModule } from './sql-modules.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A package directory whose `src/sql` holds `files`. */
function pkg(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sql-modules-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, 'src', 'sql', name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** The constants of a generated module, evaluated. */
function constants(module: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of module.matchAll(
    /^export const ([A-Z0-9_]+) = (`(?:\\[\s\S]|[^`\\])*`|'[^']*');$/gms,
  )) {
    // The generated literals escape only \, ` and ${, so this reads them back.
    out[m[1] ?? ''] = (m[2] ?? '').slice(1, -1).replace(/\\([\\`]|\$\{)/g, '$1');
  }
  return out;
}

describe('scripts/sql-modules', () => {
  it('names statements by -- name: or by their path, documents them by their leading comments', () => {
    const dir = pkg({
      'jobs.sql': [
        '-- name: GET_JOB',
        '-- One job by its sequence number.',
        'SELECT * FROM {{schema}}.jobs WHERE seq = $1;',
        '',
        '-- name: COUNT_JOBS',
        'SELECT count(*) FROM {{schema}}.jobs;',
        '',
      ].join('\n'),
      'migrations/0002_ready-indexes.sql':
        '-- Ready indexes.\nCREATE INDEX x ON {{schema}}.jobs (seq);\n',
    });
    const module = renderSqlModule(join(dir, 'src', 'sql'));
    const c = constants(module);
    expect(c.GET_JOB).toBe('SELECT * FROM {{schema}}.jobs WHERE seq = $1;\n');
    expect(c.COUNT_JOBS).toBe('SELECT count(*) FROM {{schema}}.jobs;\n');
    expect(c.MIGRATIONS_0002_READY_INDEXES).toBe('CREATE INDEX x ON {{schema}}.jobs (seq);\n');
    expect(c.SCHEMA_PLACEHOLDER).toBe('{{schema}}');
    expect(module).toContain(' * One job by its sequence number.');
  });

  it('splices fragments with their arguments, nested, leaving only {{schema}}', () => {
    const dir = pkg({
      'a.sql': [
        '-- fragment: sync(src, now)',
        'UPDATE {{schema}}.ledger SET at = {{now}} FROM {{src}}',
        '-- fragment: outer(src)',
        'WITH x AS ({{> sync src={{src}} now=$6}}) SELECT 1 FROM {{src}}',
        '-- name: STATEMENT',
        '{{> outer src=upd}};',
        '-- name: QUOTED',
        '{{> sync src="a JOIN b ON {x}" now=""}};',
      ].join('\n'),
    });
    const c = constants(renderSqlModule(join(dir, 'src', 'sql')));
    expect(c.STATEMENT).toBe(
      'WITH x AS (UPDATE {{schema}}.ledger SET at = $6 FROM upd) SELECT 1 FROM upd;\n',
    );
    expect(c.QUOTED).toBe('UPDATE {{schema}}.ledger SET at =  FROM a JOIN b ON {x};\n');
  });

  it('refuses unknown fragments, wrong arguments, leftover placeholders and duplicate names', () => {
    const render = (files: Record<string, string>) => () =>
      renderSqlModule(join(pkg(files), 'src', 'sql'));
    expect(render({ 'a.sql': '-- name: A\n{{> nope}}\n' })).toThrow(/unknown fragment/);
    expect(render({ 'a.sql': '-- fragment: f(x)\n{{x}}\n-- name: A\n{{> f y=1}}\n' })).toThrow(
      /missing \[x\], unknown \[y\]/,
    );
    expect(render({ 'a.sql': '-- name: A\nSELECT {{table}}\n' })).toThrow(
      /unresolved \{\{table\}\}/,
    );
    expect(
      render({ 'a.sql': '-- name: A\nSELECT 1\n', 'b.sql': '-- name: A\nSELECT 2\n' }),
    ).toThrow(/defined twice/);
    expect(render({ 'a.sql': '-- fragment: f()\n{{> f}}\n-- name: A\n{{> f}}\n' })).toThrow(
      /cycle/,
    );
  });

  it('escapes backticks, backslashes and ${ in the generated literals', () => {
    const dir = pkg({ 'a.sql': "-- name: A\nSELECT '`\\${x}';\n" });
    expect(constants(renderSqlModule(join(dir, 'src', 'sql'))).A).toBe("SELECT '`\\${x}';\n");
  });

  it('reports a generated module that differs from its SQL files as stale', () => {
    const dir = pkg({ 'a.sql': '-- name: A\nSELECT 1;\n' });
    const fresh = staleSqlModule(dir);
    expect(fresh).toBeDefined();
    writeFileSync(join(dir, GENERATED_PATH), fresh ?? '');
    expect(staleSqlModule(dir)).toBeUndefined();
    writeFileSync(join(dir, 'src', 'sql', 'a.sql'), '-- name: A\nSELECT 2;\n');
    expect(staleSqlModule(dir)).toContain('SELECT 2;');
  });
});
