/**
 * Cache hits of a DataLoader, and the moment they settle.
 *
 * The `dataloader` contract: a hit returns a *new* promise that settles
 * when the batch of its tick is answered, by resolving it with the cached
 * promise (`resolve(cached)`), so hits and misses of one tick settle
 * together. Resolving with a promise costs a job to adopt it, a reaction on
 * it and a second job per hit. Here the cache holds {@link Memo}s that know
 * how they settled, so a run of hits whose memos are settled is answered by
 * two microtasks in all, at the very turn adoption would have settled each
 * (two turns after the batch is answered) and in the same order. A hit on a
 * memo that is still pending, or whose value was itself a thenable, or a
 * promise from a custom `cacheMap`, is adopted exactly as the original does.
 */
import { FULFILLED, REJECTED, UNKNOWN, pushPromise, type Settle } from '../batch/slots.js';

/** A cached key: a slot of the engine (a miss) or a primed value; see `Slot.outcome`. */
export interface Memo {
  readonly promise: Promise<unknown> | undefined;
  outcome: number;
  value: unknown;
}

/** A value or Error given to `prime()`. */
export class Primed implements Memo {
  readonly promise: Promise<unknown>;
  outcome = UNKNOWN;
  value: unknown = undefined;
  constructor(value: unknown) {
    if (value instanceof Error) {
      this.promise = Promise.reject(value);
      // An intentionally primed error must not surface as an unhandled rejection.
      this.promise.catch(noop);
      this.outcome = REJECTED;
      this.value = value;
    } else {
      this.promise = Promise.resolve(value);
      if (!isThenable(value)) {
        this.outcome = FULFILLED;
        this.value = value;
      }
    }
  }
}

function noop(): void {
  // a handler that only marks a rejection as handled
}

/** `value` would be adopted by `resolve(value)`. */
export function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The hits of one tick's batch; they ride the engine window as its attachment. */
export class Hits {
  readonly resolves: Settle[] = [];
  readonly rejects: Settle[] = [];
  /** What each hit found: a memo of ours, or a promise from a custom cacheMap. */
  readonly found: (Memo | PromiseLike<unknown>)[] = [];
  /** A hit found a custom cacheMap's promise: adopt them all, as the original does. */
  foreign = false;
  #settled = false;

  /** A hit: its new promise. */
  add(found: Memo | PromiseLike<unknown>, foreign: boolean): Promise<unknown> {
    this.found.push(found);
    if (foreign) this.foreign = true;
    return pushPromise(this.resolves, this.rejects);
  }

  /** The batch was answered (or failed, or left with no key): every hit settles. Idempotent. */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.foreign) {
      for (let i = 0; i < this.found.length; i++) {
        const found = this.found[i] as Memo | PromiseLike<unknown>;
        (this.resolves[i] as Settle)(isMemo(found) ? found.promise : found);
      }
      return;
    }
    // Adoption would call then() on each cached promise one turn from now.
    queueMicrotask(() => {
      this.#adopt();
    });
  }

  /** One turn after settle(): what adoption's then() would do, hit by hit, in order. */
  #adopt(): void {
    const found = this.found as Memo[];
    let runStart = -1;
    for (let i = 0; i < found.length; i++) {
      const memo = found[i] as Memo;
      if (memo.outcome !== UNKNOWN) {
        if (runStart === -1) runStart = i;
        // A rejected promise that adoption would have handled must still count as handled.
        if (memo.outcome === REJECTED) memo.promise?.catch(noop);
        continue;
      }
      if (runStart !== -1) this.#queueRun(runStart, i);
      runStart = -1;
      // The hit's own promise carries the outcome; this reaction only moves it there.
      void (memo.promise as Promise<unknown>).then(this.resolves[i], this.rejects[i]);
    }
    if (runStart !== -1) this.#queueRun(runStart, found.length);
  }

  /** Settles hits [from, to) with their known outcomes one turn from now (adoption's reaction turn). */
  #queueRun(from: number, to: number): void {
    queueMicrotask(() => {
      const found = this.found as Memo[];
      for (let i = from; i < to; i++) {
        const memo = found[i] as Memo;
        if (memo.outcome === FULFILLED) (this.resolves[i] as Settle)(memo.value);
        else (this.rejects[i] as Settle)(memo.value);
      }
    });
  }
}

function isMemo(found: Memo | PromiseLike<unknown>): found is Memo {
  return 'outcome' in found;
}
