/**
 * Compiles a package's SQL files (`<package>/src/sql/**\/*.sql`) into one
 * generated TypeScript module (`<package>/src/sql/generated.ts`) of named
 * string constants, so the statements are reviewed (and EXPLAINed) as SQL,
 * yet no file is read at run time (bundlers and single-file deployments keep
 * working).
 *
 * Usage: `npx tsx scripts/sql-modules.ts <package dir>...` writes the modules;
 * `--check` only compares and exits 1 when one is stale (a test of each
 * package does the same through {@link staleSqlModule}).
 *
 * The format of a `.sql` file:
 *
 * - `-- name: SOME_STATEMENT` starts a statement exported as `SOME_STATEMENT`;
 *   the `--` comment lines right after it become the constant's TSDoc (and
 *   are not sent to the server). A file without any `-- name:` line is one
 *   statement, named after its path below `src/sql` in upper snake case
 *   (`migrations/0002_ready_indexes.sql` → `MIGRATIONS_0002_READY_INDEXES`),
 *   documented by its leading comment lines.
 * - `-- fragment: name(a, b)` starts a fragment: not exported, but spliced in
 *   where a statement (or another fragment) says `{{> name a=x b=$6}}`, with
 *   `{{a}}` and `{{b}}` in its text replaced by the given values (in double
 *   quotes when they hold spaces or `}`: `order="j.priority DESC, j.seq"`).
 *   Fragments are resolved here, so the generated constant is the full
 *   statement the server runs.
 * - `{{schema}}` is the one placeholder left in the generated text: the
 *   driver binds it at run time (PostgreSQL: the quoted schema, written
 *   `{{schema}}.jobs`; SQLite: the table prefix, `{{schema}}.` → `bf_`).
 *   Any other `{{…}}` left after the fragments are resolved is an error.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The one placeholder of the generated SQL: the schema (PostgreSQL) or table prefix (SQLite). */
export const SCHEMA_PLACEHOLDER = '{{schema}}';

/** The generated module, relative to a package's directory. */
export const GENERATED_PATH = join('src', 'sql', 'generated.ts');

interface Section {
  readonly kind: 'statement' | 'fragment';
  readonly name: string;
  readonly params: readonly string[];
  readonly doc: readonly string[];
  readonly body: string;
  readonly file: string;
}

const NAME_RE = /^-- name:\s*([A-Z][A-Z0-9_]*)\s*$/;
const FRAGMENT_RE = /^-- fragment:\s*([a-z][a-z0-9_]*)\s*\(([^)]*)\)\s*$/;
const INCLUDE_RE =
  /\{\{>\s*([a-z][a-z0-9_]*)((?:\s+[a-z][a-z0-9_]*=(?:"[^"]*"|[^\s"}]+))*)\s*\}\}/g;
const ARG_RE = /([a-z][a-z0-9_]*)=(?:"([^"]*)"|([^\s"}]+))/g;
const MAX_DEPTH = 8;

/** Every `.sql` file below `dir`, as paths relative to it with `/`, in sorted order. */
function sqlFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.sql')) out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** `migrations/0002_ready-indexes.sql` → `MIGRATIONS_0002_READY_INDEXES`. */
function constantName(file: string): string {
  return file
    .slice(0, -'.sql'.length)
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/** Leading `--` comment lines as documentation, and the text after them. */
function splitDoc(lines: readonly string[]): { doc: string[]; rest: string[] } {
  let k = 0;
  while (k < lines.length && /^--( |$)/.test(lines[k] ?? '')) k++;
  return {
    doc: lines.slice(0, k).map((l) => l.replace(/^-- ?/, '')),
    rest: lines.slice(k),
  };
}

/** The trimmed statement text: no blank lines at either end, one trailing newline. */
function tidy(lines: readonly string[]): string {
  const text = lines
    .join('\n')
    .replace(/^\s*\n/, '')
    .trimEnd();
  return text.length === 0 ? '' : `${text}\n`;
}

function parseFile(dir: string, file: string): Section[] {
  const lines = readFileSync(join(dir, file), 'utf8').replace(/\r\n/g, '\n').split('\n');
  const starts = lines.flatMap((l, i) => (NAME_RE.test(l) || FRAGMENT_RE.test(l) ? [i] : []));
  if (starts.length === 0) {
    const { doc, rest } = splitDoc(lines);
    return [
      { kind: 'statement', name: constantName(file), params: [], doc, body: tidy(rest), file },
    ];
  }
  const sections: Section[] = [];
  starts.forEach((start, k) => {
    const header = lines[start] ?? '';
    const { doc, rest } = splitDoc(lines.slice(start + 1, starts[k + 1] ?? lines.length));
    const named = NAME_RE.exec(header);
    const fragment = FRAGMENT_RE.exec(header);
    sections.push(
      named !== null
        ? { kind: 'statement', name: named[1] ?? '', params: [], doc, body: tidy(rest), file }
        : {
            kind: 'fragment',
            name: fragment?.[1] ?? '',
            params: (fragment?.[2] ?? '')
              .split(',')
              .map((p) => p.trim())
              .filter((p) => p.length > 0),
            doc,
            body: tidy(rest).trimEnd(),
            file,
          },
    );
  });
  return sections;
}

/** Splices the fragments into `text` (recursively, bounded). */
function expand(
  text: string,
  fragments: ReadonlyMap<string, Section>,
  where: string,
  depth = 0,
): string {
  if (depth > MAX_DEPTH) {
    throw new Error(`${where}: fragments nested deeper than ${String(MAX_DEPTH)} (a cycle?)`);
  }
  return text.replace(INCLUDE_RE, (_, name: string, rawArgs: string) => {
    const fragment = fragments.get(name);
    if (fragment === undefined) throw new Error(`${where}: unknown fragment {{> ${name}}}`);
    const args = new Map(
      [...rawArgs.matchAll(ARG_RE)].map((m) => [m[1] ?? '', m[2] ?? m[3] ?? ''] as const),
    );
    const missing = fragment.params.filter((p) => !args.has(p));
    const extra = [...args.keys()].filter((a) => !fragment.params.includes(a));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(
        `${where}: {{> ${name}}} takes (${fragment.params.join(', ')}); missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`,
      );
    }
    const body = fragment.body.replace(/\{\{([a-z][a-z0-9_]*)\}\}/g, (whole, p: string) =>
      p === 'schema' ? whole : (args.get(p) ?? whole),
    );
    return expand(body, fragments, `${where} > ${name}`, depth + 1);
  });
}

