/**
 * The link between the documentation and examples/: every TypeScript snippet
 * of the Markdown docs is preceded by a marker
 *
 *     <!-- example: examples/<file>.ts#<region>[,<region>…] -->
 *
 * and must equal those regions of the example file (`// #region <name>` …
 * `// #endregion`), joined by a blank line. The example files are
 * type-checked and run by `npm test`, so a snippet that no longer compiles
 * or runs fails there, and a snippet edited in the docs alone fails the
 * drift test. `npx tsx examples/snippets.ts --write` copies the regions into
 * the docs after an example changed.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const MARKER = /^<!-- example: (examples\/[\w./-]+\.ts)#([\w,-]+) -->$/;
const FENCE_OPEN = /^```(ts|typescript)\s*$/;

/** One TypeScript snippet of a Markdown file. */
export interface Snippet {
  /** The Markdown file, relative to the root. */
  readonly doc: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The example file and regions its marker names, or undefined without a marker. */
  readonly source: { readonly file: string; readonly regions: readonly string[] } | undefined;
  /** The code between the fences. */
  readonly code: string;
  /** 0-based index of the first and one past the last code line. */
  readonly start: number;
  readonly end: number;
}

/** Every Markdown file of the docs: the README, docs/ and each package's README. */
export function docFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    try {
      readFileSync(join(ROOT, 'packages', pkg, 'README.md'));
      files.push(`packages/${pkg}/README.md`);
    } catch {
      // a package without a README has no snippet
    }
  }
  return files.sort();
}

/** The TypeScript snippets of one Markdown file. */
export function snippetsOf(doc: string): Snippet[] {
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!FENCE_OPEN.test(lines[i] ?? '')) continue;
    let close = i + 1;
    while (close < lines.length && lines[close] !== '```') close++;
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--;
    const match = MARKER.exec(lines[before] ?? '');
    found.push({
      doc,
      line: i + 1,
      source:
        match === null ? undefined : { file: match[1] ?? '', regions: (match[2] ?? '').split(',') },
      code: lines.slice(i + 1, close).join('\n'),
      start: i + 1,
      end: close,
    });
    i = close;
  }
  return found;
}

/** The named regions of an example file, each dedented; throws for a missing one. */
export function regionText(file: string, regions: readonly string[]): string {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  return regions
    .map((name) => {
      const start = lines.findIndex((l) => l.trim() === `// #region ${name}`);
      if (start < 0) throw new Error(`${file} has no region "${name}" (// #region ${name})`);
      const end = lines.findIndex((l, i) => i > start && l.trim() === '// #endregion');
      if (end < 0) throw new Error(`${file}: region "${name}" has no // #endregion`);
      const body = lines.slice(start + 1, end);
      const indent = Math.min(
        ...body.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
      );
      return body.map((l) => l.slice(indent)).join('\n');
    })
    .join('\n\n');
}

/** Rewrites every marked snippet of the docs from its regions; returns the files changed. */
export function writeSnippets(): string[] {
  const changed: string[] = [];
  for (const doc of docFiles()) {
    const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
    let dirty = false;
    for (const snippet of snippetsOf(doc).reverse()) {
      if (snippet.source === undefined) continue;
      const code = regionText(snippet.source.file, snippet.source.regions);
      if (code === snippet.code) continue;
      lines.splice(snippet.start, snippet.end - snippet.start, ...code.split('\n'));
      dirty = true;
    }
    if (dirty) {
      writeFileSync(join(ROOT, doc), lines.join('\n'));
      changed.push(relative(ROOT, join(ROOT, doc)));
    }
  }
  return changed;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  for (const file of writeSnippets()) process.stdout.write(`updated ${file}\n`);
}
