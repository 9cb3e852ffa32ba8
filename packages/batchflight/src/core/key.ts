/**
 * Collision-free, order-independent keys from arbitrary arguments.
 *
 * Every value is encoded with a type tag, so `1` and `"1"` never collide
 * (async-cache-dedupe's stable-stringify makes them equal), `{ a: undefined }`
 * differs from `{}`, object key order does not matter, and Date, BigInt, Map,
 * Set, typed arrays, RegExp and URL are handled. A value that has no stable
 * identity (a function, a symbol, a cyclic structure) is a `TypeError` that
 * names where in the arguments it was found, never a silent collision.
 *
 * Tags: `u` undefined, `z` null, `t`/`f` booleans, `n` number, `s` string,
 * `i` bigint, `d` date, `[...]` array, `{...}` object, `M{...}` Map,
 * `S{...}` Set, `<Name>` typed array or buffer, `r` RegExp, `U` URL, and
 * `Name{...}` for other class instances (own enumerable properties).
 *
 * Two encoders produce the same text: a fast one for plain data (primitives,
 * arrays, plain objects, Dates), which builds no error-message paths and no
 * `Set` of visited objects (ancestors are tracked in a reused array), and a
 * checked one for everything else and for everything wrong, which detects
 * cycles with a Set and names the culprit. Keys are built on every call of a
 * coalesced or cached function, so the common case must cost little.
 */

// Deeper structures go to the checked encoder: it detects cycles with a Set and names the culprit.
const MAX_DEPTH = 64;
// Objects on the path from the root to the value being encoded, reused across calls: slots
// 0..depth-1 are the live path; deeper slots are stale and cleared after each top-level call.
const ancestors: object[] = [];
let deepest = 0;

/**
 * Encodes one value; `where` names it in error messages (e.g. `argument 0`).
 *
 * @throws TypeError when the value (or part of it) is a function, a symbol or
 *   a cyclic reference, naming where it was found.
 * @example
 * ```ts
 * stableKey({ id: 1, tags: ['a'] }); // '{"id":n1,"tags":[s"a"]}'
 * stableKey(1) !== stableKey('1'); // true
 * ```
 */
export function stableKey(value: unknown, where = 'value'): string {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      return `n${String(value)}`;
    default: {
      const key = fast(value, 0) ?? encodeChecked(value, where, undefined);
      release();
      return key;
    }
  }
}

/**
 * Encodes an argument list. A single argument encodes like {@link stableKey};
 * several are joined with every top-level string quoted, so `f(1, 2)` and
 * `f([1, 2])` differ and `f('a,sb', 'c')` and `f('a', 'b,sc')` too.
 */
export function argumentsKey(args: readonly unknown[]): string {
  const count = args.length;
  if (count === 1) return stableKey(args[0], 'argument 0');
  if (count === 0) return '()';
  let key = '(';
  for (let i = 0; i < count; i++) {
    const value = args[i];
    if (i > 0) key += ',';
    if (typeof value === 'string') key += `s${quote(value)}`;
    else key += fast(value, 0) ?? encodeChecked(value, `argument ${String(i)}`, undefined);
  }
  release();
  return `${key})`;
}

/**
 * The checked encoder alone (no fast path), exported for the equivalence
 * test of the two encoders; use {@link stableKey}.
 *
 * @internal
 */
export function checkedKey(value: unknown, where = 'value'): string {
  return typeof value === 'string' ? `s${value}` : encodeChecked(value, where, undefined);
}

/** Lets go of the objects of the last encoding, so the key cache never keeps arguments alive. */
function release(): void {
  for (; deepest > 0; deepest--) ancestors[deepest - 1] = NONE;
}

/** Encodes like the checked encoder, or returns undefined to hand over to it. */
function fast(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${quote(value)}`;
    case 'number':
      return `n${String(value)}`;
    case 'boolean':
      return value ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'bigint':
      return `i${value.toString()}`;
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'z';
  if (depth >= MAX_DEPTH) return undefined;
  for (let i = 0; i < depth; i++) if (ancestors[i] === value) return undefined;
  ancestors[depth] = value;
  if (depth >= deepest) deepest = depth + 1;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as unknown;
      const encoded = typeof item === 'string' ? `s${quote(item)}` : fast(item, depth + 1);
      if (encoded === undefined) return undefined;
      out += i === 0 ? encoded : `,${encoded}`;
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    return value instanceof Date ? `d${String(value.getTime())}` : undefined;
  }
  const names = Object.keys(value);
  if (names.length > 1) sortNames(names);
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const item = (value as Record<string, unknown>)[name];
    const encoded =
      typeof item === 'number'
        ? `n${String(item)}`
        : typeof item === 'string'
          ? `s${quote(item)}`
          : fast(item, depth + 1);
    if (encoded === undefined) return undefined;
    out += `${i === 0 ? '"' : ',"'}${quoteBody(name)}":${encoded}`;
  }
  return `${out}}`;
}

