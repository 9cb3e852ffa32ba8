/**
 * A Lua script kept as reviewed source in a TypeScript module and run with
 * `EVALSHA`. After a `NOSCRIPT` (a fresh server, a restart, `SCRIPT FLUSH`)
 * the call is sent again as `EVAL` with the source, which runs it and caches
 * it on that server; a Redis that forgets scripts never breaks a call.
 *
 * `EVAL` rather than `SCRIPT LOAD` + `EVALSHA`: on Redis Cluster every master
 * has its own script cache and a command without keys (`SCRIPT LOAD`) goes
 * to a random node, so the reload could land on another master than the
 * one the key routes the `EVALSHA` to. `EVAL` is routed by its keys like
 * `EVALSHA`, so it reaches the node that answered `NOSCRIPT`, on a single
 * Redis and on a Cluster alike, in one round trip.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Any ioredis client or cluster: only `evalsha`, `eval` and `script` are used (and their `…Buffer` forms). */
export type RedisLike = Pick<Redis, 'evalsha' | 'eval' | 'script'>;

/**
 * The `…Buffer` forms of `evalsha` and `eval` (the reply as Buffers), which
 * every ioredis client and Cluster has but its types do not declare.
 * (`callBuffer('evalsha', …)` would do the same, but an ioredis client with
 * `enableAutoPipelining` sends its first argument as the command name.)
 */
interface BufferEval {
  evalshaBuffer(sha: string, numKeys: string, ...keysAndArgs: string[]): Promise<unknown>;
  evalBuffer(source: string, numKeys: string, ...keysAndArgs: string[]): Promise<unknown>;
}

/** A Cluster's masters (`cluster.nodes('master')`), when `client` is an ioredis `Cluster`. */
interface ClusterLike {
  readonly isCluster: true;
  nodes(role: 'master'): RedisLike[];
}

/** A script and its SHA-1, loaded on demand. */
export class LuaScript {
  /** SHA-1 of the source, what `EVALSHA` names. */
  readonly sha: string;

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

  /**
   * Runs the script with `keys` and `args`; after `NOSCRIPT`, once more as
   * `EVAL`. On Cluster the script must name at least one key: that key
   * routes it to the master of its slot.
   */
  run(
    client: RedisLike,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    // No async wrapper: the hot path is one EVALSHA promise, nothing more.
    return client.evalsha(this.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    });
  }

  /**
   * One `EVALSHA` with the first `numKeys` of `keysAndArgs` as keys, its
   * reply as Buffers (a script that answers with packed binary), and no
   * `NOSCRIPT` handling: a hot path chains its own `.then(decode, onError)`
   * and calls {@link retryBuffer} on `NOSCRIPT`, one promise instead of two.
   */
  sendBuffer(client: RedisLike, numKeys: number, keysAndArgs: readonly string[]): Promise<unknown> {
    return (client as RedisLike & BufferEval).evalshaBuffer(
      this.sha,
      String(numKeys),
      ...keysAndArgs,
    );
  }

  /** After a {@link sendBuffer} failed with `NOSCRIPT` ({@link LuaScript.isNoScript}): sends it again as `EVAL`. */
  retryBuffer(
    client: RedisLike,
    numKeys: number,
    keysAndArgs: readonly string[],
  ): Promise<unknown> {
    return (client as RedisLike & BufferEval).evalBuffer(
      this.source,
      String(numKeys),
      ...keysAndArgs,
    );
  }

  /** Whether `error` is the server's `NOSCRIPT` (the script is not in its cache). */
  static isNoScript(error: unknown): boolean {
    return isNoScript(error);
  }

  /**
   * Loads the script ahead of use (`SCRIPT LOAD`): into the server's cache,
   * or on a Cluster into the cache of every master. Optional: {@link run}
   * and {@link retry} recover from `NOSCRIPT` by themselves.
   */
  async load(client: RedisLike): Promise<void> {
    const masters = isCluster(client) ? client.nodes('master') : [client];
    await Promise.all(masters.map((node) => node.script('LOAD', this.source)));
  }
}

function isCluster(client: RedisLike): client is RedisLike & ClusterLike {
  return (client as Partial<ClusterLike>).isCluster === true;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
