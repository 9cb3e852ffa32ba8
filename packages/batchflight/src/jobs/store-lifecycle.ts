/**
 * What every store contract of jobs shares (`JobStore`, `StepStore`,
 * `RunStore`): a leaf module, so the contracts in `store.ts` and
 * `run-store.ts` can each extend it without importing one another.
 */

/**
 * What every store contract shares: `init()` before use, `close()` after.
 * One object may implement several contracts ({@link FullJobStore}); it is
 * initialised and closed once.
 */
export interface StoreLifecycle {
  /** Creates or migrates the schema; idempotent and safe from concurrent processes. */
  init(): Promise<void>;
  /** Releases connections. Idempotent. Other calls after close reject with `ClosedError`. */
  close(): Promise<void>;
}
