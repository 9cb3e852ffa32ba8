/**
 * Where keys wait before a bulk call: the open window of each scope, the
 * closed batches queued behind `maxConcurrentBatches`, and the decision of
 * when a window closes (static: full, timer or end of tick; adaptive: see
 * `batch.ts` and `adaptive.ts`).
 *
 * The engine hands keys in ({@link Windows.add}) and is handed batches back
 * to send ({@link WindowHost.send}); it reports each settled batch with
 * {@link Windows.settled}, which is the ACK clock of the adaptive window.
 */
import type { Clock } from '../core/index.js';
import type { AdaptiveControl } from './adaptive.js';
import type { BatchScheduler } from './scheduler.js';
import { Batch, type Slot, type Window } from './slots.js';

/** What the windows need from the engine. */
export interface WindowHost<K> {
  /** Sends a closed batch now (a concurrency slot is free). */
  send(batch: Batch<K>): void;
  /** A window closed with no key but an attachment (the DataLoader's cache hits of a tick). */
  closedEmpty(attachment: unknown): void;
  /** Someone listens to batch events, so window times must be taken. */
  observed(): boolean;
  /** The engine is closing: held keys leave at once. */
  readonly closing: boolean;
}

/** How the windows close; resolved from the options by the engine. */
export interface WindowSettings {
  readonly adaptive: boolean;
  readonly maxWaitMs: number;
  readonly scheduler: BatchScheduler;
  readonly clock: Clock;
  readonly maxConcurrent: number;
  /**
   * A full window waits for its own scheduler callback instead of leaving at
   * once, and the next key opens a new window (DataLoader's `maxBatchSize`).
   */
  readonly fullWaitsForSchedule: boolean;
}

/** The open windows and queued batches of one engine. */
export class Windows<K> {
  /** Batches in flight (sent, not yet settled). */
  active = 0;
  /** Keys waiting in windows or queued batches. */
  queued = 0;
  /** Current size limit: L of the adaptive window, or `maxSize`. */
  limit: number;
  /** Closed batches waiting for a concurrency slot, in FIFO order. */
  readonly queue: Batch<K>[] = [];
  #default: Window<K>;
  readonly #scoped = new Map<string, Window<K>>();
  /** Time is needed for the window itself (timed or adaptive); else only when observed. */
  readonly #timed: boolean;

  constructor(
    readonly settings: WindowSettings,
    readonly host: WindowHost<K>,
    limit: number,
    /** Adaptive only: the size and concurrency limits and what they learn from. */
    readonly control: AdaptiveControl | undefined,
  ) {
    this.limit = limit;
    this.#timed = settings.adaptive || settings.maxWaitMs > 0;
    this.#default = this.#newWindow(undefined);
  }

  /** Every window, default first. */
  all(): Window<K>[] {
    return [this.#default, ...this.#scoped.values()];
  }

  /** The open window of `scope`, armed: opened now (its scheduler called) if it was not. */
  open(scope: string | undefined): Window<K> {
    const window = this.#windowFor(scope);
    if (!window.armed) this.#arm(window);
    return window;
  }

  /** Adds a slot to its scope's window; the window may close at once (full or urgent). */
  add(slot: Slot<K>, scope: string | undefined, urgent: boolean): void {
    const window = this.#windowFor(scope);
    const size = window.slots.push(slot);
    this.queued++;
    const control = this.control;
    if (control !== undefined) {
      control.arrived();
      slot.at = this.settings.clock.now();
    }
    if (!window.armed) this.#arm(window);
    if (urgent) {
      window.due = true;
      if (control !== undefined) this.#evaluate(window);
      else this.#close(window, true);
    } else if (size >= this.limit) {
      if (control !== undefined) this.#evaluate(window);
      else if (this.settings.fullWaitsForSchedule) this.#detach(window);
      else this.#close(window, false);
    }
  }

  /** An urgent load joined a key already waiting in `scope`: its window leaves now. */
  urgent(scope: string | undefined): void {
    const window = this.#windowFor(scope);
    if (window.slots.length === 0) return;
    window.due = true;
    if (this.control !== undefined) this.#evaluate(window);
    else this.#close(window, true);
  }

  /** Sends every open window now (still within `maxConcurrentBatches`). */
  flush(): void {
    if (this.control !== undefined) {
      this.#default.due = this.#default.slots.length > 0;
      this.#evaluate(this.#default);
      for (const window of [...this.#scoped.values()]) {
        window.due = true;
        this.#evaluate(window);
      }
    } else {
      this.#close(this.#default, false);
      for (const window of [...this.#scoped.values()]) this.#close(window, false);
    }
  }

  /** A concurrency slot is free: send queued batches, then (adaptive) held windows. */
  settled(): void {
    while (this.queue.length > 0 && this.active < this.settings.maxConcurrent) {
      this.#send(this.queue.shift() as Batch<K>);
    }
    if (this.control !== undefined) {
      this.#evaluate(this.#default, true);
      for (const window of [...this.#scoped.values()]) this.#evaluate(window, true);
    }
  }

  /** A forced close: every window emptied (timers cancelled); returns the slots they held. */
  clear(): Slot<K>[] {
    // No spread: a backlog of hundreds of thousands of keys would overflow the stack.
    const slots: Slot<K>[] = [];
    for (const batch of this.queue) for (const slot of batch.slots) slots.push(slot);
    this.queue.length = 0;
    for (const window of this.all()) {
      window.timer?.cancel();
      window.timer = undefined;
      for (const slot of window.slots) slots.push(slot);
      window.slots = [];
      window.generation++;
    }
    this.#scoped.clear();
    this.queued = 0;
    return slots;
  }

  #send(batch: Batch<K>): void {
    this.queued -= batch.slots.length;
    this.host.send(batch);
  }

  #newWindow(scope: string | undefined): Window<K> {
    const window: Window<K> = {
      scope,
      slots: [],
      openedAt: 0,
      generation: 0,
      fires: 0,
      fire: () => {
        if (--window.fires > 0) return;
        if (window.slots.length === 0) {
          this.#closeEmpty(window);
          return;
        }
        if (this.control !== undefined) {
          window.ticked = true;
          this.#evaluate(window);
        } else this.#close(window, false);
      },
      armed: false,
      timer: undefined,
      ticked: false,
      due: false,
      expired: false,
      attachment: undefined,
    };
    return window;
  }

  #windowFor(scope: string | undefined): Window<K> {
    if (scope === undefined) return this.#default;
    let window = this.#scoped.get(scope);
    if (window === undefined) {
      window = this.#newWindow(scope);
      this.#scoped.set(scope, window);
    }
    return window;
  }

  #arm(window: Window<K>): void {
    const { clock, maxWaitMs } = this.settings;
    window.openedAt = this.#timed || this.host.observed() ? clock.now() : 0;
    window.armed = true;
    window.ticked = false;
    window.due = false;
    if (this.control !== undefined || maxWaitMs === 0) {
      window.fires++;
      this.settings.scheduler(window.fire);
    } else {
      const generation = window.generation;
      window.timer = clock.setTimer(
        () => {
          window.timer = undefined;
          if (window.generation === generation) this.#close(window, false);
        },
        maxWaitMs,
        { unref: false },
      );
    }
  }

  /** A full window keeps its own pending scheduler callback; the next key opens a new one. */
  #detach(window: Window<K>): void {
    const fresh = this.#newWindow(window.scope);
    if (window.scope === undefined) this.#default = fresh;
    else this.#scoped.set(window.scope, fresh);
  }

  /** A window armed for its attachment alone (no key came): it closes empty. */
  #closeEmpty(window: Window<K>): void {
    const attachment = window.attachment;
    this.#reset(window);
    if (attachment !== undefined) this.host.closedEmpty(attachment);
  }

