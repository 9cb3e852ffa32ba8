/**
 * The checks of `new Worker(store, handlers, options)` that are the
 * Worker's own (the lease, poll and identity options both workers take are
 * in `worker-kit.ts`). Every check names the option, echoes the value and
 * states the contract.
 */
import {
  InvalidOptionError,
  describe,
  integerOption,
  numberOption,
  toBackoff,
  type Backoff,
} from '../core/index.js';
import type { JobHandlers, WorkerOptions } from './worker-types.js';

/** The option names of `new Worker()`. */
export const WORKER_OPTIONS = [
  'concurrency',
  'claimBatch',
  'leaseMs',
  'heartbeatMs',
  'pollMs',
  'queues',
  'workerId',
  'clock',
  'weights',
  'agingMs',
  'backoff',
  'depthSampleMs',
  'autoStart',
] as const;

/** The Worker's own options, checked and with their defaults. */
export interface WorkerSettings {
  readonly claimBatch: number;
  readonly depthSampleMs: number;
  readonly queues: readonly string[] | undefined;
  readonly weights: Readonly<Record<string, number>> | undefined;
  readonly agingMs: number | undefined;
  readonly backoff: Backoff;
}

/** Checks the options only `Worker` takes; `defaultBackoff` when `backoff` is absent. */
export function workerSettings(
  where: string,
  options: WorkerOptions,
  defaultBackoff: Backoff,
): WorkerSettings {
  return {
    claimBatch: integerOption(where, 'claimBatch', options.claimBatch ?? 100),
    depthSampleMs: numberOption(where, 'depthSampleMs', options.depthSampleMs ?? 5_000),
    queues: options.queues === undefined ? undefined : queuesOption(where, options.queues),
    weights: options.weights === undefined ? undefined : weightsOption(where, options.weights),
    agingMs:
      options.agingMs === undefined
        ? undefined
        : numberOption(where, 'agingMs', options.agingMs, {
            min: 0,
            exclusive: true,
            allowInfinity: true,
          }),
    backoff: options.backoff === undefined ? defaultBackoff : toBackoff(where, options.backoff),
  };
}

/**
 * Checks the handlers argument: an object of at least one handler by job
 * name, each a function or `{ handle }` / `{ handleMany }` (with an integer
 * `maxBatch` and a valid `backoff` when given).
 *
 * @returns the handlers' own backoffs, by job name.
 */
export function handlersArgument(where: string, handlers: JobHandlers): Map<string, Backoff> {
  // Callers in plain JavaScript may leave the handlers out.
  if (typeof (handlers as unknown) !== 'object' || (handlers as unknown) === null) {
    throw new InvalidOptionError(
      'handlers',
      `${where}: handlers (the second argument) must be an object of job handlers by job name, each a function (payload, ctx) => result or { handle } / { handleMany }, got ${describe(handlers)}.`,
    );
  }
  const names = Object.keys(handlers);
  if (names.length === 0) {
    throw new InvalidOptionError(
      'handlers',
      `${where}: handlers must name at least one job handler, got ${describe(handlers)}.`,
    );
  }
  const backoffs = new Map<string, Backoff>();
  for (const name of names) {
    const def = handlers[name];
    if (typeof def === 'function') continue;
    if (typeof def?.handle !== 'function' && typeof def?.handleMany !== 'function') {
      throw new InvalidOptionError(
        'handlers',
        `${where}: handler ${JSON.stringify(name)} must be a function or { handle } / { handleMany }, got ${describe(def)}.`,
      );
    }
    if (def.maxBatch !== undefined) integerOption(where, `${name}.maxBatch`, def.maxBatch);
    if (def.backoff !== undefined) backoffs.set(name, toBackoff(where, def.backoff));
  }
  return backoffs;
}

/** `queues`: a non-empty array of non-empty strings (a bare string would match no queue). */
export function queuesOption(where: string, value: unknown): readonly string[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((q) => typeof q === 'string' && q.length > 0)
  ) {
    throw new InvalidOptionError(
      'queues',
      `${where}: option queues must be a non-empty array of non-empty queue names, got ${Array.isArray(value) ? `[${value.map(describe).join(', ')}]` : describe(value)}.`,
    );
  }
  return [...(value as string[])];
}

/** `weights`: an object of finite numbers > 0 (stores disagree on anything else). */
export function weightsOption(where: string, value: unknown): Readonly<Record<string, number>> {
  const bad =
    typeof value !== 'object' || value === null || Array.isArray(value)
      ? [describe(value)]
      : Object.entries(value as Record<string, unknown>)
          .filter(([, w]) => typeof w !== 'number' || !Number.isFinite(w) || w <= 0)
          .map(([key, w]) => `${JSON.stringify(key)}: ${describe(w)}`);
  if (bad.length > 0) {
    throw new InvalidOptionError(
      'weights',
      `${where}: option weights must be an object of finite numbers > 0 by partition key, got ${bad.join(', ')}.`,
    );
  }
  return { ...(value as Record<string, number>) };
}
