/**
 * A batch scheduler driven by hand, for tests of windows and of anything
 * that takes DataLoader's `batchScheduleFn` shape `(dispatch) => void`.
 */

/**
 * Queues every scheduled dispatch until {@link ManualScheduler.flush} runs them.
 *
 * @example
 * ```ts
 * const scheduler = new ManualScheduler();
 * const users = batch({ load, scheduler: scheduler.schedule });
 * const a = users.load(1);
 * const b = users.load(2);
 * scheduler.flush(); // one bulk call with keys [1, 2]
 * ```
 */
export class ManualScheduler {
  #queue: (() => void)[] = [];

  /** Pass this as `scheduler` / `batchScheduleFn`; it is bound, so it can be passed alone. */
  readonly schedule = (dispatch: () => void): void => {
    this.#queue.push(dispatch);
  };

  /** Dispatches waiting to run. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Runs every dispatch queued so far (not those they queue); returns how many ran. */
  flush(): number {
    const queue = this.#queue;
    this.#queue = [];
    for (const dispatch of queue) dispatch();
    return queue.length;
  }
}
