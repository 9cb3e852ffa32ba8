/**
 * Errors of `@batchflight/redis`. Each has a stable `code` and an explicit
 * `name`; `X.is(value)` recognises them across two installed copies.
 */
import { BatchflightError, type BatchflightErrorOptions } from 'batchflight';

/**
 * A value cannot be carried by the codec (JSON by default): `undefined`
 * inside an object, a function, a symbol, a BigInt, a non-finite number, a
 * Date, a Map, a class instance or a cycle. Thrown where the value is
 * produced (the flight's leader, `RedisCacheStore#set`), never discovered as
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
 * Redis could not be reached (or did not answer) and the configured fallback
 * is to fail: `onUnavailable: 'fail-closed'` of the rate-limit store, or a
 * distributed flight that could not talk to Redis.
 */
export class RedisUnavailableError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_REDIS_UNAVAILABLE';
  override name = 'RedisUnavailableError';
}

/**
 * An error thrown in another process and carried through Redis (a
 * distributed flight's leader failed, or a negative cache entry): it has the
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

const REMOTE = Symbol.for('batchflight.redis.remote-error');
