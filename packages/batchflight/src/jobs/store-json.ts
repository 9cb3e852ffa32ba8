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

/** Where the walk is: the root's name, then one key or index per level. */
interface Walk {
  readonly where: string;
  readonly root: string;
  /** Keys and indexes from the root to the value being checked. */
  readonly keys: (string | number)[];
  /** The objects and arrays that contain the value being checked (a cycle refers to one). */
  readonly ancestors: object[];
}

/** The path of the value being checked, e.g. `result.items[3].name`; built only to report. */
function pathOf(walk: Walk): string {
  let path = walk.root;
  for (const key of walk.keys) {
    path +=
      typeof key === 'number'
        ? `[${String(key)}]`
        : IDENTIFIER.test(key)
          ? `.${key}`
          : `[${JSON.stringify(key)}]`;
  }
  return path;
}

const CONTRACT =
  "A job's payload, result and step values and a run's input are stored as JSON and must survive it unchanged: strings without U+0000 or lone surrogates, finite numbers, booleans, null, arrays and plain objects";

function refuse(walk: Walk, what: string): never {
  const path = pathOf(walk);
  throw new UnstorableValueError(`${walk.where}${path} ${what}. ${CONTRACT}.`, path);
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

// Paths are kept as a stack of keys and joined only on failure: building a path
// string per value cost more than the check itself.
function check(value: unknown, walk: Walk): void {
  switch (typeof value) {
    case 'string': {
      const problem = stringProblem(value);
      if (problem !== undefined) refuse(walk, `${problem}: ${describe(value)}`);
      return;
    }
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(walk, `is ${String(value)}, which JSON stores as null`);
      return;
    case 'object': {
      if (value === null) return;
      const { keys, ancestors } = walk;
      if (ancestors.includes(value)) {
        refuse(
          walk,
          'refers back to an object that contains it (a cycle), which JSON cannot encode',
        );
      }
      if (Array.isArray(value)) {
        ancestors.push(value);
        for (let i = 0; i < value.length; i++) {
          keys.push(i);
          if (!(i in value)) refuse(walk, 'is a hole of a sparse array, which JSON stores as null');
          const item: unknown = value[i];
          if (item === undefined) refuse(walk, 'is undefined, which JSON stores as null');
          check(item, walk);
          keys.pop();
        }
        ancestors.pop();
        return;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) refuse(walk, instanceProblem(value));
      if (Object.getOwnPropertySymbols(value).length > 0) {
        refuse(walk, 'has symbol keys, which JSON drops');
      }
      ancestors.push(value);
      for (const key in value) {
        // for…in also lists inherited keys; a plain object's prototype has none enumerable.
        keys.push(key);
        const keyProblem = stringProblem(key);
        if (keyProblem !== undefined) refuse(walk, `has a key that ${keyProblem}`);
        const item: unknown = (value as Record<string, unknown>)[key];
        // An undefined field is dropped, and reads back as undefined all the same.
        if (item !== undefined) check(item, walk);
        keys.pop();
      }
      ancestors.pop();
      return;
    }
    case 'undefined':
      // Only reached at the top: an absent value is stored as null.
      return;
    case 'bigint':
      refuse(
        walk,
        `is a BigInt (${describe(value)}), which JSON cannot encode (pass it as a string)`,
      );
      break;
    default:
      // function, symbol: JSON drops them (or answers undefined).
      refuse(walk, `is ${describe(value)}, which JSON drops`);
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
    check(value, { where, root, keys: [], ancestors: [] });
  } catch (error) {
    // A value nested deeper than the stack: JSON.stringify would fail on it too.
    if (!(error instanceof RangeError)) throw error;
    refuse({ where, root, keys: [], ancestors: [] }, 'is nested too deeply to encode');
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
