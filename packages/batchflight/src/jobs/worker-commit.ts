/**
 * The committer part of `Worker`: finished attempts waiting for a group
 * commit, and how a commit the store refuses is isolated (bisection) from a
 * store that is down.
 */
import { ClosedError, TimeoutError, eventChannel, type Clock } from '../core/index.js';
import { UnstorableValueError } from './errors.js';
import { errorText } from './store-kit.js';
import type { CompleteInput, FailInput, JobStore, Refusal } from './store.js';
import { failureText, type Held } from './worker-run.js';
import { addToReport, newReport, type SettledReport } from './worker-stats.js';
import type { JobsSettledMessage } from './worker-types.js';

/** A finished attempt's success, waiting for (or in) a commit. */
export interface PendingCompletion {
  readonly held: Held;
  readonly input: CompleteInput;
  readonly durationMs: number;
}

/** A finished attempt's failure, waiting for (or in) a commit. */
export interface PendingFailure {
  readonly held: Held;
  readonly input: FailInput;
  readonly error: unknown;
  readonly durationMs: number;
  /** Its reason already replaced once after the store refused the first record. */
  readonly replaced?: boolean;
}

/** A store's error as a refused job's reason: its name, message and code, without the stack. */
export function storeErrorText(error: unknown): string {
  try {
    if (!(error instanceof Error)) return failureText(error);
    const code = (error as { code?: unknown }).code;
    const text = `${error.name}: ${error.message}${typeof code === 'string' ? ` (${code})` : ''}`;
    return errorText(text);
  } catch {
    return failureText(error);
  }
}

/** The failure of a job whose result the store refused on its own. */
export function refusedResult(c: PendingCompletion, storeError: unknown): PendingFailure {
  const error = new UnstorableValueError(
    `The job store refused to store the result of job ${c.input.id} while it stored the other results of the same commit, so the job cannot succeed: ${storeErrorText(storeError)}`,
    'result',
  );
  return {
    held: c.held,
    error,
    durationMs: c.durationMs,
    input: { id: c.input.id, epoch: c.input.epoch, error: failureText(error), dead: true },
  };
}

/** A failure whose record the store refused on its own, with a reason that names only that. */
export function refusedFailure(f: PendingFailure, storeError: unknown): PendingFailure {
  return {
    ...f,
    replaced: true,
    input: {
      ...f.input,
      error: `The job store refused to record this attempt's failure (the handler's error is not kept): ${storeErrorText(storeError)}`,
    },
  };
}

/**
 * Store errors that say the store (or the way to it) is failing, not one
 * item: connection errors, PostgreSQL's connection, resource, operator,
 * lock and serialisation classes and read-only transactions, SQLite's busy,
 * locked, I/O and full, and messages of dropped connections and timeouts
 * (the pg driver's have no code). Such an error never makes an item refused.
 */
const STORE_DOWN_CODE =
  /^(E(CONN|PIPE|TIMEDOUT|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH|ADDR)|08|53|57|58|40001|40P01|55P03|25006|SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|PROTOCOL|READONLY))/;
const STORE_DOWN_MESSAGE = /connect|terminated|timed? ?out|closed|ECONN|socket/i;

export function storeIsFailing(error: unknown): boolean {
  if (ClosedError.is(error) || TimeoutError.is(error)) return true;
  try {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    return (
      (typeof code === 'string' && STORE_DOWN_CODE.test(code)) ||
      (typeof message === 'string' && STORE_DOWN_MESSAGE.test(message))
    );
  } catch {
    return false;
  }
}

/** How a batch commit went: what is left to retry, what the store refused one by one. */
export interface Isolated<T> {
  /** Not committed because the store is failing as a whole: retry them later. */
  readonly left: T[];
  /** Items the store refused on their own while it accepted others. */
  readonly refused: { readonly item: T; readonly error: unknown }[];
  /** The last store error. */
  readonly error: unknown;
}

