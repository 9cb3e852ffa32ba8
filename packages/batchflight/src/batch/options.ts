/**
 * `batch()`'s options, checked once at construction and resolved into the
 * {@link BatchConfig} the engine runs on: every default applied, every bad
 * value refused with an error that names the option and echoes the value.
 */
import {
  booleanOption,
  describe,
  functionOption,
  integerOption,
  knownOptions,
  numberOption,
  oneOfOption,
  stableKey,
  systemClock,
  type Clock,
} from '../core/index.js';
import { exponentialBackoff, toBackoff, type Backoff } from '../core/backoff.js';
import { BatchContractError, NotFoundError } from './errors.js';
import { endOfTick, type BatchScheduler } from './scheduler.js';
import type { BatchOptions } from './types.js';

/** The options of {@link BatchOptions}, resolved: what the engine reads. */
export interface BatchConfig<K, V> {
  /** `batch(name)`, the prefix of every error message. */
  readonly where: string;
  readonly name: string;
  readonly load: BatchOptions<K, V>['load'];
  readonly adaptive: boolean;
  readonly maxSize: number;
  readonly maxWaitMs: number;
  readonly latencyTargetMs: number;
  /** Adaptive: the share of the target a bulk call may take (the rest is waiting). */
  readonly budgetMs: number;
  readonly scheduler: BatchScheduler;
  readonly clock: Clock;
  /** The `key` option, or undefined for {@link defaultIdentity}. */
  readonly identity: ((key: K) => unknown) | undefined;
  readonly resultKey: ((item: V) => K) | undefined;
  readonly onMissing: 'undefined' | 'null' | 'error';
  readonly maxAttempts: number;
  readonly backoff: Backoff | undefined;
  readonly retryOn: (error: unknown) => boolean;
  readonly splitOnFailure: boolean;
  readonly maxConcurrentBatches: number;
  readonly maxPending: number;
  /** `whenFull: 'reject'`. */
  readonly rejectWhenFull: boolean;
  readonly eventKeys: boolean;
}

/** What a façade with its own call protocol (DataLoader, stream) chooses of the engine's window. */
export type ProtocolWindow = Pick<
  BatchConfig<unknown, unknown>,
  | 'where'
  | 'name'
  | 'adaptive'
  | 'maxSize'
  | 'maxWaitMs'
  | 'latencyTargetMs'
  | 'budgetMs'
  | 'scheduler'
  | 'clock'
  | 'maxConcurrentBatches'
>;

/**
 * The engine's configuration for a façade that calls upstream through its own protocol: the
 * window is the façade's, and everything of batch()'s own call path is off — no load function
 * (the protocol makes the call), no result routing, retry or split (the protocol's, if any),
 * no pending bound (the façade bounds what it holds before the engine), no keys in events.
 */
export function protocolConfig<K, V>(window: ProtocolWindow): BatchConfig<K, V> {
  return {
    ...window,
    load: () => {
      throw new Error(`${window.where}: the engine calls upstream through its protocol.`);
    },
    identity: undefined,
    resultKey: undefined,
    onMissing: 'undefined',
    maxAttempts: 1,
    backoff: undefined,
    retryOn: () => false,
    splitOnFailure: false,
    maxPending: Infinity,
    rejectWhenFull: false,
    eventKeys: false,
  };
}

const KNOWN = [
  'load',
  'name',
  'window',
  'maxSize',
  'maxWaitMs',
  'latencyTargetMs',
  'scheduler',
  'clock',
  'key',
  'resultKey',
  'onMissing',
  'retry',
  'splitOnFailure',
  'maxConcurrentBatches',
  'maxPending',
  'whenFull',
  'eventKeys',
] as const;

/**
 * Key identity without a `key` option: primitives by value, objects structurally.
 *
 * @throws TypeError naming `key` when the key encoder refuses the key (see stableKey).
 */
export function defaultIdentity(key: unknown): unknown {
  // Objects are keyed structurally; the NUL prefix keeps them apart from ordinary string keys.
  return typeof key === 'object' && key !== null ? `\u0000${stableKey(key, 'key')}` : key;
}

