/**
 * How values and errors cross between processes (through a shared store such
 * as Redis). A {@link Codec} turns a value into a string and back; the
 * default {@link jsonCodec} is strict: it refuses, at encode time, every
 * value JSON would silently change (`undefined` properties dropped, `NaN`
 * turned into `null`, a Date turned into a string, a Map into `{}`), so a
 * writer fails loudly instead of readers getting garbage. An error crosses
 * as its {@link ErrorShape} and arrives as a `RemoteError`.
 */
import { CodecError, RemoteError } from './errors.js';

/** Turns values into strings and back. `decode(encode(v))` must be equivalent to `v`. */
export interface Codec {
  /** Encodes `value`; throws (preferably a `CodecError`) when it cannot carry it. */
  encode(value: unknown): string;
  /** Decodes what {@link encode} produced. */
  decode(text: string): unknown;
}

/**
 * The strict JSON codec: strings, finite numbers, booleans, null, arrays and
 * plain objects (prototype `Object.prototype` or null) only. A top-level
 * `undefined` is carried (a `void` function's result); anything else JSON
 * cannot carry exactly is a {@link CodecError} naming its path.
 *
 * @example
 * ```ts
 * jsonCodec.encode({ id: 1, tags: ['a'] }); // '{"id":1,"tags":["a"]}'
 * jsonCodec.encode({ at: new Date() });     // throws CodecError: $.at is a Date
 * ```
 */
export const jsonCodec: Codec = {
  encode(value: unknown): string {
    if (value === undefined) return '';
    check(value, '$', new Set());
    return JSON.stringify(value);
  },
  decode(text: string): unknown {
    return text === '' ? undefined : JSON.parse(text);
  },
};

function check(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `is ${String(value)}, which JSON turns into null`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) fail(path, 'is a cycle');
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) fail(`${path}[${String(i)}]`, 'is a hole, which JSON turns into null');
          const item: unknown = value[i];
          if (item === undefined)
            fail(`${path}[${String(i)}]`, 'is undefined, which JSON turns into null');
          check(item, `${path}[${String(i)}]`, seen);
        }
        seen.delete(value);
        return;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
        fail(
          path,
          `is a ${typeof ctor === 'string' ? ctor : 'class instance'}, not a plain object`,
        );
      }
      seen.add(value);
      for (const key of Object.keys(value)) {
        const item: unknown = (value as Record<string, unknown>)[key];
        const at = `${path}.${key}`;
        if (item === undefined) fail(at, 'is undefined, which JSON drops');
        check(item, at, seen);
      }
      if (Object.getOwnPropertySymbols(value).length > 0)
        fail(path, 'has symbol keys, which JSON drops');
      seen.delete(value);
      return;
    }
    default:
      fail(path, `is a ${typeof value}`);
  }
}

function fail(path: string, what: string): never {
  throw new CodecError(
    `jsonCodec: ${path} ${what}; the JSON codec carries only strings, finite numbers, booleans, null, arrays and plain objects (pass a codec that handles it).`,
    path,
  );
}

/** The parts of an error that cross processes: `name`, `message`, `code`. */
export interface ErrorShape {
  readonly name: string;
  readonly message: string;
  readonly code?: string | number | undefined;
}

/** The transportable shape of any thrown value. */
export function errorShape(error: unknown): ErrorShape {
  if (
    error instanceof Error ||
    (typeof error === 'object' && error !== null && 'message' in error)
  ) {
    const e = error as { name?: unknown; message?: unknown; code?: unknown };
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined;
    return {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: typeof e.message === 'string' ? e.message : String(e.message),
      ...(code === undefined ? {} : { code }),
    };
  }
  return { name: 'Error', message: `non-error thrown: ${safeString(error)}` };
}

function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    // JSON.stringify answers undefined for undefined, functions and symbols.
    const text = JSON.stringify(value) as string | undefined;
    return typeof text === 'string' ? text : String(value);
  } catch {
    return String(value);
  }
}

/** Rebuilds an error from its {@link ErrorShape} (a {@link RemoteError}). */
export function errorFromShape(shape: unknown): RemoteError {
  const s = (typeof shape === 'object' && shape !== null ? shape : {}) as Partial<ErrorShape>;
  return new RemoteError(
    typeof s.name === 'string' ? s.name : 'Error',
    typeof s.message === 'string' ? s.message : 'unknown remote error',
    typeof s.code === 'string' || typeof s.code === 'number' ? s.code : undefined,
  );
}
