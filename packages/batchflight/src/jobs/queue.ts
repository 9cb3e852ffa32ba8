/**
 * `Queue`: the producer side of jobs — `add` and `addMany` with idempotency
 * keys, partitions, priorities, delays, dependencies, attempts and backoff.
 */
import {
  InvalidOptionError,
  describe,
  eventChannel,
  knownOptions,
  systemClock,
  type Clock,
} from '../core/index.js';
import type {
  BackoffSpec,
  EnqueueResult,
  EnqueueSpec,
  JobCounts,
  JobRecord,
  JobStore,
  RequeueOptions,
} from './store.js';
import { UnstorableValueError } from './errors.js';
import { storableJson } from './store-json.js';
import { DEFAULT_QUEUE, normalizeEnqueue } from './store-kit.js';
import { storeArgument } from './worker-kit.js';

/** Options of one job. */
export interface JobOptions {
  /**
   * A duplicate key returns the first job (and its result once done) instead
   * of enqueuing again; the same key with another name or payload is a
   * `JobConflictError`. Keys are per queue and never forgotten by retention.
   */
  readonly idempotencyKey?: string;
  /** The tenant/entity the job belongs to: partitioning, ordering and fair share. */
  readonly partitionKey?: string;
  /** One job in flight per `partitionKey`, in enqueue order. Default: the queue's `ordered`. */
  readonly ordered?: boolean;
  /** Integer, higher first. Default 0. */
  readonly priority?: number;
  /** Not before this time (epoch ms, or a Date). */
  readonly runAt?: number | Date;
  /** Not before `delayMs` from now (alternative to `runAt`). */
  readonly delayMs?: number;
  /** Jobs (ids or enqueue results) that must succeed first. */
  readonly dependsOn?: readonly (string | { readonly id: string })[];
  /** Attempts before the job goes dead, integer >= 1. Default 25. */
  readonly maxAttempts?: number;
  /** Retry delay, stored with the job so every worker process agrees. */
  readonly backoff?: BackoffSpec;
}

/** Options of {@link Queue}. */
export interface QueueOptions {
  /** Default `'default'`. */
  readonly name?: string;
  /** Must be the clock of the store. Default `systemClock`. */
  readonly clock?: Clock;
  /** Defaults of every job of this queue (a job's own options win). */
  readonly defaults?: Omit<JobOptions, 'idempotencyKey' | 'dependsOn' | 'runAt' | 'delayMs'>;
}

/** One item of {@link Queue.addMany}. */
export interface AddManyItem<P = unknown> {
  readonly name: string;
  readonly payload: P;
  readonly options?: JobOptions;
}

const enqueued = eventChannel<{ queue: string; count: number; created: number }>(
  'jobs',
  'enqueued',
);

const JOB_OPTIONS = [
  'idempotencyKey',
  'partitionKey',
  'ordered',
  'priority',
  'runAt',
  'delayMs',
  'dependsOn',
  'maxAttempts',
  'backoff',
];
/** The job options a queue's `defaults` may set: the ones that make sense for every job. */
const DEFAULTABLE_OPTIONS = JOB_OPTIONS.filter(
  (o) => !['idempotencyKey', 'dependsOn', 'runAt', 'delayMs'].includes(o),
);

/**
 * The store's refusal of a payload, restated from the caller's side: which
 * item (`items[i].payload…` for `addMany`, `payload…` for `add`). Runs only
 * when the store refused one, so the check is not paid twice on success.
 */
function locate(
  error: UnstorableValueError,
  items: readonly AddManyItem[],
  method: 'add' | 'addMany',
): UnstorableValueError {
  for (let i = 0; i < items.length; i++) {
    const root = method === 'add' ? 'payload' : `items[${String(i)}].payload`;
    try {
      storableJson(items[i]?.payload, root, `queue.${method}(): `);
    } catch (found) {
      if (UnstorableValueError.is(found)) return found;
    }
  }
  return error;
}

/**
 * A named queue on a store.
 *
 * @example
 * ```ts
 * const emails = new Queue(store, { name: 'emails' });
 * const { id, created } = await emails.add('welcome', { userId: 42 }, { idempotencyKey: 'welcome:42' });
 * await emails.addMany(users.map((u) => ({ name: 'digest', payload: { userId: u.id }, options: { partitionKey: u.tenant } })));
 * ```
 */
export class Queue {
  /** The queue name. */
  readonly name: string;
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #defaults: QueueOptions['defaults'];

  constructor(store: JobStore, options: QueueOptions = {}) {
    knownOptions('new Queue()', options, ['name', 'clock', 'defaults']);
    const name = options.name ?? DEFAULT_QUEUE;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidOptionError(
        'name',
        `new Queue(): option name must be a non-empty string, got ${describe(name)}.`,
      );
    }
    this.name = name;
    this.#store = storeArgument<JobStore>('new Queue()', store, ['enqueue']);
    this.#clock = options.clock ?? systemClock;
    this.#defaults = options.defaults;
    if (options.defaults !== undefined) {
      // A misspelt or invalid default would otherwise surface at the first add(), or never.
      knownOptions('new Queue() defaults', options.defaults, DEFAULTABLE_OPTIONS);
      try {
        normalizeEnqueue(this.#spec('defaults', null), this.#clock.now());
      } catch (error) {
        if (!InvalidOptionError.is(error)) throw error;
        throw new InvalidOptionError(
          error.option,
          `new Queue(): defaults.${error.message.replace(/^enqueue\(\): /, '')}`,
        );
      }
    }
  }

