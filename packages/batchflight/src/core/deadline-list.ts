/**
 * Many deadlines, one timer.
 *
 * A policy whose every call waits the same delay (a timeout of `ms`, a hedge
 * after `afterMs`) sees its deadlines arrive in order, so a doubly linked list
 * kept in arrival order is also kept in deadline order. One timer, armed for
 * the head, serves them all: adding and removing an entry is O(1) and creates
 * no timer, which is what keeps a timeout's success path far below a
 * microsecond (a timer per call costs several).
 *
 * Entries are intrusive (they carry their own links), so the list allocates
 * nothing per entry.
 */
import type { Clock, Timer } from './clock.js';

/** What an entry of a {@link DeadlineList} carries; the list owns the link fields. */
export interface DeadlineEntry<T> {
  /** When the entry is due, in the clock's epoch milliseconds. */
  deadline: number;
  prev: T | undefined;
  next: T | undefined;
  /** True while the entry is in a list. */
  listed: boolean;
}

/**
 * Entries ordered by deadline under a single timer.
 *
 * @example
 * ```ts
 * const due = new DeadlineList<Call>(clock, (call) => call.expire());
 * call.deadline = clock.now() + ms;
 * due.add(call); // ... and due.delete(call) when it settles first
 * ```
 */
export class DeadlineList<T extends DeadlineEntry<T>> {
  #head: T | undefined = undefined;
  #tail: T | undefined = undefined;
  #timer: Timer | undefined = undefined;
  /** While due entries are handed out, entries added by `onDue` must not arm a second timer. */
  #ticking = false;

  /**
   * @param clock - the source of time and of the one timer.
   * @param onDue - called for each entry whose deadline passed, in order,
   *   after it was taken out of the list (it may add it again).
   */
  constructor(
    private readonly clock: Clock,
    private readonly onDue: (entry: T) => void,
  ) {}

  /**
   * Appends `entry`. Its deadline must not be earlier than the last one
   * added: the list relies on arrival order being deadline order.
   */
  add(entry: T): void {
    entry.listed = true;
    const tail = this.#tail;
    if (tail === undefined) this.#head = entry;
    else {
      tail.next = entry;
      entry.prev = tail;
    }
    this.#tail = entry;
    if (this.#timer === undefined && !this.#ticking) this.#arm(entry.deadline);
  }

  /** Takes `entry` out of the list; a no-op when it is not in it. */
  delete(entry: T): void {
    if (!entry.listed) return;
    entry.listed = false;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = undefined;
  }

  #arm(deadline: number): void {
    this.#timer = this.clock.setTimer(this.#tick, deadline - this.clock.now());
  }

  // The one timer: hand out every entry past its deadline, then re-arm for the oldest left.
  // An emptied list leaves no timer behind: the timer that finds nothing due simply ends.
  readonly #tick = (): void => {
    this.#timer = undefined;
    this.#ticking = true;
    const now = this.clock.now();
    try {
      let head = this.#head;
      while (head !== undefined && head.deadline <= now) {
        this.delete(head);
        this.onDue(head);
        head = this.#head;
      }
    } finally {
      this.#ticking = false;
      const head = this.#head;
      if (head !== undefined) this.#arm(head.deadline);
    }
  };
}
