/**
 * Fleet distribution over Redis: a coordinator publishes numbered revisions of the fleet
 * configuration, every process follows them and applies each one within a pub/sub round
 * trip (with polling as the fallback for a missed message), and reports the revision it
 * runs. A process that cannot reach Redis keeps its last good revision.
 *
 * Keys, under a prefix (default `batchflight:config`):
 * - `<prefix>:revision`  the last revision number (INCR)
 * - `<prefix>:revisions` hash: revision number -> JSON `{ text, author, at, rollbackOf? }`
 * - `<prefix>:processes` hash: process id -> JSON `{ revision, refused?, error?, at }`
 * - channel `<prefix>:published` carries each new revision number.
 *
 * The publish script touches two keys built from one prefix; on Redis Cluster give the
 * prefix a hash tag (`{fleet}:config`) so they share a slot.
 */
import { hostname } from 'node:os';
import { eventChannel } from 'batchflight/core';
import type { Redis } from 'ioredis';
import { diffConfigs, type ConfigChange } from './diff.js';
import { fleetConfigSchema, type FleetConfig } from './fleet-schema.js';
import { parseConfigText } from './load.js';
import type { ApplyReport, ConfigRegistry } from './registry.js';

/** One stored revision. */
export interface ConfigRevision {
  readonly revision: number;
  /** The configuration text as published (YAML or JSON). */
  readonly text: string;
  /** Who published it (free text: a user, a CI job). */
  readonly author: string;
  /** When, in epoch ms of the publisher's clock. */
  readonly at: number;
  /** The revision it restored, for a rollback. */
  readonly rollbackOf?: number;
  /** What it changed against the revision before it (every setting for the first, or after an invalid one). */
  readonly diff: readonly ConfigChange[];
}

/** What a follower last reported, by process id. */
export interface FollowerStatus {
  /** The revision the process runs (0: none applied yet). */
  readonly revision: number;
  /** The last revision it refused, when that is newer than the one it runs. */
  readonly refused?: number;
  /** Why it refused it, or why it cannot reach the coordinator. */
  readonly error?: string;
  /** When it reported, epoch ms. */
  readonly at: number;
}

/** Options of {@link RedisConfigChannel}. */
export interface RedisConfigChannelOptions {
  /** A connected ioredis client; followers subscribe on a duplicate of it. */
  readonly redis: Redis;
  /** Key prefix. Default `'batchflight:config'`. */
  readonly prefix?: string;
}

/** Options of {@link RedisConfigChannel.follow}. */
export interface FollowOptions {
  /** Identifies this process in `status()`. Default `host:pid`. */
  readonly processId?: string;
  /** Poll for a newer revision this often, in ms, in case a message was missed. Default 5 000. */
  readonly pollMs?: number;
  /** Called after each revision applied. */
  readonly onApplied?: (revision: number, report: ApplyReport, config: FleetConfig) => void;
  /** Called when a revision is refused or Redis cannot be reached; the last good revision stays. */
  readonly onRefused?: (revision: number | undefined, error: unknown) => void;
}

/** What a follower knows of itself, for a health endpoint. */
export interface FollowerHealth {
  /** The revision this process runs (0: none). */
  readonly revision: number;
  /** The last revision it refused, when newer than the one it runs. */
  readonly refused?: number;
  /** False when the last attempt to read the coordinator failed: it runs its last good revision. */
  readonly reachable: boolean;
  /** Why the last revision was refused, or why the coordinator could not be read. */
  readonly error?: string;
}

/** Payload of the `batchflight:config:revision` diagnostics channel. */
export interface ConfigRevisionEvent extends FollowerHealth {
  readonly processId: string;
  /** What just happened: a revision applied or refused, or the coordinator unreachable. */
  readonly outcome: 'applied' | 'refused' | 'unreachable';
}

