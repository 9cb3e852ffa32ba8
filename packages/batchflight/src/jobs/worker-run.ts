/**
 * What the runner part of `Worker` works with: a held job (its lazily made
 * abort signal, its step names), the context a handler sees, its
 * `ctx.step`, and the checks of what a handler returned.
 */
import { InvalidOptionError, describe } from '../core/index.js';
import { BatchContractError } from '../batch/index.js';
import { DuplicateStepError, LeaseLostError } from './errors.js';
import { storableJson } from './store-json.js';
import { errorText } from './store-kit.js';
import type { JobRecord, StepStore } from './store.js';
import type { JobContext, JobOutcome } from './worker-types.js';

/**
 * A job this worker holds (buffered or running). Its `AbortController` is made
 * on the first read of `ctx.signal`: most handlers never read it, and making
 * one per job was the largest per-job cost of the worker on a fast store.
 */
export class Held {
  lost = false;
  /** The step names used in this execution (`ctx.step`), made on the first step. */
  steps: Set<string> | undefined;
  /** The handler has returned (or thrown): the result waits for, or is in, a commit. */
  settled = false;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(readonly job: JobRecord) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts `signal` with `reason` (the first reason wins, as with `AbortController`). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** What a handler sees of a held job; `step` is the worker's, bound once per worker. */
export class Context implements JobContext {
  readonly job: JobRecord;
  readonly epoch: number;
  readonly attempt: number;
  readonly #held: Held;
  readonly #step: <T>(held: Held, name: string, fn: () => Promise<T> | T) => Promise<T>;

  constructor(
    held: Held,
    readonly workerId: string,
    step: <T>(held: Held, name: string, fn: () => Promise<T> | T) => Promise<T>,
  ) {
    this.#held = held;
    this.job = held.job;
    this.epoch = held.job.epoch;
    this.attempt = held.job.attempts;
    this.#step = step;
  }

  get signal(): AbortSignal {
    return this.#held.signal;
  }

  step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    return this.#step(this.#held, name, fn);
  }
}

/** From `max(createdAt, runAt)` to the claim that started the attempt. */
export function waitedMs(job: JobRecord): number {
  return Math.max(0, (job.startedAt ?? 0) - Math.max(job.createdAt, job.runAt));
}

/** The delay of the job's last retry, ms; 0 when there was none (or its store does not keep it). */
export function previousDelayMs(job: JobRecord): number {
  const d = job.retryDelayMs;
  return typeof d === 'number' && Number.isFinite(d) && d >= 0 ? d : 0;
}

/** What the store records of a failure; never throws, never undefined. */
export function failureText(error: unknown): string {
  try {
    // U+0000 and lone surrogates already replaced: every store can record it.
    return errorText(error);
  } catch {
    // Even describe() reads properties, and they are what throws here.
    return 'an error that could not be read (reading it threw)';
  }
}

export function isOutcome(value: unknown): value is JobOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const { ok, retry } = value as { ok?: unknown; retry?: unknown };
  return ok === true || (ok === false && (retry === undefined || typeof retry === 'boolean'));
}

/**
 * A batch handler's outcomes, checked before any is settled so no job is
 * settled twice: a value that is not an array fails every job of the batch;
 * a missing or malformed entry fails only its own job with a
 * `BatchContractError` naming the index and the value; well-formed entries
 * settle as reported. Entries past the last job are ignored and reported.
 */
export function checkOutcomes(
  name: string,
  count: number,
  value: unknown,
  report: (error: BatchContractError) => void,
): JobOutcome[] {
  const where = `handleMany() of ${JSON.stringify(name)}`;
  const shape = '{ ok: true, result? } or { ok: false, error, retry?: boolean }';
  if (!Array.isArray(value)) {
    const error = new BatchContractError(
      `${where} must resolve with an array of one outcome per job, in job order (${shape}), got ${describe(value)}.`,
      count,
      undefined,
    );
    return Array.from({ length: count }, () => ({ ok: false, error }));
  }
  const outcomes = value as readonly unknown[];
  const length = outcomes.length;
  const lengthIs = `resolved with ${String(length)} outcomes for ${String(count)} jobs; one outcome per job, in job order, is the contract`;
  if (length > count)
    report(
      new BatchContractError(`${where} ${lengthIs}: the extra ones are ignored.`, count, length),
    );
  return Array.from({ length: count }, (_, i): JobOutcome => {
    const outcome = outcomes[i];
    if (i < length && isOutcome(outcome)) return outcome;
    const message =
      i >= length
        ? `${where} ${lengthIs}: job ${String(i)} has no outcome.`
        : `${where}: outcome ${String(i)} must be ${shape}, got ${describe(outcome)}.`;
    return { ok: false, error: new BatchContractError(message, count, length) };
  });
}

/**
 * The batch of a `handleMany` handler that starts with `first`: it and the
 * buffered jobs of the same name, in buffer order, `max` in all, taken out
 * of `buffer`.
 */
export function takeBatch(buffer: Held[], first: Held, max: number): Held[] {
  const batch = [first];
  for (let i = 0; i < buffer.length && batch.length < max;) {
    const h = buffer[i] as Held;
    if (h.job.name === first.job.name) {
      batch.push(h);
      buffer.splice(i, 1);
    } else i++;
  }
  return batch;
}

/**
 * `ctx.step(name, fn)` of `held`: memoised under the job in `store` (a
 * retried attempt gets the value an earlier one stored, without running
 * `fn`), refused with a `LeaseLostError` when the job's epoch moved on (then
 * `lost` is called). A name used twice in one execution is a
 * `DuplicateStepError`: the second step would get the first one's value.
 */
export async function runStep<T>(
  store: StepStore,
  held: Held,
  name: string,
  fn: () => Promise<T> | T,
  lost: () => void,
): Promise<T> {
  const { job } = held;
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0')) {
    throw new InvalidOptionError(
      'name',
      `ctx.step(): name must be a non-empty string without U+0000, unique within one execution of the job, got ${describe(name)}.`,
    );
  }
  held.steps ??= new Set();
  if (held.steps.has(name)) throw new DuplicateStepError(job.id, name);
  held.steps.add(name);
  held.signal.throwIfAborted();
  const memo = await store.getStep(job.id, name);
  if (memo.found) return memo.value as T;
  const value = await fn();
  // Checked before the store sees it: a value the store refused would fail the step's write.
  storableJson(value, 'value', `ctx.step(${JSON.stringify(name)}): `);
  const stored = await store.putStep({ id: job.id, epoch: job.epoch, step: name, value });
  if (!stored) {
    lost();
    throw new LeaseLostError(job.id, job.epoch);
  }
  return value;
}
