/**
 * What the key encoders do with objects that are neither plain data nor one
 * of the built-in value types they encode: the `toJSON()` escape hatch of
 * class instances, and the `TypeError`s that refuse everything else.
 *
 * An object whose state a key cannot see (private fields, closures, internal
 * slots: a Promise, an Error's cause and stack, a WeakMap, an iterator's
 * position) would encode as its empty shell, so two different values would
 * share one key: a cache or a single flight would hand one caller's result to
 * another. Such a value is refused, naming its kind and where it was found.
 */

/** Advice every "cannot build a key" message ends with. */
const KEY_FUNCTION_ADVICE =
  'Pass a key function (options.key) that picks the fields that identify the call.';

/** The deepest nesting a key is built for; deeper is a `TypeError` (a recursive encoder would overflow the stack). */
export const MAX_KEY_DEPTH = 1_000;

/**
 * The `toJSON` method of a class instance, if its class (or the object itself)
 * defines one: what the instance keys by.
 */
export function toJsonMethod(object: object): (() => unknown) | undefined {
  const method = (object as { toJSON?: unknown }).toJSON;
  return typeof method === 'function' ? (method as () => unknown) : undefined;
}

/** The class name a class instance's key is tagged with (`?` when it has none). */
export function className(object: object): string {
  const name = (Object.getPrototypeOf(object) as { constructor?: { name?: unknown } } | null)
    ?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : '?';
}

/** A function or symbol met while encoding. */
export function primitiveError(path: string, type: 'function' | 'symbol'): TypeError {
  return new TypeError(
    `Cannot build a key: ${path} is a ${type}, which has no stable identity. ${KEY_FUNCTION_ADVICE}`,
  );
}

/** An object met again on its own path. */
export function cycleError(path: string): TypeError {
  return new TypeError(`Cannot build a key: ${path} is a cyclic reference. ${KEY_FUNCTION_ADVICE}`);
}

/** A structure nested deeper than {@link MAX_KEY_DEPTH}. */
export function depthError(path: string): TypeError {
  return new TypeError(
    `Cannot build a key: ${shortPath(path)} is nested more than ${String(MAX_KEY_DEPTH)} levels deep ` +
      `(keys are built for at most ${String(MAX_KEY_DEPTH)}). ${KEY_FUNCTION_ADVICE}`,
  );
}

/**
 * An object without content a key could be built from: a class instance
 * without `toJSON()`, a Promise, an Error, a weak collection, an iterator, a
 * boxed symbol, …
 */
export function unkeyableError(path: string, object: object): TypeError {
  const kind = describeKind(object);
  const classAdvice = kind.startsWith('an instance of')
    ? ' Or give the class a toJSON() that returns everything that identifies an instance.'
    : '';
  return new TypeError(
    `Cannot build a key: ${path} is ${kind}, whose state a key cannot see (private fields, ` +
      `closures, internal slots, an error's cause and stack), so different values would share ` +
      `one key. ${KEY_FUNCTION_ADVICE}${classAdvice}`,
  );
}

function describeKind(object: object): string {
  if (object instanceof Error) {
    return `an Error (${object.name})`;
  }
  const tag = Object.prototype.toString.call(object).slice(8, -1);
  if (tag === 'Arguments') return 'an arguments object';
  if (tag !== 'Object') return `${/^[AEIOU]/.test(tag) ? 'an' : 'a'} ${tag}`;
  const name = className(object);
  return name === '?'
    ? 'an object with a prototype of its own and no toJSON()'
    : `an instance of ${name} without toJSON()`;
}

/** A path short enough for a message: a 1,000-level path is thousands of characters. */
function shortPath(path: string): string {
  return path.length <= 120 ? path : `${path.slice(0, 80)}…${path.slice(-30)}`;
}