/**
 * Commits `items` with `commit` (one store call per part), isolating an item
 * the store refuses on its own: a failing part is split in halves, level by
 * level, until each failing item stands alone, and that item is tried once
 * more on its own.
 *
 * Telling "the store is down" from "this item is refused": an item is
 * refused only when it failed alone twice while another part of the same
 * batch was accepted (or, `storeIsUp`, another call of the same commit
 * was), with errors that do not say the store is failing
 * (`storeIsFailing`). A batch none of whose parts is accepted after two
 * splits (1 + 2 + 4 calls) is the store failing: nothing is marked, every
 * item not committed is left for the retry after `pollMs`, as before. The
 * cost of isolating k bad items among n is about 2k·log2(n) calls, paid
 * only when a commit fails.
 */
export async function isolated<T>(
  items: readonly T[],
  commit: (part: readonly T[]) => Promise<void>,
  storeIsUp = false,
): Promise<Isolated<T>> {
  if (items.length === 0) return { left: [], refused: [], error: undefined };
  const done = new Set<T>();
  const accepted = (): boolean => storeIsUp || done.size > 0;
  let lastError: unknown;
  const down = (): Isolated<T> => ({
    left: items.filter((item) => !done.has(item)),
    refused: [],
    error: lastError,
  });
  /** How committing `part` went; `'down'`: its error says the store is failing. */
  const tryCommit = async (part: readonly T[]): Promise<'ok' | 'failed' | 'down'> => {
    try {
      await commit(part);
      for (const item of part) done.add(item);
      return 'ok';
    } catch (error) {
      lastError = error;
      return storeIsFailing(error) ? 'down' : 'failed';
    }
  };
  const alone: T[] = [];
  let level: (readonly T[])[] = [items];
  while (level.length > 0) {
    const next: (readonly T[])[] = [];
    for (const part of level) {
      const outcome = await tryCommit(part);
      if (outcome === 'down') return down();
      if (outcome === 'ok') continue;
      if (part.length === 1) alone.push(part[0] as T);
      else {
        const half = Math.ceil(part.length / 2);
        next.push(part.slice(0, half), part.slice(half));
      }
    }
    if (!accepted() && (level.length >= 4 || next.length === 0)) return down();
    level = next;
  }
  const refused: { item: T; error: unknown }[] = [];
  for (const item of alone) {
    // Once more on its own: a passing fault must not settle a good result as refused.
    const outcome = await tryCommit([item]);
    if (outcome === 'down') return down();
    if (outcome === 'failed') refused.push({ item, error: lastError });
  }
  return { left: [], refused, error: lastError };
}

/** The `batchflight:jobs:settled` channel: one message per commit with its jobs. */
const chSettled = eventChannel<JobsSettledMessage>('jobs', 'settled');

/** What the committer needs of its worker: the store, the clock, settings and callbacks. */
export interface CommitHost {
  readonly store: Pick<JobStore, 'complete' | 'fail'>;
  readonly clock: Clock;
  readonly workerId: string;
  readonly pollMs: number;
  readonly leaseMs: number;
  /** The worker's state: a failed commit is retried every `pollMs` while running. */
  state(): 'idle' | 'running' | 'closing' | 'closed';
  /** While closing: the last time a failed commit is retried; undefined: `leaseMs` after the first failure. */
  giveUpAt(): number | undefined;
  /** The worker no longer holds `held` (its result was sent, or is given up). */
  forget(held: Held): void;
  /** The store refused `held`'s result: its lease was lost. */
  lose(held: Held, refusal: Refusal): void;
  /** A commit failed (the store as a whole, or one record twice). */
  error(error: unknown): void;
  /** A flush ended: drain() callers may wake. */
  flushed(): void;
  /** A commit went through: claim more if the buffer runs low. */
  pump(): void;
  /** The store accepted `completion`. */
  succeeded(completion: PendingCompletion): void;
  /** The store accepted `failure`; `dead`: the job went dead. */
  failed(failure: PendingFailure, dead: boolean): void;
  /** The store refused a result. */
  refused(): void;
  /** A completion was accepted: dependents or the next job of a partition may be claimable. */
  unblocked(): void;
}

