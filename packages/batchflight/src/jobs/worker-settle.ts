/**
 * What a finished attempt becomes for the group commit: a completion (its
 * result in the JSON form the store will hold), or a failure with whether
 * the job is retried at all and after how long. None of it reads the
 * worker's state: the worker hands in the backoffs and queues the result.
 */
import { type Clock, describe, exponentialBackoff, type Backoff } from '../core/index.js';
import { DuplicateStepError, NonRetryableError, UnstorableValueError } from './errors.js';
import { storableJson } from './store-json.js';
import type { JobRecord } from './store.js';
import { backoffFromSpec } from './store-kit.js';
import type { PendingCompletion, PendingFailure } from './worker-commit.js';
import { type Held, failureText, previousDelayMs } from './worker-run.js';
import type { JobOutcome } from './worker-types.js';

/** The retry delay when every other backoff failed: exponential 1 s … 5 min, full jitter. */
export const DEFAULT_BACKOFF = exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 300_000 });

/**
 * True when a failed attempt must not be retried: the handler said so
 * (`retry: false`, a `NonRetryableError`), or the failure is a handler bug
 * that fails the same way on every attempt (an unstorable value, a step name
 * used twice). An error whose properties throw is retried like any other.
 */
export function failsForGood(failure: JobOutcome): boolean {
  if (failure.ok) return false;
  const error = failure.error;
  try {
    return (
      failure.retry === false ||
      NonRetryableError.is(error) ||
      UnstorableValueError.is(error) ||
      DuplicateStepError.is(error)
    );
  } catch {
    return false;
  }
}

/**
 * The retry delay of a failed attempt: by the job's stored backoff, else
 * its handler's (`handlerBackoff`), else the worker's (`workerBackoff`). One
 * that throws or yields no finite delay is reported (`onError`) and the
 * worker's (or, if that is the culprit, the built-in) backoff used instead,
 * so the failure is still committed instead of the job staying leased until
 * its lease expires. `previousDelayMs` is the delay of the job's last retry
 * as its store kept it (`retryDelayMs`), so a growing backoff grows across
 * attempts and workers.
 */
export function retryDelayMs(
  job: JobRecord,
  handlerBackoff: Backoff | undefined,
  workerBackoff: Backoff,
  onError: (error: unknown) => void,
): number {
  const previous = previousDelayMs(job);
  const own = (): Backoff =>
    job.backoff !== null ? backoffFromSpec(job.backoff) : (handlerBackoff ?? workerBackoff);
  const tried = new Set<Backoff>();
  for (const pick of [own, () => workerBackoff]) {
    try {
      const backoff = pick();
      if (tried.has(backoff)) continue;
      tried.add(backoff);
      const delay = backoff.delayMs(job.attempts, previous);
      if (typeof delay === 'number' && Number.isFinite(delay)) {
        return Math.max(0, Math.round(delay));
      }
      throw new RangeError(
        `The backoff of job ${job.id} (${JSON.stringify(job.name)}) returned ${describe(delay)} for attempt ${String(job.attempts)}; a retry delay must be a finite number of ms (a fallback backoff is used).`,
      );
    } catch (error) {
      onError(error);
    }
  }
  return Math.round(DEFAULT_BACKOFF.delayMs(job.attempts, previous));
}

/**
 * The commit entry of `held`'s finished attempt. A result that is not
 * storable JSON would fail (or be changed) the same way on every attempt, so
 * it fails the job for good. Never throws: a job must not stay leased.
 *
 * @param delayMsOf - the retry delay of a failed attempt (see {@link retryDelayMs}).
 */
export function settlement(
  held: Held,
  outcome: JobOutcome,
  durationMs: number,
  clock: Clock,
  delayMsOf: (job: JobRecord) => number,
): { readonly completion: PendingCompletion } | { readonly failure: PendingFailure } {
  const { job } = held;
  let failure = outcome;
  if (outcome.ok) {
    try {
      const raw = outcome.result ?? null;
      // What the store will hold (and what onCompleted reports): the JSON form.
      const result = raw === null ? null : (JSON.parse(storableJson(raw, 'result')) as unknown);
      return { completion: { held, input: { id: job.id, epoch: job.epoch, result }, durationMs } };
    } catch (error) {
      failure = { ok: false, error, retry: false };
    }
  }
  const error = failure.ok ? undefined : failure.error;
  const dead = failsForGood(failure);
  const delayMs = delayMsOf(job);
  return {
    failure: {
      held,
      error,
      durationMs,
      input: {
        id: job.id,
        epoch: job.epoch,
        error: failureText(error),
        retryAt: clock.now() + delayMs,
        delayMs,
        ...(dead ? { dead: true } : {}),
      },
    },
  };
}