function defaultRetryOn(error: unknown): boolean {
  return !NotFoundError.is(error) && !BatchContractError.is(error);
}

/** Checks `options` and applies the defaults; throws `InvalidOptionError` / `TypeError` naming the option. */
export function resolveOptions<K, V>(options: BatchOptions<K, V>): BatchConfig<K, V> {
  const where = 'batch()';
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `${where}: expects an options object { load, ... }, got ${describe(options)}.`,
    );
  }
  knownOptions(where, options, KNOWN);
  const load = functionOption<BatchOptions<K, V>['load']>(where, 'load', options.load);
  const name = options.name ?? 'batch';
  const adaptive =
    oneOfOption(where, 'window', options.window ?? 'static', ['static', 'adaptive']) === 'adaptive';
  const maxSize = integerOption(where, 'maxSize', options.maxSize ?? (adaptive ? 1000 : Infinity), {
    allowInfinity: true,
  });
  const latencyTargetMs = numberOption(where, 'latencyTargetMs', options.latencyTargetMs ?? 100, {
    exclusive: true,
  });
  const maxWaitMs = numberOption(
    where,
    'maxWaitMs',
    options.maxWaitMs ?? (adaptive ? latencyTargetMs / 4 : 0),
  );
  const scheduler = functionOption<BatchScheduler>(
    where,
    'scheduler',
    options.scheduler ?? endOfTick,
  );
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function' || typeof clock.setTimer !== 'function') {
    throw new TypeError(
      `${where}: option clock must be a Clock ({ now(), setTimer(callback, delayMs) }), got ${describe(options.clock)}.`,
    );
  }
  const identity =
    options.key === undefined
      ? undefined
      : functionOption<(key: K) => unknown>(where, 'key', options.key);
  const resultKey =
    options.resultKey === undefined
      ? undefined
      : functionOption<(item: V) => K>(where, 'resultKey', options.resultKey);
  const onMissing = oneOfOption(where, 'onMissing', options.onMissing ?? 'undefined', [
    'undefined',
    'null',
    'error',
  ]);
  let maxAttempts = 1;
  let backoff: Backoff | undefined;
  let retryOn = defaultRetryOn;
  const retry = options.retry;
  if (retry !== undefined) {
    if (typeof retry !== 'object' || (retry as unknown) === null) {
      throw new TypeError(
        `${where}: option retry must be an object { maxAttempts, backoff?, retryOn? }, got ${describe(retry)}.`,
      );
    }
    knownOptions(`${where} retry`, retry, ['maxAttempts', 'backoff', 'retryOn']);
    maxAttempts = integerOption(where, 'retry.maxAttempts', retry.maxAttempts);
    backoff = toBackoff(
      where,
      retry.backoff ?? exponentialBackoff({ initialDelayMs: 100, jitter: 'full' }),
    );
    if (retry.retryOn !== undefined) {
      retryOn = functionOption<(error: unknown) => boolean>(where, 'retry.retryOn', retry.retryOn);
    }
  }
  return {
    where: `batch(${name})`,
    name,
    load,
    adaptive,
    maxSize,
    maxWaitMs,
    latencyTargetMs,
    budgetMs: latencyTargetMs / 2,
    scheduler,
    clock,
    identity,
    resultKey,
    onMissing,
    maxAttempts,
    backoff,
    retryOn,
    splitOnFailure: booleanOption(where, 'splitOnFailure', options.splitOnFailure ?? false),
    maxConcurrentBatches: integerOption(
      where,
      'maxConcurrentBatches',
      options.maxConcurrentBatches ?? Infinity,
      { allowInfinity: true },
    ),
    maxPending: integerOption(where, 'maxPending', options.maxPending ?? Infinity, {
      allowInfinity: true,
    }),
    rejectWhenFull:
      oneOfOption(where, 'whenFull', options.whenFull ?? 'wait', ['wait', 'reject']) === 'reject',
    eventKeys: booleanOption(where, 'eventKeys', options.eventKeys ?? false),
  };
}
