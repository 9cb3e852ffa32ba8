/**
 * Cache hits of a DataLoader, and the moment they settle.
 *
 * The `dataloader` contract: a hit returns a *new* promise that settles
 * when the batch of its tick is answered, by resolving it with the cached
 * promise (`resolve(cached)`), so hits and misses of one tick settle
 * together. Resolving with a promise costs a job to adopt it, a reaction on
 * it and a second job per hit, plus the hit's own resolve functions. Here
 * the cache holds {@link Memo}s that know how they settled, and a hit whose
 * memo is settled already, or belongs to the same tick's batch (so it
 * settles with it), is `gate.then(read)`: one promise and one reaction, the
 * gate opened one turn after the batch is answered, so every such hit
 * settles at the very turn adoption would have settled it (two turns after
 * the answer), in the same order. A hit on a memo still pending in another
 * batch, or on a custom `cacheMap`'s promise, is adopted exactly as the
 * original does; from the first such hit on, the rest of the tick's hits
 * are too, so the order between both kinds stays the original's.
 *
 * One divergence, of timing only: a hit of the same tick on a key whose
 * value the batch function answered with a thenable (a promise as a value)
 * settles two turns later than with the original.
 */
import {
  FULFILLED,
  REJECTED,
  UNKNOWN,
  gatePromise,
  lastResolve,
  pushPromise,
  type Settle,
} from '../batch/internal.js';

/** A cached key: a slot of the engine (a miss) or a primed value; see `Slot.outcome`. */
export interface Memo {
  readonly promise: Promise<unknown> | undefined;
  outcome: number;
  value: unknown;
  /** The hits of the tick the memo was loaded in (undefined once it had its answer, or primed). */
  home: unknown;
  read: (() => unknown) | undefined;
}

/** A value or Error given to `prime()`. */
export class Primed implements Memo {
  readonly promise: Promise<unknown>;
  outcome = UNKNOWN;
  value: unknown = undefined;
  home: unknown = undefined;
  read: (() => unknown) | undefined = undefined;
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

/** The function a gated hit runs: the memo's value, its error thrown, or (a thenable value) its promise. */
function readerOf(memo: Memo): () => unknown {
  return (memo.read ??= () => {
    if (memo.outcome === FULFILLED) return memo.value;
    if (memo.outcome === REJECTED) throw memo.value;
    return memo.promise;
  });
}

/** The hits of one tick's batch; they ride the engine window as its attachment. */
export class Hits {
  #gate: Promise<unknown> | undefined = undefined;
  #open: Settle | undefined = undefined;
  /** Hits adopted one by one, in order (after every gated hit of the tick). */
  #resolves: Settle[] | undefined = undefined;
  #rejects: Settle[] | undefined = undefined;
  #found: (Memo | PromiseLike<unknown>)[] | undefined = undefined;
  #foreign = false;
  #settled = false;

  /** A hit on a memo of ours: its new promise. */
  add(memo: Memo): Promise<unknown> {
    if (this.#found === undefined && (memo.outcome !== UNKNOWN || memo.home === this)) {
      let gate = this.#gate;
      if (gate === undefined) {
        gate = this.#gate = gatePromise();
        this.#open = lastResolve();
      }
      // A settled error must count as handled, as adoption would make it.
      if (memo.outcome === REJECTED) memo.promise?.catch(noop);
      return gate.then(readerOf(memo));
    }
    return this.#adopted(memo);
  }

  /** A hit on a custom cacheMap's promise: adopted, as the original does. */
  addForeign(cached: PromiseLike<unknown>): Promise<unknown> {
    this.#foreign = true;
    return this.#adopted(cached);
  }

  #adopted(found: Memo | PromiseLike<unknown>): Promise<unknown> {
    (this.#found ??= []).push(found);
    return pushPromise((this.#resolves ??= []), (this.#rejects ??= []));
  }

  /** The batch was answered (or failed, or left with no key): every hit settles. Idempotent. */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    const found = this.#found;
    if (this.#foreign && found !== undefined) {
      const resolves = this.#resolves as Settle[];
      for (let i = 0; i < found.length; i++) (resolves[i] as Settle)(found[i]);
      return;
    }
    if (this.#gate === undefined && found === undefined) return;
    // Adoption would call then() on each cached promise one turn from now.
    queueMicrotask(() => {
      this.#open?.(undefined);
      if (found !== undefined) this.#adopt(found as Memo[]);
    });
  }

  /** One turn after settle(): what adoption's then() would do, hit by hit, in order. */
  #adopt(found: Memo[]): void {
    const resolves = this.#resolves as Settle[];
    const rejects = this.#rejects as Settle[];
    let runStart = -1;
    for (let i = 0; i < found.length; i++) {
      const memo = found[i] as Memo;
      if (memo.outcome !== UNKNOWN) {
        if (runStart === -1) runStart = i;
        // A rejected promise that adoption would have handled must still count as handled.
        if (memo.outcome === REJECTED) memo.promise?.catch(noop);
        continue;
      }
      if (runStart !== -1) this.#queueRun(found, runStart, i);
      runStart = -1;
      // The hit's own promise carries the outcome; this reaction only moves it there.
      void (memo.promise as Promise<unknown>).then(resolves[i], rejects[i]);
    }
    if (runStart !== -1) this.#queueRun(found, runStart, found.length);
  }

  /** Settles hits [from, to) with their known outcomes one turn from now (adoption's reaction turn). */
  #queueRun(found: Memo[], from: number, to: number): void {
    const resolves = this.#resolves as Settle[];
    const rejects = this.#rejects as Settle[];
    queueMicrotask(() => {
      for (let i = from; i < to; i++) {
        const memo = found[i] as Memo;
        if (memo.outcome === FULFILLED) (resolves[i] as Settle)(memo.value);
        else (rejects[i] as Settle)(memo.value);
      }
    });
  }
}
