/**
 * The one strict JSON check of the job stores: what a payload, a result, a
 * step value and a run's input must be so that every store (memory, SQLite,
 * PostgreSQL) keeps it exactly, and what any text a store keeps (error
 * messages, reasons) is cleaned to.
 *
 * Why strict: `JSON.stringify` changes values without a word (`NaN` becomes
 * `null`, a `Map` `{}`, a `Date` a string, a function disappears), and
 * PostgreSQL refuses U+0000 (`jsonb` and `text`) and lone surrogates
 * (`jsonb`). A store that accepted such a value would either hand back
 * something else than was written or fail the whole batch it was part of,
 * again on every retry (one bad result wedged every completion of a
 * PostgreSQL worker). Refusing it at the edge, with the path of the bad part,
 * is the same on every store.
 */
import { describe } from '../core/index.js';
import { UnstorableValueError } from './errors.js';

/** A string with U+0000 or a surrogate half: only then is the exact check needed. */
const SUSPECT = /[\0\ud800-\udfff]/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** What is wrong with a string a store must keep, or undefined when nothing is. */
function stringProblem(s: string): string | undefined {
  if (!SUSPECT.test(s)) return undefined;
  if (s.includes('\0'))
    return 'contains U+0000, which a job store cannot keep (PostgreSQL refuses it)';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = s.charCodeAt(i + 1);
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    return `contains a lone surrogate (U+${c.toString(16).toUpperCase()}), which a job store cannot keep (it is not Unicode text; PostgreSQL refuses it)`;
  }
  return undefined;
}

function childPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

const CONTRACT =
  "A job's payload, result and step values and a run's input are stored as JSON and must survive it unchanged: strings without U+0000 or lone surrogates, finite numbers, booleans, null, arrays and plain objects";

function refuse(where: string, path: string, what: string): never {
  throw new UnstorableValueError(`${where}${path} ${what}. ${CONTRACT}.`, path);
}

/** Why an object that is not a plain object or array cannot be stored as it is. */
function instanceProblem(value: object): string {
  if (value instanceof Date)
    return 'is a Date, which JSON stores as a string (pass date.getTime() or date.toISOString())';
  if (value instanceof Map)
    return 'is a Map, which JSON stores as {} (pass Object.fromEntries(map) or [...map])';
  if (value instanceof Set) return 'is a Set, which JSON stores as {} (pass [...set])';
  return `is ${describe(value)}, not a plain object (JSON keeps only its own enumerable fields, or its toJSON())`;
}

function check(value: unknown, where: string, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string': {
      const problem = stringProblem(value);
      if (problem !== undefined) refuse(where, path, `${problem}: ${describe(value)}`);
      return;
    }
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value))
        refuse(where, path, `is ${String(value)}, which JSON stores as null`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value))
        refuse(
          where,
          path,
          'refers back to an object that contains it (a cycle), which JSON cannot encode',
        );
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          const at = `${path}[${String(i)}]`;
          if (!(i in value))
            refuse(where, at, 'is a hole of a sparse array, which JSON stores as null');
          const item: unknown = value[i];
          if (item === undefined) refuse(where, at, 'is undefined, which JSON stores as null');
          check(item, where, at, seen);
        }
        seen.delete(value);
        return;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) refuse(where, path, instanceProblem(value));
      if (Object.getOwnPropertySymbols(value).length > 0) {
        refuse(where, path, 'has symbol keys, which JSON drops');
      }
      seen.add(value);
      for (const key of Object.keys(value)) {
        const at = childPath(path, key);
        const keyProblem = stringProblem(key);
        if (keyProblem !== undefined) refuse(where, at, `has a key that ${keyProblem}`);
        const item: unknown = (value as Record<string, unknown>)[key];
        // An undefined field is dropped, and reads back as undefined all the same.
        if (item !== undefined) check(item, where, at, seen);
      }
      seen.delete(value);
      return;
    }
    case 'undefined':
      // Only reached at the top: an absent value is stored as null.
      return;
    case 'bigint':
      refuse(
        where,
        path,
        `is a BigInt (${describe(value)}), which JSON cannot encode (pass it as a string)`,
      );
      break;
    default:
      // function, symbol: JSON drops them (or answers undefined).
      refuse(where, path, `is ${describe(value)}, which JSON drops`);
  }
}

/**
 * The JSON a job store keeps for `value`, after checking that it survives
 * JSON unchanged and holds no text a store refuses; `undefined` encodes as
 * `null`. Throws an {@link UnstorableValueError} whose message names the
 * path of the first bad part (from `root`: `payload`, `result`, …), says
 * what JSON or the store would have done to it, and states the contract.
 * Every store and the engine use this check, so a value is refused the same
 * way everywhere. `-0` is kept as `0`, and a field whose value is undefined
 * is dropped (it reads back as undefined).
 *
 * @param where - prefix of the message, e.g. `'enqueue(): '`.
 *
 * @example
 * ```ts
 * storableJson({ items: [{ name: 'a' }] }, 'payload'); // '{"items":[{"name":"a"}]}'
 * storableJson({ n: NaN }, 'payload');                 // throws: payload.n is NaN, which JSON stores as null…
 * ```
 */
export function storableJson(value: unknown, root: string, where = ''): string {
  try {
    check(value, where, root, new Set());
  } catch (error) {
    // A value nested deeper than the stack: JSON.stringify would fail on it too.
    if (!(error instanceof RangeError)) throw error;
    refuse(where, root, 'is nested too deeply to encode');
  }
  return JSON.stringify(value ?? null);
}

const UNSTORABLE_TEXT =
  /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` with U+0000 and lone surrogates replaced by U+FFFD: what a store
 * keeps of an error message or reason, so a failure can always be recorded
 * (a handler that throws `new Error('x\u0000y')` must not make the record
 * of its failure fail).
 *
 * @example
 * ```ts
 * storableText('x\u0000y'); // 'x\uFFFDy'
 * ```
 */
export function storableText(text: string): string {
  return SUSPECT.test(text) ? text.replace(UNSTORABLE_TEXT, '\uFFFD') : text;
}
