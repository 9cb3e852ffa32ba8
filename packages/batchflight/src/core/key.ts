/**
 * Collision-free, order-independent keys from arbitrary arguments.
 *
 * Every value is encoded with a type tag, so `1` and `"1"` never collide
 * (async-cache-dedupe's stable-stringify makes them equal), `{ a: undefined }`
 * differs from `{}`, object key order does not matter, and Date, BigInt, Map,
 * Set, typed arrays and buffers, RegExp, URL and boxed primitives are encoded
 * by their content. What the encoders decide, stated once:
 *
 * - **Plain objects** (prototype `Object.prototype` or `null`, both alike)
 *   key by their own enumerable string-keyed properties, like
 *   `JSON.stringify`: symbol-keyed and non-enumerable properties are not
 *   part of the key.
 * - **Class instances** key by what their `toJSON()` returns, tagged with the
 *   class name (so a `Decimal`, an `ObjectId` or a `DateTime` works as it
 *   serialises). Without `toJSON()` an instance is a `TypeError`: its state
 *   may live in private fields or closures a key cannot see, and keying it by
 *   its public shell made `new Id(1)` and `new Id(2)` share one key.
 * - **Values without content a key can see** are a `TypeError` naming their
 *   kind and where in the arguments they were found: functions, symbols,
 *   Promises, Errors (an error is more than its name and message: cause,
 *   code, stack; keying by the message would merge different errors),
 *   WeakMap/WeakSet/WeakRef, iterators and generators, cyclic references, and
 *   structures nested more than {@link MAX_KEY_DEPTH} levels deep.
 * - **Sparse arrays**: a hole differs from an `undefined` element.
 * - **Numbers** compare as SameValueZero, the equality of `Map` keys and
 *   `Set` items: `-0` and `0` share a key (as they share a Map entry), and
 *   every `NaN` is the same key.
 *
 * Tags: `u` undefined, `z` null, `t`/`f` booleans, `n` number, `s` string,
 * `i` bigint, `d` date, `[...]` array (`_` a hole), `{...}` object, `M{...}`
 * Map, `S{...}` Set, `<Name>` typed array or buffer, `r` RegExp, `U` URL,
 * `B` boxed primitive, `#"Name"` class instance (then its `toJSON()`).
 *
 * Two encoders produce the same text: a fast one for plain data (primitives,
 * arrays, plain objects, Dates), which builds no error-message paths and no
 * `Set` of visited objects (ancestors are tracked in a reused array), and a
 * checked one for everything else and for everything wrong, which detects
 * cycles with a Set and names the culprit. Keys are built on every call of a
 * coalesced or cached function, so the common case must cost little.
 */
import {
  MAX_KEY_DEPTH,
  className,
  cycleError,
  depthError,
  primitiveError,
  toJsonMethod,
  unkeyableError,
} from './key-kinds.js';

// Deeper structures go to the checked encoder: it detects cycles with a Set and names the culprit.
const MAX_FAST_DEPTH = 64;
// Objects on the path from the root to the value being encoded, reused across calls: slots
// 0..depth-1 are the live path; deeper slots are stale and cleared after each top-level call.
const ancestors: object[] = [];
let deepest = 0;

/**
 * Encodes one value; `where` names it in error messages (e.g. `argument 0`).
 *
 * @throws TypeError when the value (or part of it) has no content a key can
 *   see (a function, a symbol, a Promise, an Error, a class instance without
 *   `toJSON()`, …), is a cyclic reference or nests deeper than
 *   {@link MAX_KEY_DEPTH} levels, naming where it was found.
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
      const key = fast(value, 0) ?? encodeChecked(value, where, undefined, 0);
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
    else key += fast(value, 0) ?? encodeChecked(value, `argument ${String(i)}`, undefined, 0);
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
  return typeof value === 'string' ? `s${value}` : encodeChecked(value, where, undefined, 0);
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
  if (depth >= MAX_FAST_DEPTH) return undefined;
  for (let i = 0; i < depth; i++) if (ancestors[i] === value) return undefined;
  ancestors[depth] = value;
  if (depth >= deepest) deepest = depth + 1;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as unknown;
      const encoded =
        typeof item === 'string'
          ? `s${quote(item)}`
          : item === undefined && !(i in value)
            ? HOLE
            : fast(item, depth + 1);
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
/** A hole of a sparse array: `[, 1]` is not `[undefined, 1]` (`0 in array` tells them apart). */
const HOLE = '_';

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

