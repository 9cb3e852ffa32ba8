/**
 * A Lua script kept as reviewed source in a TypeScript module and run with
 * `EVALSHA`. The first `NOSCRIPT` (a fresh server, a restart, `SCRIPT FLUSH`)
 * loads it with `SCRIPT LOAD` once per connection (concurrent callers share
 * that load) and retries; a Redis that forgets scripts never breaks a call.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Any ioredis client or cluster: only `evalsha` and `script` are used. */
export type RedisLike = Pick<Redis, 'evalsha' | 'script'>;

/** A script and its SHA-1, loaded on demand. */
export class LuaScript {
  /** SHA-1 of the source, what `EVALSHA` names. */
  readonly sha: string;
  readonly #loading = new WeakMap<object, Promise<unknown>>();

  /**
   * @param name - shown in errors, e.g. `gcra-acquire`.
   * @param source - the Lua source; its header lists KEYS, ARGV and the reply.
   */
  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script with `keys` and `args`; reloads and retries once after `NOSCRIPT`. */
  run(
    client: RedisLike,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    // No async wrapper: the hot path is one EVALSHA promise, nothing more.
    return client.evalsha(this.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      return this.load(client).then(() => client.evalsha(this.sha, keys.length, ...keys, ...args));
    });
  }

  /**
   * One `EVALSHA` with the first `numKeys` of `keysAndArgs` as keys, and no
   * `NOSCRIPT` handling: a hot path chains its own `.then(decode, onError)`
   * and calls {@link retry} on `NOSCRIPT`, one promise instead of two.
   */
  send(client: RedisLike, numKeys: number, keysAndArgs: readonly string[]): Promise<unknown> {
    return client.evalsha(this.sha, numKeys, ...keysAndArgs);
  }

  /** After a {@link send} failed with `NOSCRIPT` ({@link LuaScript.isNoScript}): loads the script and sends again. */
  retry(client: RedisLike, numKeys: number, keysAndArgs: readonly string[]): Promise<unknown> {
    return this.load(client).then(() => client.evalsha(this.sha, numKeys, ...keysAndArgs));
  }

  /** Whether `error` is the server's `NOSCRIPT` (the script is not in its cache). */
  static isNoScript(error: unknown): boolean {
    return isNoScript(error);
  }

  /** Loads the script into the server's script cache (`SCRIPT LOAD`). */
  load(client: RedisLike): Promise<unknown> {
    let loading = this.#loading.get(client);
    if (loading === undefined) {
      loading = client.script('LOAD', this.source).finally(() => {
        this.#loading.delete(client);
      });
      this.#loading.set(client, loading);
    }
    return loading;
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