/**
 * The group commit of a `Worker`: results wait here for the next flush,
 * which sends every one that finished meanwhile as one `complete` and one
 * `fail` call; at most one flush is in flight, a failing one is retried
 * (every `pollMs`, or until the close's deadline), and a result the store
 * refuses on its own is isolated (`isolated`).
 */
export class Committer {
  readonly #host: CommitHost;
  #completions: PendingCompletion[] = [];
  #failures: PendingFailure[] = [];
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  /** Ends the wait before a failed commit is retried (a forced close retries at once). */
  #retryNow: (() => void) | undefined;
  #lastError: unknown;
  /** When commits started failing (undefined while they succeed). */
  #failingSince: number | undefined;
  #calls = 0;

  constructor(host: CommitHost) {
    this.#host = host;
  }

  /** Nothing waits for, or is in, a commit. */
  get idle(): boolean {
    return (
      this.#completions.length === 0 &&
      this.#failures.length === 0 &&
      this.#flushing === undefined &&
      !this.#scheduled
    );
  }

  /** Flushes so far. */
  get calls(): number {
    return this.#calls;
  }

  /** The last error of a failed commit. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Queues a success for the next flush. */
  addCompletion(completion: PendingCompletion): void {
    this.#completions.push(completion);
    this.#schedule();
  }

  /** Queues a failure for the next flush. */
  addFailure(failure: PendingFailure): void {
    this.#failures.push(failure);
    this.#schedule();
  }

  /** A failed commit waiting for its retry tries again now. */
  retryNow(): void {
    this.#retryNow?.();
  }

