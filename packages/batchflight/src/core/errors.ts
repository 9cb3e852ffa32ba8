/**
 * The error base of batchflight.
 *
 * Every error has a stable `code` (match on it, not on messages), an explicit
 * `name` that survives minification, and a chained `cause`. `Foo.is(value)`
 * recognises an error by brand and code rather than `instanceof`, so it keeps
 * working when two copies of batchflight are installed side by side.
 */

const BRAND = Symbol.for('batchflight.error');

/** Options accepted by every batchflight error. */
export interface BatchflightErrorOptions {
  /** The underlying error, kept as `error.cause`. */
  readonly cause?: unknown;
}

type ErrorClass<T> = abstract new (...args: never[]) => T;

/** Base class of every error batchflight throws on purpose. */
export class BatchflightError extends Error {
  /** Stable machine-readable code of this class; subclasses override it. */
  static readonly code: string = 'ERR_BATCHFLIGHT';
  override name = 'BatchflightError';
  /** Stable machine-readable code, e.g. `ERR_BATCHFLIGHT_TIMEOUT`. */
  readonly code: string;
  declare readonly [BRAND]: true;

  constructor(message: string, options?: BatchflightErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = (new.target as unknown as { code: string }).code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * True when `value` is an error of this class (or, on the base class, any
   * batchflight error), even if it comes from another installed copy.
   *
   * @example
   * ```ts
   * if (TimeoutError.is(err)) retryLater();
   * ```
   */
  static is<T extends BatchflightError>(this: ErrorClass<T>, value: unknown): value is T {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
    const code = (this as unknown as { code: string }).code;
    return code === BatchflightError.code || (value as { code?: unknown }).code === code;
  }
}

/**
 * An option given at construction breaks its contract. The message names the
 * option, restates the contract and echoes the value.
 */
export class InvalidOptionError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_INVALID_OPTION';
  override name = 'InvalidOptionError';
  /** Name of the offending option, e.g. `maxSize`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super(message);
    this.option = option;
  }
}

/**
 * A deadline passed. Used as the abort reason of timed-out work, so a
 * caller's own abort and a timeout can always be told apart.
 */
export class TimeoutError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_TIMEOUT';
  override name = 'TimeoutError';
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, options?: BatchflightErrorOptions) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** A call was made on an object after `close()`. */
export class ClosedError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_CLOSED';
  override name = 'ClosedError';
}

/**
 * True when `error` asks its callers to fail fast rather than try again at
 * once: it carries `failFast: true`, as `CircuitOpenError` does (an open
 * breaker exists so that nobody calls). Retry's default `isRetryable` reads
 * this, so it needs to import no capability's error class.
 */
export function isFailFast(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { failFast?: unknown }).failFast === true
  );
}

/**
 * A value cannot be carried by the codec (JSON by default): `undefined`
 * inside an object, a function, a symbol, a BigInt, a non-finite number, a
 * Date, a Map, a class instance or a cycle. Thrown where the value is
 * produced (a distributed flight's leader, a store's `set`), never discovered as
 * garbage by a reader.
 */
export class CodecError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_CODEC';
  override name = 'CodecError';
  /** Where in the value the problem is, as a path like `$.items[2].at`. */
  readonly path: string;

  constructor(message: string, path: string, options?: BatchflightErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

/**
 * An error thrown in another process and carried through a shared store (a
 * distributed flight's leader failed, or a negative cache entry in Redis): it has the
 * original error's `name`, `message` and `code` as they were there, so
 * `err.code === 'ECONNRESET'` reads the same in every process. `remote` is
 * always true; `RemoteError.is(err)` recognises one whatever its `name`.
 */
export class RemoteError extends Error {
  /** Marks errors that came from another process through the flight store. */
  readonly remote = true;
  /** The leader's `error.code`, when it had a string or number one. */
  readonly code: string | number | undefined;

  constructor(name: string, message: string, code: string | number | undefined) {
    super(message);
    this.name = name;
    this.code = code;
    Object.defineProperty(this, REMOTE, { value: true });
  }

  /** True for an error rebuilt from another process's outcome. */
  static is(value: unknown): value is RemoteError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [REMOTE]?: unknown })[REMOTE] === true
    );
  }
}

// The brand is the one `@batchflight/redis` gave it before the class moved here, so an
// error rebuilt by an older copy of that package is still recognised.
const REMOTE = Symbol.for('batchflight.redis.remote-error');
