/**
 * Generates `docs/reference/catalogue.md`: for every capability, the
 * diagnostics channels it publishes on (name, the channel map entry that
 * exports it, the payload type and its fields), the hooks it offers (`on*`
 * methods and `on*` callback options) and the fields of its `stats()`.
 *
 * Everything is read from the sources with the TypeScript compiler's type
 * checker, not with patterns, so the page says what the types say:
 *
 * - channels: every `eventChannel(capability, event)` call in the shipped
 *   sources of the workspace packages, whether it sits in an exported channel
 *   map (`export const cacheChannels = { load: eventChannel<…>('cache', 'load') }`)
 *   or in a module-private constant; the payload is the `T` of the call's
 *   `EventChannel<T>`, written out or inferred from an annotated map;
 * - hooks and stats: the members of every class and interface that a
 *   package exports (its `exports` in package.json, through the
 *   `@batchflight/source` condition): `on*` members whose type is a function,
 *   and the return type of a `stats()` method.
 *
 * Usage: `npx tsx scripts/catalogue.ts` writes the page; `--check` only
 * compares and exits 1 when it is stale (scripts/catalogue.test.ts does the
 * same through {@link staleCatalogue}).
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import ts from 'typescript';

/** The repository root (this file lives in `scripts/`). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The generated page, relative to the repository root. */
export const CATALOGUE_PATH = join('docs', 'reference', 'catalogue.md');

/** The capability folders of the core package, in the order the docs present them. */
const CORE_CAPABILITIES = [
  'core',
  'singleflight',
  'batch',
  'dataloader',
  'stream',
  'cache',
  'retry',
  'circuit-breaker',
  'timeout',
  'bulkhead',
  'rate-limit',
  'fallback',
  'hedge',
  'jobs',
];

/** One field of a payload or stats type. */
interface Field {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly doc: string;
}

/** One `eventChannel(capability, event)` call. */
interface Channel {
  readonly name: string;
  /** `cacheChannels.load` when the channel is in a map the package exports. */
  readonly mapEntry: string | undefined;
  readonly file: string;
  readonly payload: string;
  readonly fields: readonly Field[];
}

/** One `on*` member whose type is a function. */
interface Hook {
  readonly owner: string;
  readonly name: string;
  /** `method`: subscribe with a listener; `callback`: a function the caller passes in. */
  readonly kind: 'method' | 'callback';
  readonly signature: string;
  readonly doc: string;
}

/** The `stats()` of one exported class or interface. */
interface Stats {
  readonly owner: string;
  readonly type: string;
  readonly fields: readonly Field[];
}

/** What the page says about one capability (a core folder or an adapter package). */
interface Section {
  readonly title: string;
  readonly importPath: string;
  readonly channels: Channel[];
  readonly hooks: Hook[];
  readonly stats: Stats[];
}

interface WorkspacePackage {
  readonly name: string;
  readonly dir: string;
  /** Export subpath (`batchflight/cache`) → source entry file. */
  readonly entries: ReadonlyMap<string, string>;
}

/** The workspace packages and the source entry of each of their exports. */
function workspacePackages(root: string): WorkspacePackage[] {
  const dirs = readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, 'packages', d.name, 'package.json')))
    .map((d) => join(root, 'packages', d.name))
    .sort();
  return dirs.map((dir) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Record<string, unknown>;
    };
    const entries = new Map<string, string>();
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      const source =
        typeof target === 'object' && target !== null
          ? (target as Record<string, unknown>)['@batchflight/source']
          : undefined;
      if (typeof source !== 'string') continue;
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      entries.set(specifier, resolve(dir, source));
    }
    return { name: manifest.name, dir, entries };
  });
}

/** The shipped `.ts` files below `dir` (no tests, no fixtures, no declarations). */
function shippedSources(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== '__fixtures__' && entry.name !== 'node_modules') walk(path);
      } else if (
        entry.name.endsWith('.ts') &&
        !entry.name.endsWith('.d.ts') &&
        !/\.test(-d)?\.ts$/.test(entry.name)
      ) {
        out.push(path);
      }
    }
  };
  walk(dir);
  return out.sort();
}

