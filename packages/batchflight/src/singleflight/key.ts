/**
 * Keys of `singleflight(fn)` calls, from their arguments: the tagged stable
 * encoding of the core (`stableKey`: `1` ≠ `"1"`, `{ a: undefined }` ≠ `{}`,
 * key order irrelevant, Date, BigInt, Map, Set, typed arrays…), with two
 * differences that matter on this path:
 *
 * - Speed. Plain objects, arrays, primitives and Dates (the usual shapes of
 *   arguments) are encoded by a fast path that builds no error-message paths
 *   and no `Set` of visited objects (ancestors are tracked in a reused array);
 *   anything else, and anything wrong (a function, a symbol, a cycle), goes to
 *   the core encoder, which produces the same text or the `TypeError` that
 *   names the argument.
 * - Argument lists. Every top-level string of a list of two or more arguments
 *   is quoted, so `f('a,sb', 'c')` and `f('a', 'b,sc')` never share a key.
 *
 * For a single argument the key equals `stableKey(arg)` exactly.
 */
import { stableKey } from '../core/index.js';

// Deeper structures go to the core encoder: it detects cycles with a Set and names the culprit.
const MAX_DEPTH = 64;
// Objects on the path from the root to the value being encoded, reused across calls: slots
// 0..depth-1 are the live path; deeper slots are stale and cleared after each top-level call.
const ancestors: object[] = [];
let deepest = 0;

/**
 * The key of an argument list.
 *
 * @throws TypeError when an argument (or part of one) is a function, a symbol
 *   or a cyclic reference, naming where it was found (e.g. `argument 1.user.cb`).
 * @example
 * ```ts
 * flightKey([42]); // 'n42', same as stableKey(42)
 * flightKey([{ id: 1, tags: ['a'] }, true]); // '({"id":n1,"tags":[s"a"]},t)'
 * ```
 */
export function flightKey(args: readonly unknown[]): string {
  const count = args.length;
  if (count === 1) return flightValueKey(args[0]);
  if (count === 0) return '()';
  let key = '(';
  for (let i = 0; i < count; i++) {
    const value = args[i];
    if (i > 0) key += ',';
    if (typeof value === 'string') key += `s${quote(value)}`;
    else key += fast(value, 0) ?? stableKey(value, `argument ${String(i)}`);
  }
  release();
  return `${key})`;
}

/** The key of one value: `stableKey(value)`, faster for plain data. */
export function flightValueKey(value: unknown, where = 'argument 0'): string {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      return `n${String(value)}`;
    default: {
      const key = fast(value, 0) ?? stableKey(value, where);
      release();
      return key;
    }
  }
}

/** Lets go of the objects of the last encoding, so the key cache never keeps arguments alive. */
function release(): void {
  for (; deepest > 0; deepest--) ancestors[deepest - 1] = NONE;
}

/** Encodes like the core's nested encoder, or returns undefined to hand over to it. */
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
