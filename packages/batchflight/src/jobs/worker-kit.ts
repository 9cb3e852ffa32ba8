/**
 * What `Worker` and `RunWorker` share: their lease, poll and identity
 * options, the idle poll and the periodic lease renewal. One implementation,
 * so both kinds of worker validate, poll and renew the same way.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  InvalidOptionError,
  describe,
  integerOption,
  numberOption,
  type Clock,
  type Timer,
} from '../core/index.js';
import type { StoreLifecycle } from './store.js';

/** Longest worker id: it is stored with every lease and attempt log entry. */
export const MAX_WORKER_ID_LENGTH = 200;

/** The options both workers take, as given. */
export interface LeaseOptionsInput {
  readonly concurrency?: number;
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  readonly pollMs?: number;
  readonly workerId?: string;
}

/** The options both workers take, validated and with their defaults. */
export interface LeaseSettings {
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly pollMs: number;
  readonly workerId: string;
}

/**
 * Validates the options both workers share and applies their defaults
 * (lease 8 s, heartbeat a quarter of the lease, poll 1 s, id
 * `host:pid:random`); throws `InvalidOptionError` echoing the bad value.
 *
 * @example
 * ```ts
 * const { leaseMs, workerId } = leaseSettings('new Worker()', options, 10);
 * ```
 */
export function leaseSettings(
  where: string,
  options: LeaseOptionsInput,
  defaultConcurrency: number,
): LeaseSettings {
  const concurrency = integerOption(
    where,
    'concurrency',
    options.concurrency ?? defaultConcurrency,
  );
  const leaseMs = numberOption(where, 'leaseMs', options.leaseMs ?? 8_000, {
    min: 0,
    exclusive: true,
  });
  const heartbeatMs = numberOption(
    where,
    'heartbeatMs',
    options.heartbeatMs ?? Math.floor(leaseMs / 4),
    { min: 0, exclusive: true },
  );
  // Equal is not enough: a renewal sent at the lease's expiry lands after it.
  if (heartbeatMs >= leaseMs) {
    throw new InvalidOptionError(
      'heartbeatMs',
      `${where}: option heartbeatMs must be less than leaseMs (${String(leaseMs)}), so that every lease is renewed before it expires (default leaseMs / 4), got ${describe(heartbeatMs)}.`,
    );
  }
  const pollMs = numberOption(where, 'pollMs', options.pollMs ?? 1_000, {
    min: 0,
    exclusive: true,
  });
  const workerId =
    options.workerId === undefined
      ? `${hostname()}:${String(process.pid)}:${randomUUID().slice(0, 8)}`
      : workerIdOption(where, options.workerId);
  return { concurrency, leaseMs, heartbeatMs, pollMs, workerId };
}

/**
 * A non-empty string of at most {@link MAX_WORKER_ID_LENGTH} characters: an
 * empty id is refused by every store's claim, so a worker built with one
 * would sit idle failing every claim.
 */
export function workerIdOption(where: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_WORKER_ID_LENGTH) {
    throw new InvalidOptionError(
      'workerId',
      `${where}: option workerId must be a non-empty string of at most ${String(MAX_WORKER_ID_LENGTH)} characters, got ${describe(value)}.`,
    );
  }
  // Stored with every lease: PostgreSQL's text columns refuse U+0000.
  if (value.includes('\0')) {
    throw new InvalidOptionError(
      'workerId',
      `${where}: option workerId must not contain U+0000 (a job store cannot keep it), got ${describe(value)}.`,
    );
  }
  return value;
}

/**
 * The store argument of a worker or queue: an object with the store
 * contract's methods it calls (`S` is the contract), checked at construction, so that a missing store fails
 * there with a message that says what to pass, not at the first claim or
 * enqueue with "Cannot read properties of undefined".
 *
 * @example
 * ```ts
 * this.#store = storeArgument<JobStore>('new Queue()', store, ['enqueue']);
 * ```
 */
export function storeArgument<S extends StoreLifecycle>(
  where: string,
  store: unknown,
  methods: readonly (keyof S & string)[],
): S {
  if (
    typeof store !== 'object' ||
    store === null ||
    methods.some((m) => typeof (store as Record<string, unknown>)[m] !== 'function')
  ) {
    throw new InvalidOptionError(
      'store',
      `${where}: store (the first argument) must be a JobStore with ${methods.join(', ')} (e.g. new SqliteJobStore({ path }), new PostgresJobStore({ connectionString }) or new MemoryJobStore()), got ${describe(store)}.`,
    );
  }
  return store as S;
}

/**
 * The idle poll of a worker: a one-shot timer armed at most once at a time.
 * Not unref'd: a running worker waiting for work is what keeps a worker
 * process alive.
 */
export class PollTimer {
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #onPoll: () => void;
  #timer: Timer | undefined;

  constructor(clock: Clock, delayMs: number, onPoll: () => void) {
    this.#clock = clock;
    this.#delayMs = delayMs;
    this.#onPoll = onPoll;
  }

  /** Fires `onPoll` after `delayMs` unless already armed. */
  arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        this.#onPoll();
      },
      this.#delayMs,
      { unref: false },
    );
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/**
 * Runs `task` every `periodMs`, counted from the end of the previous run so
 * runs never overlap, until `stop()`. `task` must not reject (it reports its
 * own errors). `running` is the run in progress: a worker handing a lease
 * back awaits it, so a renewal already sent cannot extend the lease again.
 * The timer is unref'd: renewals alone do not keep a process alive.
 */
export class Periodic {
  /** The run in progress, if any. */
  running: Promise<void> | undefined;
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #task: () => Promise<void>;
  #timer: Timer | undefined;
  #stopped = false;

  constructor(clock: Clock, periodMs: number, task: () => Promise<void>) {
    this.#clock = clock;
    this.#periodMs = periodMs;
    this.#task = task;
  }

  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimer(() => {
      const run = this.#task();
      this.running = run;
      void run.finally(() => {
        if (this.running === run) this.running = undefined;
        this.#timer = undefined;
        this.start();
      });
    }, this.#periodMs);
  }

  /** No further run starts; one in progress finishes. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }
}
