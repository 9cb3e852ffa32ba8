/**
 * Fleet distribution, whatever the store: numbered revisions of the fleet configuration,
 * each with who published it, when, and its diff against the revision before it; and the
 * heartbeats in which every following process says which revision it runs.
 *
 * The store ({@link FleetStore}) only keeps records and carries notifications; everything
 * that decides (validation, numbering rules, diffs, staleness, what a follower applies)
 * is here and in `follower.ts`, once, for Redis and PostgreSQL alike.
 */
import { hostname, userInfo } from 'node:os';
import { systemClock, type Clock } from 'batchflight/core';
import { diffConfigs } from './diff.js';
import type { FleetConfig } from './fleet-schema.js';
import {
  parseRevision,
  type ConfigRevision,
  type FleetStore,
  type FollowerStatus,
} from './fleet-store.js';
import { followRevisions, type ConfigFollower, type FollowOptions } from './follower.js';
import type { ConfigFormat } from './load.js';
import type { ConfigRegistry } from './registry.js';

export type {
  ConfigRevision,
  FleetStore,
  FleetSubscription,
  FollowerStatus,
  RevisionRecord,
} from './fleet-store.js';

/** One process in {@link ConfigChannel.processes}. */
export interface ProcessStatus extends FollowerStatus {
  readonly processId: string;
  /** How old its last report is, ms, on the reader's clock. */
  readonly ageMs: number;
  /** No report for 3 heartbeat periods: the process is probably gone (or cut off). */
  readonly stale: boolean;
}

/** Options of {@link ConfigChannel}. */
export interface ConfigChannelOptions {
  /** Time of revisions, reports and staleness. Default the system clock. */
  readonly clock?: Clock;
}

/** Options of {@link ConfigChannel.publish}. */
export interface PublishOptions {
  /** Who publishes. Default `user@host` of this process. */
  readonly author?: string;
  /** The file the text came from: it starts every validation message and gives the format. */
  readonly source?: string;
  /** The syntax; by default from the extension of `source` (`.json`, else YAML). */
  readonly format?: ConfigFormat;
  /** The revision this one restores (set by {@link ConfigChannel.rollback}). */
  readonly rollbackOf?: number;
}

/** The periods of a heartbeat after which a report is stale. */
export const STALE_HEARTBEATS = 3;

/** `user@host` of this process: the default author of a revision. */
export function defaultAuthor(): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    user = process.env['USER'] ?? process.env['USERNAME'];
  }
  return `${user ?? 'unknown'}@${hostname()}`;
}

/**
 * The coordinator's side (`publish`, `rollback`, `history`, `processes`) and the
 * processes' side (`follow`) of the fleet configuration, over any {@link FleetStore}.
 * `RedisConfigChannel` and `PostgresConfigChannel` are this class over their stores.
 *
 * @example
 * ```ts
 * const follower = fleet.follow(registry);              // in every process
 * await fleet.publish(text, { author: 'ops@example' });  // on the coordinator
 * ```
 */
export class ConfigChannel {
  readonly #store: FleetStore;
  readonly #clock: Clock;

  constructor(store: FleetStore, options: ConfigChannelOptions = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
  }

  /** The store behind this channel. */
  get store(): FleetStore {
    return this.#store;
  }

  /**
   * Validates `text` (the file's content) and stores it as the next revision with its
   * author, time and diff; every follower applies it. An invalid text is refused with a
   * ConfigError (file, line, path, value and contract) and not stored.
   *
   * @returns the new revision number.
   */
  async publish(text: string, options: PublishOptions = {}): Promise<number> {
    const config = parseRevision(text, options.source ?? 'published configuration', options.format);
    // The diff is against the revision current now; two publishers racing may each diff
    // against the same one (the numbers stay distinct and ordered).
    const previous = await this.revision(await this.latest());
    let base: FleetConfig = { primitives: {} };
    if (previous !== undefined) {
      try {
        base = parseRevision(previous.text, 'previous revision', previous.format);
      } catch {
        // A previous revision no follower could apply: diff against nothing, every setting.
      }
    }
    const format =
      options.format ?? (options.source?.toLowerCase().endsWith('.json') ? 'json' : undefined);
    return this.#store.append({
      text,
      ...(format === undefined ? {} : { format }),
      author: options.author ?? defaultAuthor(),
      at: this.#clock.now(),
      ...(options.rollbackOf === undefined ? {} : { rollbackOf: options.rollbackOf }),
      diff: diffConfigs(base, config),
    });
  }

  /**
   * Publishes the text of revision `revision` again, as a new revision.
   *
   * @throws RangeError when there is no such revision.
   */
  async rollback(revision: number, options: { readonly author?: string } = {}): Promise<number> {
    const old = await this.revision(revision);
    if (old === undefined) {
      throw new RangeError(
        `ConfigChannel#rollback(): ${this.#store.label} has no revision ${String(revision)} (the last is ${String(await this.latest())}).`,
      );
    }
    return this.publish(old.text, {
      ...(options.author === undefined ? {} : { author: options.author }),
      ...(old.format === undefined ? {} : { format: old.format }),
      source: `revision ${String(revision)}`,
      rollbackOf: revision,
    });
  }

  /** The last revision number, 0 when nothing was published. */
  latest(): Promise<number> {
    return this.#store.latest();
  }

  /** One stored revision. */
  async revision(revision: number): Promise<ConfigRevision | undefined> {
    if (!(Number.isInteger(revision) && revision > 0)) return undefined;
    const record = await this.#store.read(revision);
    return record === undefined ? undefined : { revision, ...record };
  }

  /** Every stored revision, oldest first. */
  history(): Promise<ConfigRevision[]> {
    return this.#store.readAll();
  }

  /** What every follower last reported, by process id. */
  status(): Promise<Record<string, FollowerStatus>> {
    return this.#store.reports();
  }

  /**
   * Every process that reported, by process id, with the age of its last report on this
   * channel's clock and whether it is stale (no report for {@link STALE_HEARTBEATS}
   * heartbeat periods).
   */
  async processes(): Promise<ProcessStatus[]> {
    const now = this.#clock.now();
    const reports = await this.#store.reports();
    return Object.entries(reports)
      .map(([processId, status]): ProcessStatus => {
        const ageMs = Math.max(0, now - status.at);
        const period = status.heartbeatMs ?? 5_000;
        return { processId, ...status, ageMs, stale: ageMs > STALE_HEARTBEATS * period };
      })
      .sort((a, b) => (a.processId < b.processId ? -1 : a.processId > b.processId ? 1 : 0));
  }

  /**
   * Applies the current revision to `registry`, then each new one as it is published
   * (notification, with polling as the fallback), and reports heartbeats. Revisions are
   * applied in order and never backwards; a refused one is reported and not retried, and
   * the process keeps the revision it runs, as it does while the store is unreachable.
   */
  follow(registry: ConfigRegistry, options: FollowOptions = {}): ConfigFollower {
    return followRevisions(this.#store, registry, { clock: this.#clock, ...options });
  }
}
