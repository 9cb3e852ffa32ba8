/**
 * The close of a group (the shape every long-lived batchflight object has):
 * graceful first, refusing new calls and waiting for the running work;
 * forced when the caller's signal aborts or the deadline passes. Every call
 * of `close()` returns the same promise, and a later call's signal or
 * deadline can still force a close in progress.
 */
import { type Clock, TimeoutError } from '../core/index.js';

export class GroupClose {
  /** Set by the first `close()`: new calls are refused. */
  closed = false;
  /** The close was forced before the work drained. */
  forced = false;
  /** The close has finished (the promise resolved). */
  done = false;
  #promise: Promise<void> | undefined = undefined;
  #resolve: (() => void) | undefined = undefined;
  readonly #cleanups: (() => void)[] = [];

  /**
   * @param abandon - settles every running piece of work (the forced close), with `reason` as cause.
   * @param finished - reports the finished close (a diagnostics event).
   */
  constructor(
    private readonly abandon: (reason: unknown) => void,
    private readonly finished: () => void,
  ) {}

  /** Starts the close, or joins the one in progress; `idle` tells whether nothing runs now. */
  begin(
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    clock: Clock,
    label: string,
    idle: boolean,
  ): Promise<void> {
    this.closed = true;
    this.#promise ??= new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    if (!this.done) this.#arm(signal, timeoutMs, clock, label);
    if (idle) this.idle();
    return this.#promise;
  }

  /** Nothing runs any more: a close in progress finishes. */
  idle(): void {
    if (!this.closed || this.done) return;
    this.done = true;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.finished();
    this.#resolve?.();
  }

  #force(reason: unknown): void {
    if (this.forced || this.done) return;
    this.forced = true;
    this.abandon(reason);
    // Abandoning settles the work; the owner's idle() call has finished the close by now.
  }

  #arm(
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    clock: Clock,
    label: string,
  ): void {
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#force(signal.reason);
        return;
      }
      const onAbort = (): void => {
        this.#force(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#cleanups.push(() => {
        signal.removeEventListener('abort', onAbort);
      });
    }
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      // Not unref'd: the forced close must happen even when nothing else keeps the process alive.
      const timer = clock.setTimer(
        () => {
          this.#force(
            new TimeoutError(
              `${label}#close(): work was still running after timeoutMs (${String(timeoutMs)} ms).`,
              timeoutMs,
            ),
          );
        },
        timeoutMs,
        { unref: false },
      );
      this.#cleanups.push(() => {
        timer.cancel();
      });
    }
  }
}