/** `text` as a template literal (backslashes, backticks and `${` escaped). */
function literal(text: string): string {
  return `\`${text.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;
}

/** The generated module's text for the SQL files of `sqlDir` (the package's `src/sql`). */
export function renderSqlModule(sqlDir: string): string {
  const sections = sqlFiles(sqlDir).flatMap((f) => parseFile(sqlDir, f));
  const fragments = new Map<string, Section>();
  const names = new Map<string, string>();
  for (const s of sections) {
    const seen = s.kind === 'fragment' ? fragments.get(s.name)?.file : names.get(s.name);
    if (seen !== undefined) {
      throw new Error(`${s.file}: ${s.kind} ${s.name} is defined twice (also in ${seen})`);
    }
    if (s.kind === 'fragment') fragments.set(s.name, s);
    else names.set(s.name, s.file);
  }
  const out = [
    '// Generated by scripts/sql-modules.ts from the .sql files of this folder: do not edit.',
    '// `npx tsx scripts/sql-modules.ts <package dir>` regenerates it.',
    '',
    '/** The placeholder every statement writes for the schema; the driver binds it. */',
    `export const SCHEMA_PLACEHOLDER = '${SCHEMA_PLACEHOLDER}';`,
  ];
  for (const s of sections) {
    if (s.kind !== 'statement') continue;
    const where = `${s.file}: ${s.name}`;
    if (s.body.length === 0) throw new Error(`${where}: empty statement`);
    const text = expand(s.body, fragments, where);
    const left = /\{\{(?!schema\}\})[^}]*\}\}/.exec(text);
    if (left !== null) throw new Error(`${where}: unresolved ${left[0]}`);
    const doc = s.doc.length > 0 ? s.doc : [`\`${s.file}\`.`];
    out.push(
      '',
      '/**',
      ...doc.map((l) => (l.length === 0 ? ' *' : ` * ${l.replace(/\*\//g, '*\\/')}`)),
      ` * (\`${s.file}\`)`,
      ' */',
      `export const ${s.name} = ${literal(text)};`,
    );
  }
  return `${out.join('\n')}\n`;
}

/**
 * The generated module of a package when it is stale (the fresh text), `undefined`
 * when the committed one matches its SQL files.
 */
export function staleSqlModule(packageDir: string): string | undefined {
  const fresh = renderSqlModule(join(packageDir, 'src', 'sql'));
  let current: string;
  try {
    current = readFileSync(join(packageDir, GENERATED_PATH), 'utf8');
  } catch {
    return fresh;
  }
  return current === fresh ? undefined : fresh;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const dirs = args.filter((a) => a !== '--check');
  if (dirs.length === 0) {
    console.error('usage: npx tsx scripts/sql-modules.ts [--check] <package dir>...');
    process.exit(2);
  }
  let stale = 0;
  for (const dir of dirs) {
    const fresh = staleSqlModule(dir);
    if (fresh === undefined) continue;
    if (check) {
      console.error(`${join(dir, GENERATED_PATH)} is stale`);
      stale++;
    } else {
      writeFileSync(join(dir, GENERATED_PATH), fresh);
      console.log(`wrote ${join(dir, GENERATED_PATH)}`);
    }
  }
  process.exit(stale === 0 ? 0 : 1);
}