/** `path` relative to the root, with `/`. */
function repoPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/** The section key of a source file: the core folder, or the adapter package's name. */
function sectionOf(
  root: string,
  packages: readonly WorkspacePackage[],
  file: string,
): { key: string; importPath: string } | undefined {
  const path = repoPath(root, file);
  const core = /^packages\/batchflight\/src\/([^/]+)\//.exec(path);
  if (core?.[1] !== undefined) return { key: core[1], importPath: `batchflight/${core[1]}` };
  if (path.startsWith('packages/batchflight/src/')) return undefined;
  const pkg = packages.find((p) => path.startsWith(`${repoPath(root, p.dir)}/`));
  return pkg === undefined ? undefined : { key: pkg.name, importPath: pkg.name };
}

/** The first sentence of a symbol's TSDoc, on one line (the sources have the rest). */
function docOf(checker: ts.TypeChecker, symbol: ts.Symbol): string {
  const text = ts
    .displayPartsToString(symbol.getDocumentationComment(checker))
    // {@link Target} and {@link Target | text} read as code and as text.
    .replace(
      /\{@link(?:code|plain)?\s+([^\s|}]+)\s*(?:\|\s*([^}]*))?\}/g,
      (_, target: string, label?: string) =>
        label === undefined || label.trim() === '' ? `\`${target}\`` : label.trim(),
    );
  const paragraph = (text.split(/\n\s*\n/)[0] ?? '').replace(/\s+/g, ' ').trim();
  // A sentence ends at '. ' before a capital, a backtick or a parenthesis (so `a.b` and
  // 'e.g.' do not end one).
  const end = /(?<!\be\.g|\bi\.e)\. (?=[A-Z`(])/.exec(paragraph);
  return end === null ? paragraph : paragraph.slice(0, end.index + 1);
}

const TYPE_FLAGS: ts.TypeFormatFlags =
  ts.TypeFormatFlags.NoTruncation |
  ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope |
  ts.TypeFormatFlags.WriteArrowStyleSignature;

/** The properties of `type` as fields, in declaration order. */
function fieldsOf(checker: ts.TypeChecker, type: ts.Type, at: ts.Node): Field[] {
  return checker.getPropertiesOfType(type).map((property) => ({
    name: property.getName(),
    type: checker.typeToString(checker.getTypeOfSymbolAtLocation(property, at), at, TYPE_FLAGS),
    optional: (property.flags & ts.SymbolFlags.Optional) !== 0,
    doc: docOf(checker, property),
  }));
}

/** The name of a payload type: its declared or alias name, or `inline` for a type literal. */
function typeName(checker: ts.TypeChecker, type: ts.Type, at: ts.Node): string {
  const named = type.aliasSymbol ?? type.getSymbol();
  if (named !== undefined && !named.getName().startsWith('__')) {
    return checker.typeToString(type, at, TYPE_FLAGS);
  }
  return 'inline';
}

/** The string value of `node` when the checker knows it as one literal. */
function stringValue(checker: ts.TypeChecker, node: ts.Expression | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (ts.isStringLiteralLike(node)) return node.text;
  const type = checker.getTypeAtLocation(node);
  return type.isStringLiteral() ? type.value : undefined;
}

/** True when `type` is a generic instantiation such as `EventChannel<T>`. */
function isReference(type: ts.Type): type is ts.TypeReference {
  return (
    (type.flags & ts.TypeFlags.Object) !== 0 &&
    ((type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) !== 0
  );
}

/** `T` of an `EventChannel<T>`-typed expression (written out, inferred or contextual). */
function payloadOf(checker: ts.TypeChecker, call: ts.CallExpression): ts.Type | undefined {
  const explicit = call.typeArguments?.[0];
  if (explicit !== undefined) return checker.getTypeFromTypeNode(explicit);
  for (const type of [checker.getTypeAtLocation(call), checker.getContextualType(call)]) {
    if (type === undefined) continue;
    const argument = isReference(type) ? checker.getTypeArguments(type)[0] : undefined;
    if (argument !== undefined && (argument.flags & ts.TypeFlags.Unknown) === 0) return argument;
    // Not a reference to EventChannel<T> itself (an alias or a structural copy): T is what
    // publish() takes.
    const published = type.getProperty('publish');
    if (published !== undefined) {
      const signature = checker
        .getSignaturesOfType(
          checker.getTypeOfSymbolAtLocation(published, call),
          ts.SignatureKind.Call,
        )
        .at(0);
      const parameter = signature?.getParameters()[0];
      if (parameter !== undefined) return checker.getTypeOfSymbolAtLocation(parameter, call);
    }
  }
  return undefined;
}

/** The exported map entry holding `call` (`cacheChannels.load`), if it is in one. */
function mapEntryOf(
  call: ts.CallExpression,
  exported: ReadonlySet<ts.Declaration>,
): string | undefined {
  let node: ts.Node = call;
  // Through `x as EventChannel<T>` or `x satisfies …` wrappers of the call itself.
  while (
    ts.isAsExpression(node.parent) ||
    ts.isSatisfiesExpression(node.parent) ||
    ts.isParenthesizedExpression(node.parent)
  ) {
    node = node.parent;
  }
  if (!ts.isPropertyAssignment(node.parent)) return undefined;
  const key = node.parent.name.getText();
  let map: ts.Node = node.parent.parent;
  while (
    ts.isAsExpression(map.parent) ||
    ts.isSatisfiesExpression(map.parent) ||
    ts.isParenthesizedExpression(map.parent) ||
    (ts.isCallExpression(map.parent) && map.parent.expression.getText() === 'Object.freeze')
  ) {
    map = map.parent;
  }
  const declaration = map.parent;
  if (!ts.isVariableDeclaration(declaration) || !exported.has(declaration)) return undefined;
  return `${declaration.name.getText()}.${key}`;
}

/** The declarations every package exports, resolved through re-exports. */
function exportedDeclarations(
  checker: ts.TypeChecker,
  program: ts.Program,
  packages: readonly WorkspacePackage[],
): Map<ts.Declaration, ts.Symbol> {
  const out = new Map<ts.Declaration, ts.Symbol>();
  for (const pkg of packages) {
    for (const entry of pkg.entries.values()) {
      const source = program.getSourceFile(entry);
      const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
      if (module === undefined) continue;
      for (const exported of checker.getExportsOfModule(module)) {
        const symbol =
          (exported.flags & ts.SymbolFlags.Alias) !== 0
            ? checker.getAliasedSymbol(exported)
            : exported;
        for (const declaration of symbol.getDeclarations() ?? []) out.set(declaration, symbol);
      }
    }
  }
  return out;
}

/** True when `symbol` is marked `@deprecated` (an old name kept as an alias). */
function deprecated(symbol: ts.Symbol): boolean {
  return symbol.getJsDocTags().some((tag) => tag.name === 'deprecated');
}

/** The catalogue of the repository at `root`, as sections in page order. */
export function collectCatalogue(root: string = ROOT): Section[] {
  const packages = workspacePackages(root);
  const files = packages.flatMap((p) => shippedSources(join(p.dir, 'src')));
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.typecheck.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  const program = ts.createProgram(files, { ...config?.options, noEmit: true });
  const checker = program.getTypeChecker();
  const exported = exportedDeclarations(checker, program, packages);
  const exportedSet = new Set(exported.keys());
  const sections = new Map<string, Section>();
  const section = (file: string): Section | undefined => {
    const at = sectionOf(root, packages, file);
    if (at === undefined) return undefined;
    let found = sections.get(at.key);
    if (found === undefined) {
      found = { title: at.key, importPath: at.importPath, channels: [], hooks: [], stats: [] };
      sections.set(at.key, found);
    }
    return found;
  };

  // Channels: every eventChannel(capability, event) call of the shipped sources.
  for (const file of files) {
    const source = program.getSourceFile(file);
    if (source === undefined) continue;
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'eventChannel'
      ) {
        const capability = stringValue(checker, node.arguments[0]);
        const event = stringValue(checker, node.arguments[1]);
        const payload = payloadOf(checker, node);
        const target = section(file);
        if (capability !== undefined && event !== undefined && target !== undefined) {
          target.channels.push({
            name: `batchflight:${capability}:${event}`,
            mapEntry: mapEntryOf(node, exportedSet),
            file: repoPath(root, file),
            payload: payload === undefined ? 'unknown' : typeName(checker, payload, node),
            fields: payload === undefined ? [] : fieldsOf(checker, payload, node),
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  // Hooks and stats: the members of every exported class and interface.
  const seen = new Set<ts.Symbol>();
  for (const [declaration, symbol] of exported) {
    if (!ts.isClassDeclaration(declaration) && !ts.isInterfaceDeclaration(declaration)) continue;
    if (seen.has(symbol) || deprecated(symbol)) continue;
    seen.add(symbol);
    const target = section(declaration.getSourceFile().fileName);
    if (target === undefined) continue;
    const owner = symbol.getName();
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    for (const member of checker.getPropertiesOfType(type)) {
      const name = member.getName();
      const memberType = checker.getTypeOfSymbolAtLocation(member, declaration);
      const signatures = checker.getNonNullableType(memberType).getCallSignatures();
      if (/^on[A-Z]/.test(name) && signatures.length > 0) {
        const isMethod = (member.flags & ts.SymbolFlags.Method) !== 0;
        target.hooks.push({
          owner,
          name,
          kind: isMethod ? 'method' : 'callback',
          signature: checker.typeToString(
            checker.getNonNullableType(memberType),
            declaration,
            TYPE_FLAGS,
          ),
          doc: docOf(checker, member),
        });
      }
      const signature = signatures[0];
      if (name === 'stats' && signature !== undefined && signature.getParameters().length === 0) {
        let returned = signature.getReturnType();
        // A list of stats (one per route) is documented by its element.
        if (checker.isArrayType(returned) && isReference(returned)) {
          returned = checker.getTypeArguments(returned)[0] ?? returned;
        }
        target.stats.push({
          owner,
          type: checker.typeToString(signature.getReturnType(), declaration, TYPE_FLAGS),
          fields: fieldsOf(checker, returned, declaration),
        });
      }
    }
  }

  // The core's folders in the docs' order (a new one after them), then the adapter packages.
  const order = (key: string): number => {
    const i = CORE_CAPABILITIES.indexOf(key);
    if (i !== -1) return i;
    return key.startsWith('@') ? CORE_CAPABILITIES.length + 1 : CORE_CAPABILITIES.length;
  };
  return [...sections.entries()]
    .filter(([, s]) => s.channels.length + s.hooks.length + s.stats.length > 0)
    .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
    .map(([, s]) => ({
      ...s,
      channels: s.channels.sort((a, b) => a.name.localeCompare(b.name)),
      hooks: s.hooks.sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name)),
      stats: s.stats.sort((a, b) => a.owner.localeCompare(b.owner)),
    }));
}

/** `text` safe inside a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

/** `text` as inline code safe inside a table cell. */
function code(text: string): string {
  return `\`${cell(text).replace(/`/g, "'")}\``;
}

