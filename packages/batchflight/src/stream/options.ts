/**
 * `stream()`'s options, checked once at construction: every default
 * applied, every bad value refused with an error that names the option and
 * echoes the value; and the configuration of the batch engine the sink runs on.
 */
import {
  describe,
  exponentialBackoff,
  functionOption,
  integerOption,
  knownOptions,
  nameOption,
  numberOption,
  oneOfOption,
  systemClock,
  toBackoff,
  type Backoff,
  type Clock,
} from '../core/index.js';
import { type BatchConfig, protocolConfig } from '../batch/internal.js';
import { endOfTick } from '../batch/index.js';
import type { StreamDeadLetter, StreamOptions } from './types.js';

/** One accepted item as the engine carries it (the engine's "key"). */
export interface Entry<T> {
  readonly item: T;
  /** The per-push `ack`, if any. */
  readonly ack: ((item: T) => void) | undefined;
  /** `orderBy(item)`, or undefined without ordering. */
  readonly key: unknown;
  /** `sizeOf(item)`, or 0 without it. */
  readonly bytes: number;
  /** When it was accepted, by the sink's clock. */
  readonly at: number;
}

/** The options of {@link StreamOptions}, resolved. */
export interface StreamConfig<T> {
  readonly where: string;
  readonly name: string;
  readonly writeMany: StreamOptions<T>['writeMany'];
  readonly maxBytes: number;
  readonly sizeOf: ((item: T) => number) | undefined;
  readonly maxBuffered: number;
  readonly orderBy: ((item: T) => unknown) | undefined;
  readonly onCommitted: ((items: readonly T[]) => void) | undefined;
  readonly ack: ((item: T) => void) | undefined;
  readonly isRetryable: (error: unknown) => boolean;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly onDeadLetter: ((dead: StreamDeadLetter<T>) => void) | undefined;
  readonly clock: Clock;
  /** What the batch engine runs on. */
  readonly engine: BatchConfig<Entry<T>, void>;
}

const KNOWN = [
  'writeMany',
  'name',
  'window',
  'maxItems',
  'maxBytes',
  'sizeOf',
  'lingerMs',
  'latencyTargetMs',
  'maxBuffered',
  'maxConcurrentWrites',
  'orderBy',
  'onCommitted',
  'ack',
  'isRetryable',
  'retry',
  'onDeadLetter',
  'clock',
] as const;

function optionalFunction<F extends (...args: never[]) => unknown>(
  where: string,
  option: string,
  value: F | undefined,
): F | undefined {
  return value === undefined ? undefined : functionOption<F>(where, option, value);
}

/** Checks `options` and applies the defaults; throws `InvalidOptionError` / `TypeError` naming the option. */
export function resolveStreamOptions<T>(options: StreamOptions<T>): StreamConfig<T> {
  let where = 'stream()';
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `${where}: expects an options object { writeMany, ... }, got ${describe(options)}.`,
    );
  }
  knownOptions(where, options, KNOWN);
  const writeMany = functionOption<StreamOptions<T>['writeMany']>(
    where,
    'writeMany',
    options.writeMany,
  );
  const name = nameOption(where, options.name, 'stream');
  where = `stream(${name})`;
  const adaptive =
    oneOfOption(where, 'window', options.window ?? 'static', ['static', 'adaptive']) === 'adaptive';
  const maxItems = integerOption(where, 'maxItems', options.maxItems ?? (adaptive ? 10_000 : 1000));
  const maxBytes = numberOption(where, 'maxBytes', options.maxBytes ?? Infinity, {
    exclusive: true,
    allowInfinity: true,
  });
  const sizeOf = optionalFunction<(item: T) => number>(where, 'sizeOf', options.sizeOf);
  if (maxBytes !== Infinity && sizeOf === undefined) {
    throw new TypeError(
      `${where}: option maxBytes needs option sizeOf (item) => bytes to measure items, got maxBytes ${String(maxBytes)} without it.`,
    );
  }
  const latencyTargetMs = numberOption(where, 'latencyTargetMs', options.latencyTargetMs ?? 100, {
    exclusive: true,
  });
  const lingerMs = numberOption(
    where,
    'lingerMs',
    options.lingerMs ?? (adaptive ? latencyTargetMs / 4 : 5),
  );
  const maxBuffered = integerOption(where, 'maxBuffered', options.maxBuffered ?? 10_000);
  const maxConcurrentWrites = integerOption(
    where,
    'maxConcurrentWrites',
    options.maxConcurrentWrites ?? 4,
  );
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function' || typeof clock.setTimer !== 'function') {
    throw new TypeError(
      `${where}: option clock must be a Clock ({ now(), setTimer(callback, delayMs) }), got ${describe(options.clock)}.`,
    );
  }
  const retry = options.retry ?? {};
  if (typeof retry !== 'object' || (retry as unknown) === null) {
    throw new TypeError(
      `${where}: option retry must be an object { maxAttempts?, backoff? }, got ${describe(retry)}.`,
    );
  }
  knownOptions(`${where} retry`, retry, ['maxAttempts', 'backoff']);
  return {
    where,
    name,
    writeMany,
    maxBytes,
    sizeOf,
    maxBuffered,
    orderBy: optionalFunction(where, 'orderBy', options.orderBy),
    onCommitted: optionalFunction(where, 'onCommitted', options.onCommitted),
    ack: optionalFunction(where, 'ack', options.ack),
    isRetryable:
      optionalFunction<(error: unknown) => boolean>(where, 'isRetryable', options.isRetryable) ??
      (() => false),
    maxAttempts: integerOption(where, 'retry.maxAttempts', retry.maxAttempts ?? 5, {
      allowInfinity: true,
    }),
    backoff: toBackoff(
      where,
      retry.backoff ?? exponentialBackoff({ initialDelayMs: 100, jitter: 'full' }),
    ),
    onDeadLetter: optionalFunction(where, 'onDeadLetter', options.onDeadLetter),
    clock,
    // Retries and splits are the stream protocol's; the sink bounds what it buffers itself
    // (maxBuffered), before the engine.
    engine: protocolConfig({
      where,
      name,
      adaptive,
      maxSize: maxItems,
      maxWaitMs: lingerMs,
      latencyTargetMs,
      budgetMs: latencyTargetMs / 2,
      scheduler: endOfTick,
      clock,
      maxConcurrentBatches: maxConcurrentWrites,
    }),
  };
}