  /** Takes every result still uncommitted (after the last flush of a close gave up). */
  takeUncommitted(): (PendingCompletion | PendingFailure)[] {
    const left = [...this.#completions, ...this.#failures];
    this.#completions = [];
    this.#failures = [];
    return left;
  }

  /**
   * The group commit is not `batch()`'s engine, on purpose (issue 11 asked
   * which): `batch()` batches independent keys and fans one result back to
   * each caller, while a flush is one step of the lease protocol. It is tied
   * to the fence (each item a compare-and-set on its lease epoch, refused
   * items aborting their jobs as lost), to the store's transaction (one
   * `complete` and one `fail` call, whose transactional `onComplete` hook
   * writes the effects), to at most one flush in flight with everything that
   * finished meanwhile taken by the next, to the bisection that tells a
   * refused item from a store that is down, and to close(), which waits for
   * the last flush under its own deadline. Nobody awaits an item's commit,
   * so there is no per-key result to route, no window to tune and no
   * `maxBatchSize`: the engine's features would all be bypassed.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Results that finish in the same turn are committed together (group commit).
    setImmediate(() => {
      this.#scheduled = false;
      void this.flush();
    });
  }

  /**
   * Commits every buffered result; resolves when nothing is left to commit,
   * or, while closing, once the close's deadline passed with the store still
   * failing (what is left stays pending: see {@link Committer.takeUncommitted}).
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      this.#host.flushed();
    });
    return this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    while (this.#completions.length > 0 || this.#failures.length > 0) {
      const completions = this.#completions;
      const failures = this.#failures;
      this.#completions = [];
      this.#failures = [];
      this.#calls++;
      const report = chSettled.hasSubscribers ? newReport(this.#host.workerId) : undefined;
      const done = await isolated(completions, (part) => this.#commitCompletions(part, report));
      // A result the store refused on its own cannot succeed: its job fails instead.
      for (const r of done.refused) failures.push(refusedResult(r.item, r.error));
      // Completions that did not commit (the store is down): keep the failures for later too,
      // so a job's failure is never recorded while the store is failing commits.
      const failed =
        done.left.length > 0
          ? { left: failures, refused: [], error: undefined }
          : await isolated(
              failures,
              (part) => this.#commitFailures(part, report),
              // Completions just committed prove the store is up.
              completions.length > 0,
            );
      const again: PendingFailure[] = [];
      for (const r of failed.refused) {
        // The store refused this failure's record on its own: once more with a plain
        // reason; refused again, the job is left to its lease (it expires and is retried).
        if (r.item.replaced) {
          this.#host.forget(r.item.held);
          this.#host.error(r.error);
        } else again.push(refusedFailure(r.item, r.error));
      }
      this.#completions.unshift(...done.left);
      this.#failures.unshift(...again, ...failed.left);
      const error = done.error ?? failed.error;
      if (done.left.length > 0 || failed.left.length > 0) {
        // The store call failed as a whole: keep what it did not commit and try again.
        // Only that: results it accepted are never sent again (they would be refused).
        this.#host.error(error);
        this.#lastError = error;
        if (report !== undefined && report.jobs.length > 0) chSettled.publish(report);
        if (!(await this.#flushRetryWait())) return;
        continue;
      }
      this.#failingSince = undefined;
      if (report !== undefined) chSettled.publish(report);
      this.#host.pump();
    }
  }

  /**
   * Waits before a failed commit is retried: `pollMs` while running; while
   * closing, until the close's deadline at most (`timeoutMs`; at once for a
   * forced close; without a timeout, `leaseMs` of failing commits, by when
   * the leases are gone anyway). False: give up, the deadline has passed.
   * The timer is not unref'd: results waiting for their commit are what
   * keeps the process alive, for a bounded time while closing.
   */
  async #flushRetryWait(): Promise<boolean> {
    let delayMs = this.#host.pollMs;
    if (this.#host.state() !== 'running') {
      const now = this.#host.clock.now();
      this.#failingSince ??= now;
      const giveUpAt = this.#host.giveUpAt() ?? this.#failingSince + this.#host.leaseMs;
      if (now >= giveUpAt) return false;
      delayMs = Math.min(delayMs, giveUpAt - now);
    }
    await new Promise<void>((resolve) => {
      const timer = this.#host.clock.setTimer(() => this.#retryNow?.(), delayMs, {
        unref: false,
      });
      this.#retryNow = () => {
        timer.cancel();
        this.#retryNow = undefined;
        resolve();
      };
    });
    return this.#host.state() !== 'closed';
  }

  async #commitCompletions(
    completions: readonly PendingCompletion[],
    report: SettledReport | undefined,
  ): Promise<void> {
    const res = await this.#host.store.complete(completions.map((c) => c.input));
    const accepted = new Set(res.accepted);
    for (const c of completions) {
      this.#host.forget(c.held);
      if (!accepted.has(c.input.id)) continue;
      if (report !== undefined) addToReport(report, c.held.job, 'succeeded', c.durationMs);
      this.#host.succeeded(c);
    }
    this.#refusals(res.refused, completions, report);
    // A completion may unblock dependents or the next job of an ordered partition.
    if (res.accepted.length > 0) this.#host.unblocked();
  }

  async #commitFailures(
    failures: readonly PendingFailure[],
    report: SettledReport | undefined,
  ): Promise<void> {
    const res = await this.#host.store.fail(failures.map((f) => f.input));
    const deadIds = new Set(res.dead);
    const accepted = new Set(res.accepted);
    for (const f of failures) {
      this.#host.forget(f.held);
      if (!accepted.has(f.input.id)) continue;
      const isDead = deadIds.has(f.input.id);
      if (report !== undefined) {
        addToReport(report, f.held.job, isDead ? 'dead' : 'failed', f.durationMs);
      }
      this.#host.failed(f, isDead);
    }
    this.#refusals(res.refused, failures, report);
  }

  /** Results the store refused: their leases were lost (reclaimed, or the job cancelled). */
  #refusals(
    refused: readonly Refusal[],
    sent: readonly { held: Held; input: { id: string }; durationMs: number }[],
    report: SettledReport | undefined,
  ): void {
    for (const r of refused) {
      this.#host.refused();
      const result = sent.find((x) => x.input.id === r.id);
      if (result === undefined) continue;
      if (report !== undefined) addToReport(report, result.held.job, 'refused', result.durationMs);
      this.#host.lose(result.held, r);
    }
  }
}