function fieldTable(fields: readonly Field[]): string[] {
  if (fields.length === 0) return ['(no fields)', ''];
  return [
    '| Field | Type | Description |',
    '| --- | --- | --- |',
    ...fields.map(
      (f) => `| ${code(f.optional ? `${f.name}?` : f.name)} | ${code(f.type)} | ${cell(f.doc)} |`,
    ),
    '',
  ];
}

/** The Markdown page for `sections` (before formatting). */
export function renderCatalogue(sections: readonly Section[]): string {
  const lines = [
    '<!-- Generated by scripts/catalogue.ts from the sources: do not edit by hand. -->',
    '<!-- Run `npx tsx scripts/catalogue.ts` after changing a channel, hook or stats type. -->',
    '',
    '# Catalogue: diagnostics channels, hooks and stats',
    '',
    'Every capability publishes on `node:diagnostics_channel` (names `batchflight:<capability>:<event>`,',
    'a payload built only when someone subscribes), offers typed `on*` hooks and keeps `stats()`.',
    'This page lists them all, read from the TypeScript sources. A channel whose map entry is `—`',
    'is published from a module-private constant, not from a channel map the package exports.',
    'See [observability](../concepts/observability.md) for how to subscribe, and',
    '[metrics](../observability.md) for what the OpenTelemetry bridge makes of them.',
    '',
  ];
  lines.push('## Contents', '');
  for (const s of sections) {
    const anchor = s.title
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replace(/ /g, '-');
    lines.push(`- [${s.title}](#${anchor})`);
  }
  lines.push('');
  for (const s of sections) {
    lines.push(`## ${s.title}`, '', `Imported from \`${s.importPath}\`.`, '');
    if (s.channels.length > 0) {
      lines.push('### Channels', '');
      lines.push('| Channel | Map entry | Payload |', '| --- | --- | --- |');
      for (const c of s.channels) {
        lines.push(
          `| ${code(c.name)} | ${c.mapEntry === undefined ? '—' : code(c.mapEntry)} | ${code(c.payload)} |`,
        );
      }
      lines.push('');
      const payloads = new Map<string, Channel>();
      for (const c of s.channels) {
        const key = c.payload === 'inline' ? c.name : c.payload;
        if (!payloads.has(key)) payloads.set(key, c);
      }
      for (const [key, c] of payloads) {
        const title = c.payload === 'inline' ? `payload of \`${c.name}\`` : `\`${key}\``;
        lines.push(`#### ${title}`, '', ...fieldTable(c.fields));
      }
    }
    if (s.hooks.length > 0) {
      lines.push('### Hooks', '');
      lines.push('| Hook | Kind | Signature | Description |', '| --- | --- | --- | --- |');
      for (const h of s.hooks) {
        const name = h.kind === 'method' ? `${h.owner}#${h.name}` : `${h.owner}.${h.name}`;
        lines.push(`| ${code(name)} | ${h.kind} | ${code(h.signature)} | ${cell(h.doc)} |`);
      }
      lines.push('');
    }
    if (s.stats.length > 0) {
      lines.push('### stats()', '');
      for (const st of s.stats) {
        lines.push(`#### \`${st.owner}#stats(): ${st.type}\``, '', ...fieldTable(st.fields));
      }
    }
  }
  return lines.join('\n');
}

