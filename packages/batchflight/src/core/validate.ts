/**
 * Construction-time validation with messages that restate the contract and
 * echo the bad value, e.g.
 * `batch(): option maxSize must be an integer >= 1, got 0.`
 */
import { InvalidOptionError } from './errors.js';
import { describe } from './handler.js';

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
    if (!known.includes(name)) {
      throw new InvalidOptionError(
        name,
        `${where}: unknown option ${JSON.stringify(name)}; known options are ${known.join(', ')}.`,
      );
    }
  }
}
