/**
 * `batch()`: many small per-key calls become one bulk call, and each caller
 * gets its own result or error back.
 *
 * Life of a key. `load(key)` finds or creates the key's *slot* in the index
 * of its scope. A slot lives from the first caller until it settles, through
 * three stages: open (in the scope's window), closed (in a batch waiting for
 * a concurrency slot) and sent (in flight). A second caller of the same key
 * at any stage joins the slot instead of sending the key again, so a key is
 * never in two unsettled bulk calls of one scope. Callers without a signal
 * share the slot's promise; a caller with a signal gets its own, so that it
 * can leave alone when its signal aborts. A slot nobody waits for any more is
 * dropped before its batch is sent; a sent batch whose callers have all left
 * has its `ctx.signal` aborted.
 *
 * Windows. In the static mode a window closes when it holds `maxSize` keys
 * (at once, synchronously), when `maxWaitMs` passes (a Clock timer), or at
 * the end of the tick (the scheduler, by default DataLoader's: see
 * `scheduler.ts`). A closed window is a batch; it is sent when fewer than
 * `maxConcurrentBatches` batches are in flight, else it waits in FIFO order.
 *
 * The adaptive window (`window: 'adaptive'`) combines three ideas:
 *
 * 1. Nagle. At the end of the tick, if no batch is in flight, the window is
 *    sent at once: an idle upstream never waits for a timer.
 * 2. Batches grow while the upstream is busy. While batches are in flight the
 *    window holds its keys; it is sent when a batch completes (the upstream
 *    has room again, like TCP's ACK clocking) or when it reaches the size
 *    limit L, in both cases only while fewer than C calls are in flight; when
 *    its oldest key has waited `maxWaitMs` (default a quarter of the latency
 *    target) it may grow C by one to leave (a safety net for a hung call).
 *    So the batch size follows the arrival rate times the upstream latency
 *    divided by C: small when load is light, large under pressure.
 * 3. Two limits, each on its own signal (`adaptive.ts`): C, the calls in
 *    flight, starts at 1, grows while it is what holds keys back and the
 *    upstream shows no queueing, and shrinks when a call shows queueing
 *    (its duration well above a service-time model `a + b·size` fitted on
 *    the fastest calls seen); L follows AIMD against half the target
 *    (Clipper, NSDI 2017), but a queued call or a backlog of L keys never
 *    shrinks it, nor below what the arrival rate needs. Without C, the first
 *    milliseconds under load queued many small calls at the upstream, that
 *    queueing read as slowness, L halved, calls got smaller and more
 *    numerous, and the window collapsed to L = 1.
 */
import { BatcherImpl } from './engine.js';
import { resolveOptions } from './options.js';
import type { Batcher, BatchOptions } from './types.js';

export type {
  BatchLoadResult,
  BatchLoadContext,
  BatchRetryOptions,
  BatchOptions,
  BatchCallOptions,
  BatchDispatchEvent,
  BatchSettledEvent,
  BatchStats,
  Batcher,
} from './types.js';

/**
 * Turns a bulk function into a per-key loader: keys requested close together
 * go out as one call, each caller gets its own value or error back.
 *
 * @example
 * ```ts
 * const users = batch({
 *   load: (ids: number[]) => api.getUsers(ids), // values in key order, a Map, or a record
 *   maxSize: 100,
 *   maxWaitMs: 5,
 * });
 * const ada = await users.load(42);
 * const guarded = stack(retry({ maxAttempts: 3 })).wrap(users.handler);
 * ```
 */
export function batch<K, V>(options: BatchOptions<K, V>): Batcher<K, V> {
  return new BatcherImpl(resolveOptions(options));
}