/** The page for the repository at `root`, formatted as `prettier --check` expects it. */
export async function formattedCatalogue(root: string = ROOT): Promise<string> {
  const path = join(root, CATALOGUE_PATH);
  const options = (await prettier.resolveConfig(path)) ?? {};
  return prettier.format(renderCatalogue(collectCatalogue(root)), {
    ...options,
    filepath: path,
  });
}

/**
 * The fresh page when the committed `docs/reference/catalogue.md` is stale
 * (or missing), `undefined` when it is what the sources say.
 */
export async function staleCatalogue(root: string = ROOT): Promise<string | undefined> {
  const fresh = await formattedCatalogue(root);
  const path = join(root, CATALOGUE_PATH);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  return current === fresh ? undefined : fresh;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const fresh = await staleCatalogue();
  if (fresh === undefined) {
    console.log(`${CATALOGUE_PATH} is up to date`);
  } else if (check) {
    console.error(`${CATALOGUE_PATH} is stale: run \`npx tsx scripts/catalogue.ts\``);
    process.exit(1);
  } else {
    mkdirSync(join(ROOT, dirname(CATALOGUE_PATH)), { recursive: true });
    writeFileSync(join(ROOT, CATALOGUE_PATH), fresh);
    console.log(`wrote ${CATALOGUE_PATH}`);
  }
}
