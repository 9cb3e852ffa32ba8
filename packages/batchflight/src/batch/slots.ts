/**
 * The engine's bookkeeping objects: a {@link Slot} per distinct key from its
 * first caller until it settles, a {@link Follower} per caller that brought
 * an AbortSignal, the {@link Window} keys gather in, the {@link Batch} a
 * closed window becomes, and the {@link Call} (one bulk call of a batch,
 * which is also the context `load` receives).
 */
import type { Timer } from '../core/index.js';
import type { BatchLoadContext } from './types.js';

/** In its window (or a queued batch). */
export const OPEN = 0;
/** In flight. */
export const SENT = 2;
/** Settled (or dropped). */
export const DONE = 3;

/** A memoising protocol's view of a settled slot: not known, fulfilled, rejected. */
export const UNKNOWN = 0;
export const FULFILLED = 1;
export const REJECTED = 2;

/** A resolve or reject function. */
export type Settle = (value: unknown) => void;

let capturedResolve: Settle = () => undefined;
let capturedReject: Settle = () => undefined;
/** A shared executor: captures resolve/reject without allocating a closure per promise. */
function capture(resolve: Settle, reject: Settle): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A new promise and, through {@link lastResolve}, its resolve function (no closure per promise). */
export function gatePromise(): Promise<unknown> {
  return new Promise(capture);
}

/** The resolve function of the promise {@link gatePromise} (or {@link pushPromise}) made last. */
export function lastResolve(): Settle {
  return capturedResolve;
}

/** A new promise whose settle functions are pushed onto `resolves` and `rejects` (no closure per promise). */
export function pushPromise(resolves: Settle[], rejects: Settle[]): Promise<unknown> {
  const promise = new Promise(capture);
  resolves.push(capturedResolve);
  rejects.push(capturedReject);
  return promise;
}

/** One distinct key of one scope, from its first caller until it settles. */
export class Slot<K> {
  state = OPEN;
  /** Callers still waiting (shared-promise callers never leave). */
  waiters = 0;
  promise: Promise<unknown> | undefined = undefined;
  resolve: Settle | undefined = undefined;
  reject: Settle | undefined = undefined;
  followers: Follower<K>[] | undefined = undefined;
  batch: Batch<K> | undefined = undefined;
  /** False once a newer slot took its place in the index (or when there is no index). */
  indexed = true;
  /** Adaptive: when the key entered its window (the hold timer of what stays after a partial send). */
  at = 0;
  /**
   * Set only by a protocol that memoises slots (the DataLoader façade): how
   * the slot settled and with what, so a cache hit on it can be answered
   * without adopting its promise. UNKNOWN when the value was itself a thenable.
   */
  outcome = UNKNOWN;
  value: unknown = undefined;
  /** Memoising protocols: the batch the slot was added with (to tell a hit of the same tick). */
  home: unknown = undefined;
  /** Memoising protocols: reads the outcome (returns the value or throws the error). */
  read: (() => unknown) | undefined = undefined;
  constructor(
    readonly key: K,
    readonly id: unknown,
    readonly index: Map<unknown, Slot<K>> | undefined,
  ) {}

  /** The promise every caller without a signal shares. */
  shared(): Promise<unknown> {
    if (this.promise === undefined) {
      this.promise = new Promise(capture);
      this.resolve = capturedResolve;
      this.reject = capturedReject;
    }
    return this.promise;
  }
}

/** Whoever a follower leaves (the engine). */
export interface Leavable<K> {
  leave(follower: Follower<K>): void;
}

/** A caller with an AbortSignal: its own promise, so it can leave alone. */
export class Follower<K> {
  resolve: Settle;
  reject: Settle;
  readonly promise: Promise<unknown>;
  constructor(
    readonly slot: Slot<K>,
    readonly signal: AbortSignal,
    readonly owner: Leavable<K>,
  ) {
    this.promise = new Promise(capture);
    this.resolve = capturedResolve;
    this.reject = capturedReject;
  }
  handleEvent(): void {
    this.owner.leave(this);
  }
}

/** An open window of one scope. */
export interface Window<K> {
  readonly scope: string | undefined;
  slots: Slot<K>[];
  openedAt: number;
  /** Bumped whenever the window empties, so stale timer callbacks do nothing. */
  generation: number;
  /** Scheduler callbacks not yet run; only the last one acts (the earlier ones are stale). */
  fires: number;
  /** The scheduler callback, one per window for its lifetime (no closure per batch). */
  readonly fire: () => void;
  armed: boolean;
  timer: Timer | undefined;
  /** Adaptive: the end of the first tick has passed. */
  ticked: boolean;
  /** Adaptive: send at the next chance, past the concurrency limit (urgent, flush). */
  due: boolean;
  /** Adaptive: the hold timer fired; send as soon as the concurrency limit allows. */
  expired: boolean;
  /** What a protocol rides on this window (the DataLoader's cache hits); goes with its batch. */
  attachment: unknown;
}

/** Keys sent (or to be sent) together; retries and split halves stay in it. */
export class Batch<K> {
  /** Slots whose callers have not all left. */
  live = 0;
  /** Bulk calls of this batch not yet settled. */
  outstanding = 0;
  controller: AbortController | undefined = undefined;
  abortReason: unknown = undefined;
  aborted = false;
  /** Adaptive: the window held at least the size limit (the queue asked for more). */
  binding = false;
  lastDelayMs = 0;
  /** Settled (or abandoned by a forced close): no longer counts as in flight. */
  done = false;
  constructor(
    public slots: Slot<K>[],
    readonly scope: string | undefined,
    readonly openedAt: number,
    /** The window's attachment (see {@link Window.attachment}). */
    readonly attachment: unknown,
  ) {}
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** One bulk call of a batch; it is also the context `load` receives. */
export class Call<K> implements BatchLoadContext {
  /** Slots to retry after this call (per-item failures). */
  retry: Slot<K>[] | undefined = undefined;
  partial = false;
  constructor(
    readonly batch: Batch<K>,
    readonly slots: Slot<K>[],
    readonly attempt: number,
    readonly startedAt: number,
    public onDone: (() => void) | undefined,
    /** Batches in flight when this call left, its own included. */
    readonly inFlightAtStart: number,
  ) {}
  get signal(): AbortSignal {
    return this.batch.signal();
  }
  get scope(): string | undefined {
    return this.batch.scope;
  }
}

/** A caller waiting for room under `maxPending`. */
export interface RoomWaiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The slot still has callers and no outcome. */
export function live<K>(slot: Slot<K>): boolean {
  return slot.state !== DONE && slot.waiters > 0;
}
