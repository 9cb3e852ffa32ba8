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
import { diffConfigs, type ConfigChange } from './diff.js';
import { fleetConfigSchema, type FleetConfig } from './fleet-schema.js';
import { followRevisions, type ConfigFollower, type FollowOptions } from './follower.js';
import { parseConfigText, type ConfigFormat } from './load.js';
import type { ConfigRegistry } from './registry.js';

/** One stored revision. */
export interface ConfigRevision {
  readonly revision: number;
  /** The configuration text as published (YAML or JSON). */
  readonly text: string;
  /** The syntax of `text`, when the publisher said (taken from the file's extension). */
  readonly format?: ConfigFormat;
  /** Who published it: `--author`, else `user@host` of the publisher. */
  readonly author: string;
  /** When, in epoch ms of the publisher's clock. */
  readonly at: number;
  /** The revision it restored, for a rollback. */
  readonly rollbackOf?: number;
  /** What it changed against the revision before it (every setting for the first, or after an invalid one). */
  readonly diff: readonly ConfigChange[];
}

/** A revision as the store keeps it (its number is the store's key). */
export type RevisionRecord = Omit<ConfigRevision, 'revision'>;

/** What a follower last reported (a heartbeat, or the report of an apply or refusal). */
export interface FollowerStatus {
  /** The revision the process runs (0: none applied yet). */
  readonly revision: number;
  /** The last revision it refused, when that is newer than the one it runs. */
  readonly refused?: number;
  /** Why it refused it, or why it last failed to read the coordinator. */
  readonly error?: string;
  /** When it reported, epoch ms of the process's clock. */
  readonly at: number;
  /** The host and process id of the follower (absent in reports of older versions). */
  readonly host?: string;
  readonly pid?: number;
  /** When the follower started, epoch ms. */
  readonly startedAt?: number;
  /** Its heartbeat period, ms: a report older than 3 of them is stale. */
  readonly heartbeatMs?: number;
}

/** One process in {@link ConfigChannel.processes}. */
export interface ProcessStatus extends FollowerStatus {
  readonly processId: string;
  /** How old its last report is, ms, on the reader's clock. */
  readonly ageMs: number;
  /** No report for 3 heartbeat periods: the process is probably gone (or cut off). */
  readonly stale: boolean;
}

/** Stops a {@link FleetStore.listen}. */
export interface FleetSubscription {
  /**
   * Called on every poll: re-establishes a notification connection that was lost. A store
   * whose driver reconnects by itself (ioredis resubscribes) leaves it out.
   */
  ensure?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What a store does for fleet distribution: keep numbered revisions and process reports,
 * and notify listeners of each new revision. Numbering must be atomic across publishers
 * (two concurrent appends get two distinct, increasing numbers). Notifications may be
 * lost; followers poll {@link FleetStore.latest} as well.
 */
export interface FleetStore {
  /** A label for messages (`redis batchflight:config`, `postgres batchflight_config`). */
  readonly label: string;
  /** Stores `record` as the next revision and notifies the listeners; resolves to its number. */
  append(record: RevisionRecord): Promise<number>;
  /** The last revision number, 0 when none. */
  latest(): Promise<number>;
  read(revision: number): Promise<RevisionRecord | undefined>;
  /** Every revision, oldest first. */
  readAll(): Promise<ConfigRevision[]>;
  /** Stores what process `processId` reports (replaces its previous report). */
  report(processId: string, status: FollowerStatus): Promise<void>;
  /** Every process's last report. */
  reports(): Promise<Record<string, FollowerStatus>>;
  /**
   * Calls `onPublished` with the number of each revision appended from now on. Resolves
   * once listening; rejects when the store cannot be reached (the follower polls anyway).
   * `onError` gets the errors of the notification connection afterwards.
   */
  listen(
    onPublished: (revision: number) => void,
    onError: (error: unknown) => void,
  ): Promise<FleetSubscription>;
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

/** The validated configuration of a revision's text; throws ConfigError naming `source`. */
export function parseRevision(
  text: string,
  source: string,
  format: ConfigFormat | undefined,
): FleetConfig {
  return parseConfigText(
    text,
    format === undefined ? { source } : { source, format },
    fleetConfigSchema,
  );
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
    return followRevisions(this, registry, { clock: this.#clock, ...options });
  }
}
