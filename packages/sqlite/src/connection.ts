/**
 * The connection of a `SqliteJobStore`: its options checked, the database
 * opened (WAL, busy timeout, synchronous), statements prepared once with the
 * table prefix, one `BEGIN IMMEDIATE` transaction per write, the schema
 * migrated before the first operation, and in-process wake-ups. Every part
 * of the store (jobs, steps, runs, admin) runs on it.
 */
import Database from 'better-sqlite3';
import {
  ClosedError,
  InvalidOptionError,
  systemClock,
  type Clock,
  type Subscription,
} from 'batchflight/core';
import { booleanOption, describe, functionOption, knownOptions } from 'batchflight/kit';
import type {
  AcceptedCheckpoint,
  CompletedJob,
  EnqueuedEvent,
  JobStoreOptions,
} from 'batchflight/jobs';
import { migrate, schemaVersion, withPrefix } from './migrate.js';
import { EnqueueNotifier } from './notify.js';

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions extends JobStoreOptions {
  /**
   * The database file. Exactly one of `path` and `database` is required.
   * `':memory:'` is an explicit private in-memory database: not durable, its
   * jobs are lost at `close()` (for tests).
   */
  readonly path?: string;
  /** An open better-sqlite3 database to use instead of `path`; the store does not close it. */
  readonly database?: Database.Database;
  /** Prefix of every table, `[a-z_][a-z0-9_]*`. Default `'bf_'`. */
  readonly tablePrefix?: string;
  /** How long a write waits for another process's lock, ms. Default 10 000. */
  readonly busyTimeoutMs?: number;
  /**
   * `'NORMAL'` (default) survives process crashes (SIGKILL) but may lose the
   * last transactions on power loss; `'FULL'` fsyncs every commit.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * Runs inside the completion transaction, after the compare-and-set, with
   * only the accepted completions. Write a job's effects here and they are
   * committed atomically with its success: exactly once, even when a worker
   * is killed at any instant. Throwing rolls the whole completion back.
   */
  readonly onComplete?: (db: Database.Database, completed: readonly CompletedJob[]) => void;
  /** Like `onComplete`, for an accepted chunk checkpoint (effects of items `[from, to)`). */
  readonly onCheckpoint?: (db: Database.Database, checkpoint: AcceptedCheckpoint) => void;
}

/** A prepared statement bound from positional arguments. */
export interface Stmt {
  run(...args: unknown[]): Database.RunResult;
  get(...args: unknown[]): unknown;
  all(...args: unknown[]): unknown[];
}

const WHERE = 'new SqliteJobStore()';
const OPTIONS = [
  'path',
  'database',
  'tablePrefix',
  'busyTimeoutMs',
  'synchronous',
  'onComplete',
  'onCheckpoint',
  'clock',
  'attemptPayloads',
] as const;

/** A better-sqlite3 database (checked by shape: another installed copy is fine too). */
function isDatabase(value: unknown): value is Database.Database {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { pragma?: unknown }).pragma === 'function' &&
    typeof (value as { prepare?: unknown }).prepare === 'function'
  );
}

/** Rejects with `error` (an `Error`, wrapped when it is not one). */
export const rejected = (error: unknown): Promise<never> =>
  Promise.reject(error instanceof Error ? error : new Error(String(error)));

/** The open database of one store and what every operation on it shares. */
export class SqliteConnection {
  /** The underlying database (for effect tables living in the same file). */
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly attemptPayloads: boolean;
  /** The table prefix, `[a-z_][a-z0-9_]*`. */
  readonly prefix: string;
  readonly onComplete: SqliteJobStoreOptions['onComplete'];
  readonly onCheckpoint: SqliteJobStoreOptions['onCheckpoint'];
  /** Raw (array-mode) reads, prepared once, by name. */
  readonly rawReads: Map<string, Database.Statement> = new Map();
  readonly #ownsDb: boolean;
  readonly #stmts = new Map<string, Stmt>();
  readonly #notifier = new EnqueueNotifier();
  #closed = false;
  #initialized = false;

