/**
 * Construction-time validation with messages that restate the contract and
 * echo the bad value, e.g.
 * `batch(): option maxSize must be an integer >= 1, got 0.`
 */
import { InvalidOptionError } from './errors.js';
import { describe } from './describe.js';

function fail(where: string, option: string, contract: string, value: unknown): never {
  throw new InvalidOptionError(
    option,
    `${where}: option ${option} must be ${contract}, got ${describe(value)}.`,
  );
}

/** An integer `>= min` (default 1), or `Infinity` when `allowInfinity`. */
export function integerOption(
  where: string,
  option: string,
  value: unknown,
  { min = 1, allowInfinity = false }: { min?: number; allowInfinity?: boolean } = {},
): number {
  if (allowInfinity && value === Infinity) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(
      where,
      option,
      `an integer >= ${String(min)}${allowInfinity ? ' or Infinity' : ''}`,
      value,
    );
  }
  return value;
}

/** A finite number `>= min` (default 0); `exclusive` makes it `> min`. */
export function numberOption(
  where: string,
  option: string,
  value: unknown,
  {
    min = 0,
    max = Infinity,
    exclusive = false,
    allowInfinity = false,
  }: {
    min?: number;
    max?: number;
    exclusive?: boolean;
    allowInfinity?: boolean;
  } = {},
): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (allowInfinity && value === Infinity)) &&
    (exclusive ? value > min : value >= min) &&
    value <= max;
  if (!ok) {
    const range = `${exclusive ? '>' : '>='} ${String(min)}${max === Infinity ? '' : ` and <= ${String(max)}`}`;
    fail(where, option, `a ${allowInfinity ? '' : 'finite '}number ${range}`, value);
  }
  return value;
}

/** One of a fixed set of strings. */
export function oneOfOption<const T extends string>(
  where: string,
  option: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    fail(where, option, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

/** A function. */
// T lets the caller name the signature it expects; only `typeof` can be checked at run time.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function functionOption<T extends (...args: never[]) => unknown>(
  where: string,
  option: string,
  value: unknown,
): T {
  if (typeof value !== 'function') fail(where, option, 'a function', value);
  return value as T;
}

/** A boolean. */
export function booleanOption(where: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(where, option, 'a boolean (true or false)', value);
  return value;
}

/** An AbortSignal. */
export function signalOption(where: string, option: string, value: unknown): AbortSignal {
  if (!(value instanceof AbortSignal)) fail(where, option, 'an AbortSignal', value);
  return value;
}

/** Rejects option names that are not part of the contract (catches typos such as `maxsize`). */
export function knownOptions(where: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) unknownOption(where, name, known);
  }
}

function unknownOption(where: string, name: string, known: readonly string[]): never {
  throw new InvalidOptionError(
    name,
    `${where}: unknown option ${JSON.stringify(name)}; known options are ${known.join(', ')}.`,
  );
}

/** The per-call options every call of a policy accepts (see `CallOptions`). */
export const CALL_OPTIONS: readonly string[] = ['signal', 'scope', 'urgent'];

function wrongType(where: string, option: string, contract: string, value: unknown): never {
  throw new TypeError(`${where}: option ${option} must be ${contract}, got ${describe(value)}.`);
}

/**
 * Checks the options object given to one call (`execute(fn, options)`,
 * `acquire(options)`, `ready(options)`), the one validator every policy uses:
 * `undefined` or an object (else a `TypeError`), only names from `known`
 * (else an {@link InvalidOptionError}: a misspelt option is never ignored),
 * and `signal`, `scope`, `urgent`, when given, an AbortSignal, a string and a
 * boolean (else a `TypeError` naming the option and echoing the value).
 * Cheap enough for every call: no allocation when the options are valid.
 *
 * @example
 * ```ts
 * callOptions('rateLimit(api).acquire()', options, [...CALL_OPTIONS, 'key', 'cost']);
 * ```
 */
export function callOptions(
  where: string,
  options: unknown,
  known: readonly string[] = CALL_OPTIONS,
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `${where}: expected an options object { ${known.join(', ')} } or nothing, got ${describe(options)}.`,
    );
  }
  // for-in rather than Object.keys: no array per call.
  for (const name in options) {
    if (!known.includes(name)) unknownOption(where, name, known);
  }
  const { signal, scope, urgent } = options as {
    signal?: unknown;
    scope?: unknown;
    urgent?: unknown;
  };
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    wrongType(where, 'signal', 'an AbortSignal', signal);
  }
  if (scope !== undefined && typeof scope !== 'string') {
    wrongType(where, 'scope', 'a string (a tenant or security domain)', scope);
  }
  if (urgent !== undefined && typeof urgent !== 'boolean') {
    wrongType(where, 'urgent', 'a boolean', urgent);
  }
}

/** The options of `close()` on every long-lived object, checked by {@link closeOptions}. */
export interface GracefulCloseOptions {
  /** Aborting it forces the close at once. */
  readonly signal?: AbortSignal | undefined;
  /** The close turns forced after this many milliseconds (`Infinity`, the default: never). */
  readonly timeoutMs?: number | undefined;
}

/**
 * Checks the options of `close({ signal, timeoutMs })`: an object or
 * nothing, only those two names, an AbortSignal and a number >= 0 (or
 * `Infinity`). Returns them with the default deadline filled in.
 */
export function closeOptions(
  where: string,
  options: unknown,
): { readonly signal: AbortSignal | undefined; readonly timeoutMs: number } {
  if (options === undefined) return { signal: undefined, timeoutMs: Infinity };
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `${where}: expected an options object { signal, timeoutMs } or nothing, got ${describe(options)}.`,
    );
  }
  knownOptions(where, options, ['signal', 'timeoutMs']);
  const { signal, timeoutMs } = options as GracefulCloseOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    wrongType(where, 'signal', 'an AbortSignal (aborting it forces the close)', signal);
  }
  return {
    signal,
    timeoutMs:
      timeoutMs === undefined
        ? Infinity
        : numberOption(where, 'timeoutMs', timeoutMs, { allowInfinity: true }),
  };
}

/**
 * The `name` of a primitive: a non-empty string, `fallback` when not given.
 * Events, errors and the central configuration address a primitive by it.
 */
export function nameOption(where: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') fail(where, 'name', 'a non-empty string', value);
  return value;
}