const NONE = {};

/**
 * Sorts like `Array#sort()` does strings (by UTF-16 code units), by insertion
 * for the handful of names a typical argument has: the default sort costs
 * ~10x more on three names.
 */
function sortNames(names: string[]): void {
  if (names.length > 16) {
    names.sort();
    return;
  }
  for (let i = 1; i < names.length; i++) {
    const name = names[i] as string;
    let j = i - 1;
    while (j >= 0 && (names[j] as string) > name) {
      names[j + 1] = names[j] as string;
      j--;
    }
    names[j + 1] = name;
  }
}

/** `JSON.stringify(text)`, without calling it for the common printable-ASCII case. */
function quote(text: string): string {
  return needsEscape(text) ? JSON.stringify(text) : `"${text}"`;
}

/** `JSON.stringify(text)` without its quotes. */
function quoteBody(text: string): string {
  return needsEscape(text) ? JSON.stringify(text).slice(1, -1) : text;
}

function needsEscape(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return true;
  }
  return false;
}

function encodeChecked(value: unknown, path: string, seen: Set<object> | undefined): string {
  switch (typeof value) {
    case 'string':
      // Strings nested in structures are JSON-quoted so separators inside them cannot forge structure.
      return seen === undefined ? `s${value}` : `s${JSON.stringify(value)}`;
    case 'number':
      return `n${String(value)}`;
    case 'boolean':
      return value ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'bigint':
      return `i${value.toString()}`;
    case 'function':
    case 'symbol':
      throw new TypeError(
        `Cannot build a key: ${path} is a ${typeof value}, which has no stable identity. ` +
          'Pass a key function (options.key) that picks the fields that identify the call.',
      );
    default:
      break;
  }
  if (value === null) return 'z';
  const object = value as object;
  if (seen?.has(object)) {
    throw new TypeError(
      `Cannot build a key: ${path} is a cyclic reference. ` +
        'Pass a key function (options.key) that picks the fields that identify the call.',
    );
  }
  const visiting = seen ?? new Set<object>();
  visiting.add(object);
  try {
    return encodeObject(object, path, visiting);
  } finally {
    visiting.delete(object);
  }
}

function encodeObject(object: object, path: string, seen: Set<object>): string {
  if (Array.isArray(object)) {
    let out = '[';
    for (let i = 0; i < object.length; i++) {
      if (i > 0) out += ',';
      out += encodeChecked(object[i], `${path}[${String(i)}]`, seen);
    }
    return `${out}]`;
  }
  if (object instanceof Date) return `d${String(object.getTime())}`;
  if (object instanceof Map) {
    const entries: string[] = [];
    let index = 0;
    for (const [k, v] of object) {
      const where = `${path} (Map entry ${String(index++)})`;
      entries.push(`${encodeChecked(k, where, seen)}=>${encodeChecked(v, where, seen)}`);
    }
    return `M{${entries.sort().join(',')}}`;
  }
  if (object instanceof Set) {
    const items: string[] = [];
    let index = 0;
    for (const item of object)
      items.push(encodeChecked(item, `${path} (Set item ${String(index++)})`, seen));
    return `S{${items.sort().join(',')}}`;
  }
  if (ArrayBuffer.isView(object)) {
    const bytes = new Uint8Array(object.buffer, object.byteOffset, object.byteLength);
    return `<${object.constructor.name}>${Buffer.from(bytes).toString('base64')}`;
  }
  if (object instanceof ArrayBuffer) {
    return `<ArrayBuffer>${Buffer.from(object).toString('base64')}`;
  }
  if (object instanceof RegExp) return `r${String(object)}`;
  if (object instanceof URL) return `U${object.href}`;
  const proto = Object.getPrototypeOf(object) as object | null;
  const tag =
    proto === Object.prototype || proto === null
      ? ''
      : ((proto as { constructor?: { name?: string } }).constructor?.name ?? '?');
  const names = Object.keys(object).sort();
  let out = `${tag}{`;
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (i > 0) out += ',';
    out += `${JSON.stringify(name)}:${encodeChecked((object as Record<string, unknown>)[name], `${path}.${name}`, seen)}`;
  }
  return `${out}}`;
}
