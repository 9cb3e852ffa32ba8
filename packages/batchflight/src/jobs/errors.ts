/**
 * Errors of `batchflight/jobs`.
 */
import { BatchflightError } from '../core/index.js';

/**
 * An idempotency key was reused with another job name or payload (or, for a
 * run, another name, input, total or chunk size). The first job or run stays
 * as it was; nothing of the rejected call was enqueued or created.
 */
export class JobConflictError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_JOB_CONFLICT';
  override name = 'JobConflictError';
  /** The queue of the key; `''` for a run key (run keys are store-wide). */
  readonly queue: string;
  readonly idempotencyKey: string;
  /** The job (or run) that owns the key. */
  readonly existingId: string;
  /** Whether the key is a job's or a run's. */
  readonly kind: 'job' | 'run';

  constructor(
    queue: string,
    idempotencyKey: string,
    existingId: string,
    options: { readonly kind?: 'job' | 'run' } = {},
  ) {
    const kind = options.kind ?? 'job';
    super(
      kind === 'run'
        ? `Run idempotency key ${JSON.stringify(idempotencyKey)} is already used by run ${existingId} with another name, input, total or chunkSize; a key must always describe the same run.`
        : `Idempotency key ${JSON.stringify(idempotencyKey)} of queue ${JSON.stringify(queue)} is already used by job ${existingId} with another name or payload; a key must always describe the same job.`,
    );
    this.queue = queue;
    this.idempotencyKey = idempotencyKey;
    this.existingId = existingId;
    this.kind = kind;
  }
}

/** `dependsOn` named a job that does not exist. Nothing was enqueued. */
export class JobDependencyError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_JOB_DEPENDENCY';
  override name = 'JobDependencyError';
  readonly missing: readonly string[];

  constructor(missing: readonly string[]) {
    super(
      `dependsOn names job(s) that do not exist: ${missing.join(', ')}; a dependency must be enqueued first.`,
    );
    this.missing = missing;
  }
}

/**
 * The lease of a job (or chunk) was lost: reclaimed after expiry by another
 * worker, or cancelled. It is the abort reason of `ctx.signal`; the job's
 * completion by this holder is refused by the store.
 */
export class LeaseLostError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_LEASE_LOST';
  override name = 'LeaseLostError';
  readonly jobId: string;
  readonly epoch: number;

  constructor(jobId: string, epoch: number) {
    super(
      `The lease of job ${jobId} at epoch ${epoch} was lost (expired and reclaimed, or cancelled); this worker's result will be refused.`,
    );
    this.jobId = jobId;
    this.epoch = epoch;
  }
}

/** No handler is registered for a claimed job's name. */
export class UnknownJobError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_UNKNOWN_JOB';
  override name = 'UnknownJobError';
}

/**
 * Throw it from a handler to fail the job without retrying: it goes dead at
 * once, whatever attempts are left (e.g. a payload that can never succeed).
 */
export class NonRetryableError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_NON_RETRYABLE';
  override name = 'NonRetryableError';
}

/**
 * `close()` gave up committing results: the store kept failing until the
 * close's deadline. No job is lost: their leases expire and they are
 * retried (by any worker), so those attempts run again.
 */
export class UncommittedResultsError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_UNCOMMITTED_RESULTS';
  override name = 'UncommittedResultsError';
  /** Results (completions and failures) that were not committed. */
  readonly uncommitted: number;

  constructor(uncommitted: number, cause: unknown) {
    super(
      `Worker.close(): ${String(uncommitted)} job result(s) could not be committed before the close's deadline (the store kept failing; see cause); their leases will expire and the jobs be retried elsewhere.`,
      { cause },
    );
    this.uncommitted = uncommitted;
  }
}

/**
 * A value a job store cannot keep exactly: a payload, result, step value or
 * run input that is not plain JSON (`NaN`, a `Map`, a `Date`, a function, a
 * cycle, a BigInt, …) or holds a string with U+0000 or a lone surrogate
 * (PostgreSQL refuses both). Refused before anything is written, on every
 * store alike: at enqueue for a payload (nothing of the call is enqueued),
 * at `createRun` for an input; a handler's result or step value that breaks
 * it fails its job without retrying (it would fail the same way again).
 */
export class UnstorableValueError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_UNSTORABLE_VALUE';
  override name = 'UnstorableValueError';
  /** Where in the value the problem is, e.g. `result.items[3].name`. */
  readonly path: string;

  constructor(message: string, path: string) {
    super(message);
    this.path = path;
  }
}

/**
 * `ctx.step(name, fn)` was called twice with one name in one execution of a
 * job. Step values are memoised by name, so the second call would silently
 * return the first value instead of running `fn` (a loop would send once).
 */
export class DuplicateStepError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_DUPLICATE_STEP';
  override name = 'DuplicateStepError';
  readonly jobId: string;
  /** The repeated step name. */
  readonly step: string;

  constructor(jobId: string, step: string) {
    super(
      `ctx.step(): the step name ${JSON.stringify(step)} was already used in this execution of job ${jobId}; a step's value is memoised by its name, so each step of one execution needs a name of its own (in a loop, name it by its item, e.g. \`send:\${item.id}\`).`,
    );
    this.jobId = jobId;
    this.step = step;
  }
}
