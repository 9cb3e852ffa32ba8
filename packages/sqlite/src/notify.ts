/**
 * In-process wake-ups of a `SqliteJobStore`: after a write commits, the
 * store's own workers hear that jobs are due, so they claim at once instead
 * of at their next poll. (Other processes on the file poll: SQLite has no
 * notifications across connections.)
 */
import { type Subscription } from 'batchflight/core';
import { Listeners } from 'batchflight/kit';
import { type EnqueuedEvent } from 'batchflight/jobs';
import { enqueuedEvents } from 'batchflight/kit';

/** The listeners of one store and the events of one committed write. */
export class EnqueueNotifier {
  readonly #listeners = new Listeners<EnqueuedEvent>();

  /** Adds `listener`; dispose the subscription to remove it. */
  add(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#listeners.add(listener);
  }

  /** One event per queue of `rows` (jobs due at `run_at`), when anyone listens. */
  notify(rows: readonly { queue: string; run_at: number }[]): void {
    if (!this.#listeners.active || rows.length === 0) return;
    for (const e of enqueuedEvents(rows, (r) => r.run_at)) this.#listeners.emit(e);
  }

  /** Removes every listener (close). */
  clear(): void {
    this.#listeners.clear();
  }
}
