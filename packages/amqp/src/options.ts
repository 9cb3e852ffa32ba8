/**
 * `amqpSource()`'s options, checked once at construction: every default
 * applied, every bad value refused with an error that names the option,
 * restates its contract and echoes the value.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import {
  InvalidOptionError,
  exponentialBackoff,
  systemClock,
  toBackoff,
  type Backoff,
  type Clock,
} from 'batchflight';
import { describe, functionOption, integerOption, knownOptions, nameOption } from 'batchflight/kit';
import type { AmqpDeadLetter, AmqpSourceOptions } from './types.js';

/** The connection option, resolved. */
export type ConnectionSource =
  | { readonly kind: 'owned'; readonly connect: () => Promise<ChannelModel> }
  | { readonly kind: 'borrowed'; readonly connection: ChannelModel };

/** The options of {@link AmqpSourceOptions}, resolved. */
export interface AmqpSourceConfig<T> {
  readonly where: string;
  readonly name: string;
  readonly connection: ConnectionSource;
  readonly queue: string;
  readonly decode: (message: ConsumeMessage) => T;
  readonly prefetch: number;
  readonly setup: ((channel: Channel) => Promise<unknown>) | undefined;
  /** Undefined: a lost connection is an error. */
  readonly reconnect: { readonly backoff: Backoff; readonly maxAttempts: number } | undefined;
  readonly requeueBackoff: Backoff;
  readonly requeueMaxAttempts: number;
  readonly onDeadLetter: ((dead: AmqpDeadLetter) => void) | undefined;
  readonly clock: Clock;
}

const KNOWN = [
  'connection',
  'queue',
  'decode',
  'prefetch',
  'name',
  'setup',
  'reconnect',
  'requeue',
  'onDeadLetter',
  'clock',
] as const;

/** AMQP 0-9-1's prefetch-count is a short. */
const MAX_PREFETCH = 65_535;

function fail(where: string, option: string, contract: string, value: unknown): never {
  throw new InvalidOptionError(
    option,
    `${where}: option ${option} must be ${contract}, got ${describe(value)}.`,
  );
}

function optionalFunction<F extends (...args: never[]) => unknown>(
  where: string,
  option: string,
  value: F | undefined,
): F | undefined {
  return value === undefined ? undefined : functionOption<F>(where, option, value);
}

function nestedObject(where: string, option: string, value: unknown, known: string[]): object {
  if (typeof value !== 'object' || value === null) {
    fail(where, option, `an object { ${known.join(', ')} }`, value);
  }
  knownOptions(`${where} ${option}`, value, known);
  return value;
}

function connectionOption(where: string, name: string, value: unknown): ConnectionSource {
  if (typeof value === 'string') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      fail(where, 'connection', 'an amqp:// or amqps:// URL', value);
    }
    if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
      fail(where, 'connection', 'an amqp:// or amqps:// URL', value);
    }
    // The connection name shows in the broker's management UI and `rabbitmqctl list_connections`.
    return {
      kind: 'owned',
      connect: () => connect(value, { clientProperties: { connection_name: name } }),
    };
  }
  if (typeof value === 'function') {
    return { kind: 'owned', connect: value as () => Promise<ChannelModel> };
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<ChannelModel>).createChannel === 'function'
  ) {
    return { kind: 'borrowed', connection: value as ChannelModel };
  }
  fail(
    where,
    'connection',
    'an amqp:// URL, a function returning a connection, or an amqplib connection (ChannelModel)',
    value,
  );
}

/** Checks `options` and applies the defaults; throws `InvalidOptionError` / `TypeError` naming the option. */
export function resolveAmqpOptions<T>(options: AmqpSourceOptions<T>): AmqpSourceConfig<T> {
  let where = 'amqpSource()';
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `${where}: expects an options object { connection, queue, ... }, got ${describe(options)}.`,
    );
  }
  knownOptions(where, options, KNOWN);
  const name = nameOption(where, options.name, 'amqp');
  where = `amqpSource(${name})`;
  const connection = connectionOption(where, name, options.connection);
  const queue: unknown = options.queue;
  // The empty name is the server-named queue of a declare: never what a consumer means here.
  if (typeof queue !== 'string' || queue === '' || queue.length > 255) {
    fail(where, 'queue', 'the name of an existing queue (1 to 255 characters)', queue);
  }
  const prefetch = integerOption(where, 'prefetch', options.prefetch ?? 10_000);
  if (prefetch > MAX_PREFETCH) {
    fail(
      where,
      'prefetch',
      `an integer from 1 to ${String(MAX_PREFETCH)} (AMQP's limit)`,
      prefetch,
    );
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function' || typeof clock.setTimer !== 'function') {
    throw new TypeError(
      `${where}: option clock must be a Clock ({ now(), setTimer(callback, delayMs) }), got ${describe(options.clock)}.`,
    );
  }
  let reconnect: AmqpSourceConfig<T>['reconnect'];
  const given: unknown = options.reconnect ?? false;
  if (given !== false) {
    if (connection.kind === 'borrowed') {
      throw new InvalidOptionError(
        'reconnect',
        `${where}: option reconnect needs a connection the source can make again (a URL or a function returning a connection), got a connection of yours; give connection: () => amqp.connect(url) instead, or reconnect: false.`,
      );
    }
    const r =
      given === true ? {} : nestedObject(where, 'reconnect', given, ['backoff', 'maxAttempts']);
    const { backoff, maxAttempts } = r as { backoff?: unknown; maxAttempts?: unknown };
    reconnect = {
      backoff: toBackoff(
        `${where} reconnect`,
        (backoff ?? exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 5_000 })) as Backoff,
      ),
      maxAttempts: integerOption(where, 'reconnect.maxAttempts', maxAttempts ?? 10, {
        allowInfinity: true,
      }),
    };
  }
  const requeue = nestedObject(where, 'requeue', options.requeue ?? {}, [
    'backoff',
    'maxAttempts',
  ]) as { backoff?: unknown; maxAttempts?: unknown };
  return {
    where,
    name,
    connection,
    queue,
    decode:
      optionalFunction<(message: ConsumeMessage) => T>(where, 'decode', options.decode) ??
      ((message) => message.content as T),
    prefetch,
    setup: optionalFunction(where, 'setup', options.setup),
    reconnect,
    requeueBackoff: toBackoff(
      `${where} requeue`,
      (requeue.backoff ??
        exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 30_000 })) as Backoff,
    ),
    requeueMaxAttempts: integerOption(where, 'requeue.maxAttempts', requeue.maxAttempts ?? 10, {
      allowInfinity: true,
    }),
    onDeadLetter: optionalFunction(where, 'onDeadLetter', options.onDeadLetter),
    clock,
  };
}
