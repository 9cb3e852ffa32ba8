/**
 * `natsSource()`'s options, checked once at construction: every default
 * applied, every bad value refused with an error that names the option,
 * restates its contract and echoes the value.
 */
import type { Consumer, JsMsg } from 'nats';
import {
  InvalidOptionError,
  exponentialBackoff,
  systemClock,
  toBackoff,
  type Backoff,
  type Clock,
} from 'batchflight';
import { describe, functionOption, integerOption, knownOptions, nameOption } from 'batchflight/kit';
import type { NatsDeadLetter, NatsSourceOptions } from './types.js';

/** The options of {@link NatsSourceOptions}, resolved. */
export interface NatsSourceConfig<T> {
  readonly where: string;
  readonly name: string;
  readonly consumer: Consumer;
  readonly decode: (message: JsMsg) => T;
  readonly maxFetch: number;
  readonly fetchExpiresMs: number;
  readonly nakBackoff: Backoff;
  readonly maxDeliveries: number;
  readonly maxFetchFailures: number;
  readonly fetchBackoff: Backoff;
  readonly onDeadLetter: ((dead: NatsDeadLetter) => void) | undefined;
  readonly clock: Clock;
}

const KNOWN = [
  'consumer',
  'decode',
  'maxFetch',
  'fetchExpiresMs',
  'name',
  'nakBackoff',
  'maxDeliveries',
  'maxFetchFailures',
  'fetchBackoff',
  'onDeadLetter',
  'clock',
];

/** The most messages one pull may ask for: a larger batch only holds more unacked. */
const MAX_FETCH = 10_000;

function backoffOption(where: string, option: string, value: unknown, fallback: Backoff): Backoff {
  if (value === undefined) return fallback;
  try {
    return toBackoff(where, value as Backoff);
  } catch {
    throw new InvalidOptionError(
      option,
      `${where}: option ${option} must be a Backoff ({ delayMs(attempt, previousDelayMs) }), a function (attempt, previousDelayMs) => ms, or a number of milliseconds, got ${describe(value)}.`,
    );
  }
}

/** Checks `natsSource()`'s options and fills in the defaults. */
export function resolveNatsOptions<T>(options: NatsSourceOptions<T>): NatsSourceConfig<T> {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `natsSource(): expects an options object { consumer, decode?, maxFetch?, ... }, got ${describe(options)}.`,
    );
  }
  const name = nameOption('natsSource()', options.name, 'nats');
  const where = `natsSource(${name})`;
  knownOptions(where, options, KNOWN);
  const consumer = options.consumer as Partial<Consumer> | undefined;
  if (typeof consumer?.fetch !== 'function' || typeof consumer.info !== 'function') {
    throw new InvalidOptionError(
      'consumer',
      `${where}: option consumer must be a JetStream pull consumer (await js.consumers.get(stream, durable)), got ${describe(options.consumer)}.`,
    );
  }
  const decode =
    options.decode === undefined
      ? (message: JsMsg) => message.data as T
      : functionOption<(message: JsMsg) => T>(where, 'decode', options.decode);
  const onDeadLetter =
    options.onDeadLetter === undefined
      ? undefined
      : functionOption<(dead: NatsDeadLetter) => void>(where, 'onDeadLetter', options.onDeadLetter);
  const maxFetch = integerOption(where, 'maxFetch', options.maxFetch ?? 1_000);
  if (maxFetch > MAX_FETCH) {
    throw new InvalidOptionError(
      'maxFetch',
      `${where}: option maxFetch must be an integer from 1 to ${String(MAX_FETCH)} (messages asked for in one pull), got ${describe(maxFetch)}.`,
    );
  }
  const clock = options.clock ?? systemClock;
  if (typeof (clock as Partial<Clock>).now !== 'function') {
    throw new InvalidOptionError(
      'clock',
      `${where}: option clock must be a Clock { now(), setTimer() }, got ${describe(clock)}.`,
    );
  }
  return {
    where,
    name,
    consumer: options.consumer,
    decode,
    maxFetch,
    fetchExpiresMs: integerOption(where, 'fetchExpiresMs', options.fetchExpiresMs ?? 5_000, {
      min: 1_000,
    }),
    nakBackoff: backoffOption(
      where,
      'nakBackoff',
      options.nakBackoff,
      exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 30_000 }),
    ),
    maxDeliveries: integerOption(where, 'maxDeliveries', options.maxDeliveries ?? Infinity, {
      allowInfinity: true,
    }),
    maxFetchFailures: integerOption(where, 'maxFetchFailures', options.maxFetchFailures ?? 10, {
      allowInfinity: true,
    }),
    fetchBackoff: backoffOption(
      where,
      'fetchBackoff',
      options.fetchBackoff,
      exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 5_000 }),
    ),
    onDeadLetter,
    clock,
  };
}