  constructor(options: SqliteJobStoreOptions) {
    // `options` is typed as required, but JavaScript callers may still pass nothing.
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new InvalidOptionError(
        'path',
        `${WHERE}: options { path } or { database } are required (the database file; ':memory:' for a non-durable one), got ${describe(given)}.`,
      );
    }
    knownOptions(WHERE, options, OPTIONS);
    const hasPath = options.path !== undefined;
    const hasDb = options.database !== undefined;
    if (hasPath === hasDb) {
      throw new InvalidOptionError(
        hasPath ? 'database' : 'path',
        `${WHERE}: exactly one of options path and database is required (path ':memory:' for a non-durable in-memory database), got ${hasPath ? 'both' : 'neither'}.`,
      );
    }
    if (hasPath && (typeof options.path !== 'string' || options.path.length === 0)) {
      throw new InvalidOptionError(
        'path',
        `${WHERE}: option path must be a non-empty file name (':memory:' for a non-durable in-memory database), got ${describe(options.path)}.`,
      );
    }
    if (hasDb && !isDatabase(options.database)) {
      throw new InvalidOptionError(
        'database',
        `${WHERE}: option database must be an open better-sqlite3 Database, got ${describe(options.database)}.`,
      );
    }
    for (const hook of ['onComplete', 'onCheckpoint'] as const) {
      if (options[hook] !== undefined) functionOption(WHERE, hook, options[hook]);
    }
    this.clock = options.clock ?? systemClock;
    this.attemptPayloads =
      options.attemptPayloads !== undefined &&
      booleanOption(WHERE, 'attemptPayloads', options.attemptPayloads);
    const prefix = options.tablePrefix ?? 'bf_';
    if (typeof prefix !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(prefix)) {
      throw new InvalidOptionError(
        'tablePrefix',
        `${WHERE}: option tablePrefix must match [a-z_][a-z0-9_]*, got ${describe(prefix)}.`,
      );
    }
    this.prefix = prefix;
    const busy = options.busyTimeoutMs ?? 10_000;
    if (!Number.isSafeInteger(busy) || busy < 0) {
      throw new InvalidOptionError(
        'busyTimeoutMs',
        `${WHERE}: option busyTimeoutMs must be an integer >= 0, got ${describe(busy)}.`,
      );
    }
    const sync: unknown = options.synchronous ?? 'NORMAL';
    if (sync !== 'NORMAL' && sync !== 'FULL') {
      throw new InvalidOptionError(
        'synchronous',
        `${WHERE}: option synchronous must be 'NORMAL' or 'FULL', got ${describe(sync)}.`,
      );
    }
    this.onComplete = options.onComplete;
    this.onCheckpoint = options.onCheckpoint;
    this.#ownsDb = options.database === undefined;
    this.db = options.database ?? new Database(options.path);
    this.db.pragma(`busy_timeout = ${String(busy)}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync}`);
  }

  /**
   * `{{schema}}.` → the table prefix; statements are prepared once and cached.
   * Numbered parameters (`?1`) are bound from the positional arguments.
   */
  stmt(sql: string): Stmt {
    let stmt = this.#stmts.get(sql);
    if (stmt === undefined) {
      const prepared = this.db.prepare(withPrefix(sql, this.prefix));
      if (/\?\d/.test(sql)) {
        // better-sqlite3 binds `?N` only from an object keyed by N.
        const bind = (args: unknown[]): Record<number, unknown> =>
          Object.fromEntries(args.map((a, i) => [i + 1, a]));
        stmt = {
          run: (...args) => prepared.run(bind(args)),
          get: (...args) => prepared.get(bind(args)),
          all: (...args) => prepared.all(bind(args)),
        };
      } else {
        stmt = {
          run: (...args) => prepared.run(...args),
          get: (...args) => prepared.get(...args),
          all: (...args) => prepared.all(...args),
        };
      }
      this.#stmts.set(sql, stmt);
    }
    return stmt;
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('SqliteJobStore is closed.');
    if (!this.#initialized) {
      migrate(this.db, this.prefix, this.clock);
      this.#initialized = true;
    }
  }

  /** Runs `fn` in one `BEGIN IMMEDIATE` transaction and resolves with its value. */
  write<T>(fn: () => T): Promise<T> {
    try {
      this.#check();
      return Promise.resolve(this.db.transaction(fn).immediate());
    } catch (error) {
      return rejected(error);
    }
  }

  /** Runs `fn` outside a transaction (a read) and resolves with its value. */
  read<T>(fn: () => T): Promise<T> {
    try {
      this.#check();
      return Promise.resolve(fn());
    } catch (error) {
      return rejected(error);
    }
  }

  /** Applies the pending migrations (safe from concurrent processes). */
  init(): Promise<void> {
    return this.read(() => undefined);
  }

  /** The schema version applied. */
  schemaVersion(): number {
    return schemaVersion(this.db, this.prefix);
  }

  /** Subscribes to the wake-ups of jobs made ready by this store. */
  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#notifier.add(listener);
  }

  /** Tells the wake-up listeners that jobs of these queues are due at `run_at` (after commit). */
  notify(rows: readonly { queue: string; run_at: number }[]): void {
    this.#notifier.notify(rows);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#notifier.clear();
    this.#stmts.clear();
    this.rawReads.clear();
    if (this.#ownsDb && this.db.open) this.db.close();
    return Promise.resolve();
  }
}
