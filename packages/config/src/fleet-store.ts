/**
 * What a fleet store keeps and does (the contract RedisFleetStore and PostgresFleetStore
 * implement), and how a revision's text is read: shared by the coordinator's side
 * (`revisions.ts`) and the followers (`follower.ts`).
 */
import { fleetConfigSchema, type FleetConfig } from './fleet-schema.js';
import type { ConfigChange } from './diff.js';
import { parseConfigText, type ConfigFormat } from './load.js';

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

/** Stops a {@link FleetStore.listen}. */
export interface FleetSubscription {
  /**
   * Resolves once listening, or once the first attempt failed (it never rejects: a store
   * that cannot listen now is polled). May never resolve when the store does not answer;
   * the follower waits for it at most its `timeoutMs`.
   */
  readonly listening: Promise<void>;
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
   * Starts calling `onPublished` with the number of each revision appended from now on;
   * returns at once (the subscription's `listening` says when it listens), so that a store
   * that does not answer cannot keep the follower from closing it. `onError` gets the
   * errors of the notification connection.
   */
  listen(
    onPublished: (revision: number) => void,
    onError: (error: unknown) => void,
  ): FleetSubscription;
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
