/**
 * Batch logs: one structured record per bulk call, flight, cache computation and job
 * attempt, through any logger with pino's `info(object, message)` shape.
 *
 * A record says what a batch was made of and how it ended (sizes, durations, outcome, the
 * error's class) and never what it carried: no key, no payload, no result, and no error
 * message unless asked for (a message often quotes the input). A scope is logged as a short
 * hash, so records of one tenant can be grouped without naming it.
 */
import { createHash } from 'node:crypto';
import type {
  BatchSettledEvent,
  CacheLoadEvent,
  FlightSettledEvent,
  JobsSettledMessage,
  SettledJob,
} from 'batchflight';
import { booleanOption, functionOption, knownOptions } from 'batchflight/kit';
import { subscribeChannels } from './channels.js';
import { errorType } from './recorder.js';

/** The part of a pino logger (or any structured logger) the batch logs use. */
export interface BatchLogger {
  info(record: object, message: string): void;
  warn(record: object, message: string): void;
}

/** What a record says about a failure: its class, never (unless asked) its text. */
export interface LoggedError {
  /** The error's `code` when it has a string one, else its `name`. */
  readonly type: string;
  /** Only with `errorMessages: true`. */
  readonly message?: string;
}

/** One record of {@link logBatches}. */
export type BatchLogRecord =
  | {
      readonly event: 'batch';
      readonly name: string;
      readonly scope?: string;
      /** Distinct keys in the bulk call. */
      readonly size: number;
      /** 1 for the first call of a batch, more for retries of its failed keys. */
      readonly attempt: number;
      readonly waitMs: number;
      readonly durationMs: number;
      readonly outcome: 'ok' | 'partial' | 'error';
    }
  | {
      readonly event: 'flight';
      readonly name?: string;
      readonly scope?: string;
      readonly key?: string;
      /** Callers that shared the flight, those that left included. */
      readonly callers: number;
      readonly durationMs?: number;
      readonly outcome: 'ok' | 'error';
      readonly error?: LoggedError;
    }
  | {
      readonly event: 'cache-load';
      readonly name?: string;
      readonly key?: string;
      readonly reason: 'miss' | 'stale' | 'early';
      readonly durationMs: number;
      readonly outcome: 'ok' | 'error';
      readonly error?: LoggedError;
    }
  | ({ readonly event: 'job-attempt' } & Pick<
      SettledJob,
      'id' | 'name' | 'queue' | 'partition' | 'attempt' | 'outcome' | 'enqueueToStartMs' | 'runMs'
    >);

/** Options of {@link logBatches}. */
export interface BatchLogOptions {
  /** Where the records go: a pino logger, or anything with `info` and `warn`. */
  readonly logger: BatchLogger;
  /**
   * Says what of a key may be logged: return a string to log it as `key`, or `undefined`
   * to log nothing. Default: no key is ever logged. Bulk-call records carry no key at all.
   */
  readonly describeKey?: (
    key: string,
    where: { capability: string; name?: string },
  ) => string | undefined;
  /** Log error messages (`error.message`). Default false: a message may quote a key or input. */
  readonly errorMessages?: boolean;
}

/** Running batch logs: close them to unsubscribe. */
export interface BatchLogging extends Disposable {
  /** Unsubscribes. Idempotent. */
  close(): void;
}

const WHERE = 'logBatches()';
const OPTIONS = ['logger', 'describeKey', 'errorMessages'];

/** A scope as the first 12 hex digits of its SHA-256: groups a tenant's records, names none. */
function scopeHash(scope: string | undefined): string | undefined {
  return scope === undefined
    ? undefined
    : createHash('sha256').update(scope).digest('hex').slice(0, 12);
}

/** Drops the fields that are `undefined`, so a record has only what it knows. */
function compact<T extends object>(record: T): T {
  for (const key of Object.keys(record) as (keyof T)[]) {
    if (record[key] === undefined) Reflect.deleteProperty(record, key);
  }
  return record;
}

/**
 * Logs one record per bulk call (`batch:settled`), flight (`singleflight:settled`), cache
 * computation (`cache:load`) and job attempt (`jobs:settled`). Successes are logged at
 * `info`, anything else at `warn`.
 *
 * @example
 * ```ts
 * const logs = logBatches({ logger: pino() });
 * ```
 */
export function logBatches(options: BatchLogOptions): BatchLogging {
  knownOptions(WHERE, options, OPTIONS);
  // Checked at run time for JavaScript callers: the type says it is a logger.
  const logger = options.logger as Partial<BatchLogger> | undefined;
  functionOption(WHERE, 'logger.info', logger?.info);
  functionOption(WHERE, 'logger.warn', logger?.warn);
  const target = options.logger;
  const describeKey =
    options.describeKey === undefined
      ? undefined
      : functionOption<NonNullable<BatchLogOptions['describeKey']>>(
          WHERE,
          'describeKey',
          options.describeKey,
        );
  const withMessages = booleanOption(WHERE, 'errorMessages', options.errorMessages ?? false);
  // Records are built with optional fields that may be undefined (hence the casts below);
  // compact() drops those before the logger sees them.
  const log = (ok: boolean, record: BatchLogRecord, message: string): void => {
    if (ok) target.info(compact(record), message);
    else target.warn(compact(record), message);
  };
  const loggedError = (ok: boolean, error: unknown): LoggedError | undefined => {
    if (ok) return undefined;
    const type = errorType(error);
    return withMessages && error instanceof Error ? { type, message: error.message } : { type };
  };
  const key = (k: string, capability: string, name: string | undefined): string | undefined =>
    describeKey?.(k, name === undefined ? { capability } : { capability, name });

  const unsubscribe = subscribeChannels(
    {
      'batchflight:batch:settled': (e: BatchSettledEvent) => {
        log(
          e.outcome === 'ok',
          {
            event: 'batch',
            name: e.name,
            scope: scopeHash(e.scope),
            size: e.size,
            attempt: e.attempt,
            waitMs: e.waitMs,
            durationMs: e.durationMs,
            outcome: e.outcome,
          } as BatchLogRecord,
          'batch settled',
        );
      },
      'batchflight:singleflight:settled': (e: FlightSettledEvent) => {
        log(
          e.ok,
          {
            event: 'flight',
            name: e.name,
            scope: scopeHash(e.scope),
            key: key(e.key, 'singleflight', e.name),
            callers: e.callers,
            durationMs: e.durationMs,
            outcome: e.ok ? 'ok' : 'error',
            error: loggedError(e.ok, e.error),
          } as BatchLogRecord,
          'flight settled',
        );
      },
      'batchflight:cache:load': (e: CacheLoadEvent) => {
        log(
          e.ok,
          {
            event: 'cache-load',
            name: e.name,
            key: key(e.key, 'cache', e.name),
            reason: e.reason,
            durationMs: e.durationMs,
            outcome: e.ok ? 'ok' : 'error',
            error: loggedError(e.ok, e.error),
          } as BatchLogRecord,
          'cache computed',
        );
      },
      'batchflight:jobs:settled': (e: JobsSettledMessage) => {
        for (const job of e.jobs) {
          log(
            job.outcome === 'succeeded',
            {
              event: 'job-attempt',
              id: job.id,
              name: job.name,
              queue: job.queue,
              partition: job.partition,
              attempt: job.attempt,
              outcome: job.outcome,
              enqueueToStartMs: job.enqueueToStartMs,
              runMs: job.runMs,
            },
            'job attempt settled',
          );
        }
      },
    },
    // A logger that throws must not break the primitive; there is nowhere left to report it.
    () => undefined,
  );
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe();
  };
  return { close, [Symbol.dispose]: close };
}