  #spec(name: string, payload: unknown, options: JobOptions = {}): EnqueueSpec {
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) {
      throw new InvalidOptionError(
        'options',
        `queue.add(): options must be an object of job options (${JOB_OPTIONS.join(', ')}), got ${describe(options)}.`,
      );
    }
    knownOptions('queue.add()', options, JOB_OPTIONS);
    const o = { ...this.#defaults, ...options };
    const dependsOn: unknown = o.dependsOn;
    if (
      dependsOn !== undefined &&
      (!Array.isArray(dependsOn) ||
        !dependsOn.every(
          (d: unknown) =>
            typeof d === 'string' ||
            (typeof d === 'object' && d !== null && typeof (d as { id?: unknown }).id === 'string'),
        ))
    ) {
      throw new InvalidOptionError(
        'dependsOn',
        `queue.add(): option dependsOn must be an array of job ids or enqueue results ({ id }), got ${Array.isArray(dependsOn) ? `[${dependsOn.map(describe).join(', ')}]` : describe(dependsOn)}.`,
      );
    }
    let runAt: number | undefined;
    if (o.runAt !== undefined) runAt = o.runAt instanceof Date ? o.runAt.getTime() : o.runAt;
    else if (options.delayMs !== undefined) {
      if (!(options.delayMs >= 0)) {
        throw new InvalidOptionError(
          'delayMs',
          `queue.add(): option delayMs must be a number >= 0, got ${describe(options.delayMs)}.`,
        );
      }
      runAt = this.#clock.now() + options.delayMs;
    }
    return {
      queue: this.name,
      name,
      payload,
      ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
      ...(o.partitionKey === undefined ? {} : { partitionKey: o.partitionKey }),
      ...(o.ordered === undefined ? {} : { ordered: o.ordered }),
      ...(o.priority === undefined ? {} : { priority: o.priority }),
      ...(runAt === undefined ? {} : { runAt }),
      ...(o.dependsOn === undefined
        ? {}
        : { dependsOn: o.dependsOn.map((d) => (typeof d === 'string' ? d : d.id)) }),
      ...(o.maxAttempts === undefined ? {} : { maxAttempts: o.maxAttempts }),
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    };
  }

  /**
   * Enqueues one job. Resolves with its id and whether it was created (false
   * for a duplicate idempotency key, with the first job's state and result).
   */
  async add(name: string, payload: unknown, options?: JobOptions): Promise<EnqueueResult> {
    const [result] = await this.#enqueue(
      [options === undefined ? { name, payload } : { name, payload, options }],
      'add',
    );
    return result as EnqueueResult;
  }

  /**
   * Enqueues many jobs in one store transaction (all or nothing); results in
   * input order. A payload that is not storable JSON rejects the call with
   * an `UnstorableValueError` naming the item (`items[3].payload.at is a
   * Date…`); nothing is enqueued.
   */
  addMany(items: readonly AddManyItem[]): Promise<EnqueueResult[]> {
    return this.#enqueue(items, 'addMany');
  }

  async #enqueue(
    items: readonly AddManyItem[],
    method: 'add' | 'addMany',
  ): Promise<EnqueueResult[]> {
    if (!Array.isArray(items)) {
      throw new InvalidOptionError(
        'items',
        `queue.addMany(): items must be an array of { name, payload, options? }, got ${describe(items)}.`,
      );
    }
    const specs = items.map((item: unknown, i) => {
      if (typeof item !== 'object' || item === null) {
        throw new InvalidOptionError(
          'items',
          `queue.addMany(): items[${String(i)}] must be { name, payload, options? }, got ${describe(item)}.`,
        );
      }
      const { name, payload, options } = item as AddManyItem;
      return this.#spec(name, payload, options);
    });
    let results: EnqueueResult[];
    try {
      results = await this.#store.enqueue(specs);
    } catch (error) {
      throw UnstorableValueError.is(error) ? locate(error, items, method) : error;
    }
    if (enqueued.hasSubscribers) {
      enqueued.publish({
        queue: this.name,
        count: results.length,
        created: results.filter((r) => r.created).length,
      });
    }
    return results;
  }

  /** A job by id (of any queue), or undefined. */
  get(id: string): Promise<JobRecord | undefined> {
    return this.#store.get(id);
  }

  /** Cancels jobs that have not finished; a running one is fenced (its result refused). */
  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#store.cancel(ids);
  }

  /** Brings dead, failed or cancelled jobs back to pending. */
  requeue(ids: readonly string[], options?: RequeueOptions): Promise<string[]> {
    return this.#store.requeue(ids, options);
  }

  /** Dead jobs of this queue, oldest first (the dead-letter queue). */
  dead(limit = 100): Promise<JobRecord[]> {
    return this.#store.query({ queue: this.name, state: 'dead', limit });
  }

  /** Counts of this queue by state and partition, and the oldest ready job's age. */
  counts(): Promise<JobCounts> {
    return this.#store.counts({ queue: this.name });
  }

  /** Re-enqueues (or lists, with `dryRun`) a partition's jobs since `since` (epoch ms). */
  replay(options: {
    readonly partition?: number;
    readonly partitionKey?: string;
    readonly since: number;
    readonly dryRun?: boolean;
  }) {
    return this.#store.replay({ ...options, queue: this.name });
  }
}