/** A process following the published revisions. */
export interface ConfigFollower extends AsyncDisposable {
  /** Resolves once the revision current at start was applied (or refused). */
  readonly ready: Promise<void>;
  /** The revision this process runs (0: none). */
  readonly revision: number;
  /** The revision it runs, the last refusal and whether the coordinator answered. */
  health(): FollowerHealth;
  /** Stops following and closes the subscriber connection. Idempotent. */
  close(): Promise<void>;
}

// KEYS[1] revision counter, KEYS[2] revisions hash; ARGV[1] record JSON, ARGV[2] channel.
const PUBLISH = `
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], n, ARGV[1])
redis.call('PUBLISH', ARGV[2], n)
return n`;

/** `batchflight:config:revision`: every apply, refusal and failed read of a follower. */
export const configChannels = {
  revision: eventChannel<ConfigRevisionEvent>('config', 'revision'),
} as const;

const message = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * The coordinator's side (`publish`, `rollback`, `history`, `status`) and the processes'
 * side (`follow`) of the fleet configuration in Redis.
 *
 * @example
 * ```ts
 * const fleet = new RedisConfigChannel({ redis });
 * const follower = fleet.follow(registry);             // in every process
 * await fleet.publish(text, { author: 'ops@example' }); // on the coordinator
 * ```
 */
