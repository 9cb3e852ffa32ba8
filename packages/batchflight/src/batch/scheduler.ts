/**
 * When an end-of-tick window closes.
 *
 * The default follows DataLoader's `enqueuePostPromiseJob`: the dispatch is
 * queued with `process.nextTick` from inside a `.then()` of an already
 * resolved promise. Node runs all promise jobs queued so far, then this one,
 * which queues the nextTick callback; nextTick callbacks run after the
 * current microtask queue drains and before any I/O or timer. The effect is
 * that every `load()` made synchronously in this tick, and every `load()`
 * made by promise continuations that were already queued (GraphQL resolvers
 * of one level of a query resolve that way), lands in the same batch, and the
 * batch still leaves before the event loop polls for I/O: zero added latency.
 * A bare `queueMicrotask` would close the window before those continuations
 * ran (smaller batches); `setImmediate` would wait for an I/O poll (added
 * latency); a timer would add at least a millisecond.
 */

/**
 * Decides when an open window closes: called once when a window opens, it
 * must eventually call `dispatch` (calling it after the window already
 * closed for another reason is harmless). The same shape as DataLoader's
 * `batchScheduleFn`, so `ManualScheduler` from `@batchflight/testing` and
 * custom policies plug in.
 *
 * @example
 * ```ts
 * const every10ms: BatchScheduler = (dispatch) => setTimeout(dispatch, 10);
 * ```
 */
export type BatchScheduler = (dispatch: () => void) => void;

let resolved: Promise<void> | undefined;
let queue: (() => void)[] = [];
// Two arrays swap roles so that a tick allocates none.
let spare: (() => void)[] = [];
let queued = false;

// One promise job and one nextTick serve every window opened in the tick, in FIFO
// order: the same moment as DataLoader's per-batch scheduling (all nextTicks queued
// while promise jobs drain run after the drain), without two closures per window.
function runQueue(): void {
  const run = queue;
  queue = spare;
  queued = false;
  for (let i = 0; i < run.length; i++) {
    try {
      (run[i] as () => void)();
    } catch (error) {
      // One failing dispatch must not starve the others; the error still surfaces.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  // pop() for the common single-window tick: setting `length` is a runtime call.
  if (run.length === 1) run.pop();
  else run.length = 0;
  spare = run;
}

function toNextTick(): void {
  process.nextTick(runQueue);
}

/**
 * The default scheduler: dispatch after the promise jobs queued in this tick
 * (DataLoader's scheduling; see the module comment).
 *
 * @example
 * ```ts
 * batch({ load, scheduler: endOfTick }); // the same as leaving `scheduler` out
 * ```
 */
export const endOfTick: BatchScheduler = (dispatch) => {
  queue.push(dispatch);
  if (queued) return;
  queued = true;
  void (resolved ??= Promise.resolve()).then(toNextTick);
};
