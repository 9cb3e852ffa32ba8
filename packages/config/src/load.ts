import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, echo, type ConfigProblem } from './errors.js';

/** The syntaxes a configuration may be written in. JSON is also valid YAML, but is parsed strictly. */
export type ConfigFormat = 'yaml' | 'json';

/** Where a configuration text came from, for the messages. */
export interface ConfigSource {
  /** A file name or a label (`'--config'`, `'redis:fleet-config'`) that starts every message. */
  readonly source: string;
  /** The syntax; by default taken from the source's extension (`.json` → json, else yaml). */
  readonly format?: ConfigFormat;
}

/**
 * Reads and validates a configuration file. YAML (`.yaml`, `.yml`) or JSON (`.json`); the schema
 * decides what is valid, and should use strict objects so that unknown keys are errors.
 *
 * @throws ConfigError naming the file, the path inside it, the value and the contract; a file
 *   that cannot be read is a ConfigError too, with the read error as its cause.
 * @example
 * ```ts
 * const config = await loadConfigFile('gateway.yaml', gatewaySchema);
 * ```
 */
export async function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(file, [{ path: '', expected: `a readable file (${reason})` }], {
      cause: error,
    });
  }
  return parseConfigText(text, { source: file }, schema);
}

/**
 * Parses and validates a configuration text (a file's content, a message from a coordinator).
 *
 * @throws ConfigError with every syntax or schema problem, each with its line and column.
 */
export function parseConfigText<S extends z.ZodType>(
  text: string,
  from: ConfigSource,
  schema: S,
): z.output<S> {
  const format = from.format ?? formatOf(from.source);
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const position = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `${line}:${col}`;
  };
  if (format === 'json') {
    try {
      JSON.parse(text);
    } catch (error) {
      throw new ConfigError(from.source, [{ path: '', expected: `valid JSON (${String(error)})` }]);
    }
  }
  if (document.errors.length > 0) {
    throw new ConfigError(
      from.source,
      document.errors.map((error) => ({
        path: '',
        position: position(error.pos[0]),
        expected: `valid ${format === 'json' ? 'JSON' : 'YAML'} (${error.message.split('\n')[0] ?? error.code})`,
      })),
    );
  }
  return validateConfig(document.toJS() as unknown, from.source, schema, (path) => {
    const offset = offsetOf(document, path);
    return offset === undefined ? undefined : position(offset);
  });
}

/**
 * Validates an already-parsed configuration value (an object built in code, a parsed message).
 *
 * @param locate - Optional: the `line:column` of a path, for messages about a text.
 * @throws ConfigError with every problem the schema found.
 */
export function validateConfig<S extends z.ZodType>(
  value: unknown,
  source: string,
  schema: S,
  locate?: (path: readonly PropertyKey[]) => string | undefined,
): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue): ConfigProblem => {
    const at = issue.path;
    const where = locate?.(at);
    const base = { path: formatPath(at), ...(where === undefined ? {} : { position: where }) };
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, at);
      const keys = issue.keys.map((key) => JSON.stringify(key)).join(', ');
      return {
        ...base,
        expected: `no unknown key (found ${keys})${known === undefined ? '' : `; the keys are ${known.join(', ')}`}`,
      };
    }
    const found = 'input' in issue ? { value: issue.input } : { value: valueAt(value, at) };
    return { ...base, ...found, expected: expectation(issue.message) };
  });
  throw new ConfigError(source, problems);
}

/** `routes[0].timeoutMs` from `['routes', 0, 'timeoutMs']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$-]*$/.test(part))
      text += text === '' ? part : `.${part}`;
    else text += `[${echo(String(part))}]`;
  }
  return text;
}

// zod's messages read "Invalid input: expected number, received string"; the value is echoed
// separately, so keep what is expected and drop zod's own account of what it received.
function expectation(message: string): string {
  const expected = /expected (.*?)(?:, received .*)?$/i.exec(message);
  return expected?.[1] ?? message;
}

function formatOf(source: string): ConfigFormat {
  return extname(source).toLowerCase() === '.json' ? 'json' : 'yaml';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function offsetOf(document: Document, path: readonly PropertyKey[]): number | undefined {
  // The deepest node of the path that exists: a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true) as
      { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return node.range[0];
  }
  return undefined;
}

// The keys a strict object schema knows at `path`, for the unknown-key message.
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let node = unwrap(schema);
  for (const part of path) {
    const def = node?.def;
    if (def?.type === 'object') node = unwrap(def.shape?.[String(part)]);
    else if (def?.type === 'array') node = unwrap(def.element);
    else if (def?.type === 'record') node = unwrap(def.valueType);
    else return undefined;
  }
  const shape = node?.def.type === 'object' ? node.def.shape : undefined;
  return shape === undefined ? undefined : Object.keys(shape);
}

/** The parts of a zod schema's definition this module reads. */
interface SchemaNode {
  readonly def: {
    readonly type: string;
    readonly shape?: Record<string, unknown>;
    readonly element?: unknown;
    readonly valueType?: unknown;
    readonly innerType?: unknown;
  };
}

// Optional, default and nullable wrappers hold the schema of the value in innerType.
function unwrap(schema: unknown): SchemaNode | undefined {
  let node = schema as SchemaNode | undefined;
  while (node?.def !== undefined && node.def.innerType !== undefined) {
    node = node.def.innerType as SchemaNode;
  }
  return node?.def === undefined ? undefined : node;
}