export class RedisConfigChannel {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: RedisConfigChannelOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? 'batchflight:config';
  }

  get #channel(): string {
    return `${this.#prefix}:published`;
  }

  /**
   * Validates `text` (the file's content) and stores it as the next revision; every
   * follower applies it. An invalid text is refused with a ConfigError and not stored.
   *
   * @returns the new revision number.
   */
  async publish(
    text: string,
    options: { readonly author: string; readonly source?: string; readonly rollbackOf?: number },
  ): Promise<number> {
    const config = parseConfigText(
      text,
      { source: options.source ?? 'published configuration' },
      fleetConfigSchema,
    );
    // The diff is against the revision current now; two publishers racing may each diff
    // against the same one (the numbers stay distinct and ordered).
    const previous = await this.revision(await this.latest());
    let base: FleetConfig = { primitives: {} };
    try {
      if (previous !== undefined) {
        base = parseConfigText(previous.text, { source: 'previous revision' }, fleetConfigSchema);
      }
    } catch {
      // A previous revision no follower could apply: diff against nothing, every setting.
    }
    const record = {
      text,
      author: options.author,
      at: Date.now(),
      ...(options.rollbackOf === undefined ? {} : { rollbackOf: options.rollbackOf }),
      diff: diffConfigs(base, config),
    };
    const revision = await this.#redis.eval(
      PUBLISH,
      2,
      `${this.#prefix}:revision`,
      `${this.#prefix}:revisions`,
      JSON.stringify(record),
      this.#channel,
    );
    return Number(revision);
  }

  /** Publishes the text of revision `revision` again, as a new revision. */
  async rollback(revision: number, options: { readonly author: string }): Promise<number> {
    const old = await this.revision(revision);
    if (old === undefined)
      throw new RangeError(`RedisConfigChannel#rollback(): no revision ${String(revision)}.`);
    return this.publish(old.text, { author: options.author, rollbackOf: revision });
  }

  /** The last revision number, 0 when nothing was published. */
  async latest(): Promise<number> {
    return Number((await this.#redis.get(`${this.#prefix}:revision`)) ?? 0);
  }

  /** One stored revision. */
  async revision(revision: number): Promise<ConfigRevision | undefined> {
    const raw = await this.#redis.hget(`${this.#prefix}:revisions`, String(revision));
    return raw === null
      ? undefined
      : { revision, ...(JSON.parse(raw) as Omit<ConfigRevision, 'revision'>) };
  }

  /** Every stored revision, oldest first. */
  async history(): Promise<ConfigRevision[]> {
    const all = await this.#redis.hgetall(`${this.#prefix}:revisions`);
    return Object.entries(all)
      .map(([n, raw]) => ({
        revision: Number(n),
        ...(JSON.parse(raw) as Omit<ConfigRevision, 'revision'>),
      }))
      .sort((a, b) => a.revision - b.revision);
  }

  /** What every follower last reported, by process id. */
  async status(): Promise<Record<string, FollowerStatus>> {
    const all = await this.#redis.hgetall(`${this.#prefix}:processes`);
    return Object.fromEntries(
      Object.entries(all).map(([id, raw]) => [id, JSON.parse(raw) as FollowerStatus]),
    );
  }

  /**
   * Applies the current revision to `registry`, then each new one as it is published.
   * Revisions are applied in order and never backwards; a refused one is reported in
   * `status()` and not retried, and the process keeps the revision it runs.
   */
  follow(registry: ConfigRegistry, options: FollowOptions = {}): ConfigFollower {
    const processId = options.processId ?? `${hostname()}:${String(process.pid)}`;
    const subscriber = this.#redis.duplicate();
    let applied = 0;
    let refused = 0;
    let reachable = true;
    let lastError: string | undefined;
    const health = (): FollowerHealth => ({
      revision: applied,
      ...(refused > applied ? { refused } : {}),
      reachable,
      ...(lastError === undefined ? {} : { error: lastError }),
    });
    const publish = (outcome: ConfigRevisionEvent['outcome']): void => {
      if (configChannels.revision.hasSubscribers) {
        configChannels.revision.publish({ processId, outcome, ...health() });
      }
    };
    let closed = false;
    let queue: Promise<void> = Promise.resolve();

    const report = async (status: Omit<FollowerStatus, 'at'>): Promise<void> => {
      const value: FollowerStatus = { ...status, at: Date.now() };
      await this.#redis.hset(`${this.#prefix}:processes`, processId, JSON.stringify(value));
    };
    const catchUp = async (): Promise<void> => {
      let latest: number;
      try {
        latest = await this.latest();
      } catch (error) {
        unreachable(error);
        return; // keep the revision we run
      }
      reachable = true;
      if (latest <= applied || latest <= refused) return;
      const stored = await this.revision(latest);
      if (stored === undefined) return;
      try {
        const source = `${this.#prefix} revision ${String(latest)}`;
        const config = parseConfigText(stored.text, { source }, fleetConfigSchema);
        const result = registry.apply(config, source);
        applied = latest;
        lastError = undefined;
        publish('applied');
        await report({ revision: applied });
        options.onApplied?.(latest, result, config);
      } catch (error) {
        refused = latest;
        lastError = message(error);
        publish('refused');
        await report({ revision: applied, refused, error: lastError });
        options.onRefused?.(latest, error);
      }
    };
    // Serialized, so two messages never apply out of order.
    const enqueue = (): Promise<void> => {
      queue = queue.then(catchUp).catch((error: unknown) => {
        options.onRefused?.(undefined, error);
      });
      return queue;
    };

    subscriber.on('message', () => {
      if (!closed) void enqueue();
    });
    const unreachable = (error: unknown): void => {
      reachable = false;
      lastError = message(error);
      publish('unreachable');
      options.onRefused?.(undefined, error);
    };
    // The subscriber's connection errors are the follower's to report, not unhandled events.
    subscriber.on('error', (error: unknown) => {
      reachable = false;
      lastError = message(error);
    });
    // Without the subscription the poll still catches up, so read the current revision anyway.
    const ready = subscriber
      .subscribe(this.#channel)
      .then(
        () => undefined,
        (error: unknown) => {
          unreachable(error);
        },
      )
      .then(() => enqueue());
    const poll = setInterval(() => {
      if (!closed) void enqueue();
    }, options.pollMs ?? 5_000);
    poll.unref();

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        closed = true;
        clearInterval(poll);
        await ready;
        await queue;
        subscriber.disconnect();
      })());
    return {
      ready,
      get revision() {
        return applied;
      },
      health,
      close,
      [Symbol.asyncDispose]: close,
    };
  }
}