  #reset(window: Window<K>): void {
    window.slots = [];
    window.generation++;
    window.armed = false;
    window.due = false;
    window.expired = false;
    window.attachment = undefined;
    window.timer?.cancel();
    window.timer = undefined;
    const scope = window.scope;
    if (scope !== undefined && this.#scoped.get(scope) === window) this.#scoped.delete(scope);
  }

  /** Takes up to `count` keys out of the window; the rest stay (adaptive only leaves a rest). */
  #take(window: Window<K>, count: number): Batch<K> {
    let slots = window.slots;
    const openedAt = window.openedAt;
    const attachment = window.attachment;
    if (slots.length > count) {
      window.slots = slots.slice(count);
      slots = slots.slice(0, count);
      // The hold timer of what stays counts from its own oldest key.
      window.openedAt = (window.slots[0] as Slot<K>).at;
      window.attachment = undefined;
      window.timer?.cancel();
      window.timer = undefined;
      window.expired = false;
    } else this.#reset(window);
    return new Batch(slots, window.scope, openedAt, attachment);
  }

  #close(window: Window<K>, urgent: boolean): void {
    if (window.slots.length === 0) return;
    const batch = this.#take(window, window.slots.length);
    if (this.active < this.settings.maxConcurrent) this.#send(batch);
    else if (urgent) this.queue.unshift(batch);
    else this.queue.push(batch);
  }

  /**
   * Adaptive: sends what the window should send now; holds the rest. `ack`:
   * a call just settled, so the held keys may leave if C allows (ACK clocking).
   * A window whose hold timer fired leaves once C allows (the timer may grow C
   * by one, see AdaptiveControl#expired); a due window (urgent, flush, close)
   * leaves even past C, bounded only by `maxConcurrentBatches`.
   */
  #evaluate(window: Window<K>, ack = false): void {
    const control = this.control as AdaptiveControl;
    const { maxConcurrent, clock, maxWaitMs } = this.settings;
    while (window.slots.length > 0 && this.active < maxConcurrent) {
      const size = window.slots.length;
      const room = this.active < control.concurrency;
      const forced = window.due || this.host.closing;
      const go =
        forced ||
        (room &&
          (size >= this.limit || ack || window.expired || (window.ticked && this.active === 0)));
      if (!go) {
        if (size >= this.limit || window.expired) control.blocked();
        break;
      }
      const batch = this.#take(window, this.limit);
      batch.binding = size >= this.limit;
      this.#send(batch);
    }
    // A window that could not leave after its timer waits for the next completion, not a timer.
    if (
      window.slots.length > 0 &&
      window.ticked &&
      window.timer === undefined &&
      !window.due &&
      !window.expired
    ) {
      const generation = window.generation;
      const delay = Math.max(0, window.openedAt + maxWaitMs - clock.now());
      window.timer = clock.setTimer(
        () => {
          window.timer = undefined;
          if (window.generation !== generation) return;
          window.expired = true;
          control.expired(this.active);
          this.#evaluate(window);
        },
        delay,
        { unref: false },
      );
    }
  }
}
