/**
 * Store keys: namespace, version and scope folded into one string, with length prefixes so
 * that no two different (version, scope, key) triples give the same store key.
 */
import { describe, InvalidOptionError } from '../core/index.js';
import { CacheKeyError } from './errors.js';
import { WHERE } from './options.js';

/** The prefix of every store key of `namespace` under `version` (checked). */
export function versionPrefix(namespace: string, version: unknown): string {
  if (version === undefined) return namespace;
  if (typeof version !== 'string' && (typeof version !== 'number' || !Number.isFinite(version))) {
    throw new InvalidOptionError(
      'version',
      `${WHERE}: option version must be a string or a finite number, got ${describe(version)}.`,
    );
  }
  // The length prefix keeps versions "1" + key "2x" and "12" + key "x" apart.
  const v = String(version);
  return `${namespace}v${String(v.length)}:${v}:`;
}

/** The store key of `key` in `scope` under `prefix`. */
export function scopedKey(prefix: string, scope: string, key: string): string {
  if (typeof scope !== 'string') throw keyError(scope, 'scope');
  // NUL never starts an unscoped key (rejected by get), and the length
  // prefix keeps scope "a:b" + key "c" apart from scope "a" + key "b:c".
  return `${prefix}\u0000${String(scope.length)}:${scope}\u0000${key}`;
}

/** The error of a key (or scope) that is not a string, or starts with NUL. */
export function keyError(key: unknown, what = 'key'): CacheKeyError {
  return new CacheKeyError(
    `cache: a ${what} must be a string that does not start with NUL, got ${describe(key)}.`,
  );
}
