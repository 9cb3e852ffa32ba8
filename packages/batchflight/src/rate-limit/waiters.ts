/** The waiting callers of a rate limiter, one FIFO queue per key. */
import type { Timer } from '../core/index.js';
import type { RateLimitRule } from './store.js';

/** A caller waiting in its key's queue. */
export interface Waiter {
  readonly queue: KeyQueue;
  readonly cost: number;
  readonly enqueuedAt: number;
  /** When the store first said this waiter would pass (its first refusal plus retryAfterMs). */
  dueAt: number | undefined;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The FIFO queue of one key (within one scope), with its timer. */
export interface KeyQueue {
  readonly id: string;
  readonly key: string;
  readonly scope: string | undefined;
  readonly waiters: Waiter[];
  /** The store rules of this key under the limits in force (replaced by configure()). */
  rules: readonly RateLimitRule[];
  timer: Timer | undefined;
  /** An asynchronous store decision for the head is in flight. */
  busy: boolean;
}