function encodeChecked(
  value: unknown,
  path: string,
  seen: Set<object> | undefined,
  depth: number,
): string {
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
      throw primitiveError(path, 'function');
    case 'symbol':
      throw primitiveError(path, 'symbol');
    default:
      break;
  }
  if (value === null) return 'z';
  const object = value as object;
  if (seen?.has(object)) throw cycleError(path);
  if (depth >= MAX_KEY_DEPTH) throw depthError(path);
  const visiting = seen ?? new Set<object>();
  visiting.add(object);
  try {
    return encodeObject(object, path, visiting, depth + 1);
  } finally {
    visiting.delete(object);
  }
}

/** Encodes an object whose members are `depth` levels below the root. */
function encodeObject(object: object, path: string, seen: Set<object>, depth: number): string {
  if (Array.isArray(object)) {
    let out = '[';
    for (let i = 0; i < object.length; i++) {
      if (i > 0) out += ',';
      const item = object[i] as unknown;
      out +=
        item === undefined && !(i in object)
          ? HOLE
          : encodeChecked(item, `${path}[${String(i)}]`, seen, depth);
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === Object.prototype || proto === null) return encodeMembers(object, path, seen, depth);
  if (object instanceof Date) return `d${String(object.getTime())}`;
  if (object instanceof Map) {
    const entries: string[] = [];
    let index = 0;
    for (const [k, v] of object) {
      const where = `${path} (Map entry ${String(index++)})`;
      entries.push(
        `${encodeChecked(k, where, seen, depth)}=>${encodeChecked(v, where, seen, depth)}`,
      );
    }
    return `M{${entries.sort().join(',')}}`;
  }
  if (object instanceof Set) {
    const items: string[] = [];
    let index = 0;
    for (const item of object)
      items.push(encodeChecked(item, `${path} (Set item ${String(index++)})`, seen, depth));
    return `S{${items.sort().join(',')}}`;
  }
  if (ArrayBuffer.isView(object)) {
    const bytes = new Uint8Array(object.buffer, object.byteOffset, object.byteLength);
    return `<${object.constructor.name}>${Buffer.from(bytes).toString('base64')}`;
  }
  if (object instanceof ArrayBuffer || object instanceof SharedArrayBuffer) {
    return `<${object.constructor.name}>${Buffer.from(new Uint8Array(object)).toString('base64')}`;
  }
  if (object instanceof RegExp) return `r${String(object)}`;
  if (object instanceof URL) return `U${object.href}`;
  if (
    object instanceof Number ||
    object instanceof String ||
    object instanceof Boolean ||
    object instanceof BigInt
  ) {
    // A boxed primitive keys as its value, tagged: `new Number(1)` is not `1`.
    return `B${encodeChecked(object.valueOf(), path, seen, depth)}`;
  }
  const toJSON = toJsonMethod(object);
  if (toJSON !== undefined) {
    // A class instance keys by what its class says identifies it, tagged with the class name.
    const content: unknown = toJSON.call(object);
    return `#${JSON.stringify(className(object))}${encodeChecked(content, `${path}.toJSON()`, seen, depth)}`;
  }
  throw unkeyableError(path, object);
}

/** `{"name":value,...}` over the own enumerable string-keyed properties, in name order. */
function encodeMembers(object: object, path: string, seen: Set<object>, depth: number): string {
  const names = Object.keys(object).sort();
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (i > 0) out += ',';
    out += `${JSON.stringify(name)}:${encodeChecked((object as Record<string, unknown>)[name], `${path}.${name}`, seen, depth)}`;
  }
  return `${out}}`;
}
