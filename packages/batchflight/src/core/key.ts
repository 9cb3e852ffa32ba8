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
 */

/** Encodes one value; `where` names it in error messages (e.g. `argument 0`). */
export function stableKey(value: unknown, where = 'value'): string {
  // Fast paths for the overwhelmingly common primitive keys.
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      return `n${String(value)}`;
    default:
      return encode(value, where, undefined);
  }
}

/**
 * Encodes an argument list. A single argument encodes like {@link stableKey};
 * several are joined so that `f(1, 2)` and `f([1, 2])` still differ.
 */
export function argumentsKey(args: readonly unknown[]): string {
  if (args.length === 1) return stableKey(args[0], 'argument 0');
  if (args.length === 0) return '()';
  let key = '(';
  for (let i = 0; i < args.length; i++) {
    if (i > 0) key += ',';
    const arg = args[i];
    // Quote strings in a list so a comma inside one cannot forge a second argument.
    key +=
      typeof arg === 'string'
        ? `s${JSON.stringify(arg)}`
        : encode(arg, `argument ${String(i)}`, undefined);
  }
  return `${key})`;
}

function encode(value: unknown, path: string, seen: Set<object> | undefined): string {
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
      out += encode(object[i], `${path}[${String(i)}]`, seen);
    }
    return `${out}]`;
  }
  if (object instanceof Date) return `d${String(object.getTime())}`;
  if (object instanceof Map) {
    const entries: string[] = [];
    let index = 0;
    for (const [k, v] of object) {
      const where = `${path} (Map entry ${String(index++)})`;
      entries.push(`${encode(k, where, seen)}=>${encode(v, where, seen)}`);
    }
    return `M{${entries.sort().join(',')}}`;
  }
  if (object instanceof Set) {
    const items: string[] = [];
    let index = 0;
    for (const item of object)
      items.push(encode(item, `${path} (Set item ${String(index++)})`, seen));
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
    out += `${JSON.stringify(name)}:${encode((object as Record<string, unknown>)[name], `${path}.${name}`, seen)}`;
  }
  return `${out}}`;
}
