/**
 * Which `multiple` acknowledgement a channel may send. RabbitMQ numbers the
 * deliveries of a channel 1, 2, 3, … and `basic.ack(tag, multiple)`
 * acknowledges every outstanding delivery up to `tag`. The sink commits
 * writes out of order (concurrent writes, per-key ordering, retries), so an
 * acknowledgement may only cover a prefix of tags that are all settled:
 * acked, or already nacked on their own (a nacked delivery is no longer
 * outstanding, so a later `multiple` ack does not touch it).
 *
 * The tracker keeps the frontier (every tag up to it is settled), the tags
 * settled above it, and the highest acked tag within the frontier whose ack
 * has not been sent. It never names a nacked tag in an ack: the broker would
 * close the channel with PRECONDITION_FAILED (unknown delivery tag).
 */

/** Contiguous settlement of one channel's delivery tags. */
export class AckTracker<M> {
  /** Every tag <= frontier is settled. */
  #frontier = 0;
  /** Tags above the frontier settled out of order: the message to ack, or null (nacked). */
  readonly #ahead = new Map<number, M | null>();
  /** The highest acked tag <= frontier not yet sent, and its message. */
  #unsent: { tag: number; message: M } | undefined;
  /** Acked messages covered by {@link #unsent}. */
  #unsentCount = 0;

  /** Tags settled above the frontier (they wait for a lower tag before their ack can go). */
  get ahead(): number {
    return this.#ahead.size;
  }

  /** The highest tag such that every tag up to it is settled. */
  get frontier(): number {
    return this.#frontier;
  }

  /**
   * Records that `tag` is settled: acked (`message` is what the channel acks
   * with) or nacked (`message` null, its nack already sent on its own).
   * Settling a tag twice, or a tag at or below the frontier, is ignored.
   */
  settle(tag: number, message: M | null): void {
    if (tag <= this.#frontier || this.#ahead.has(tag)) return;
    if (tag !== this.#frontier + 1) {
      this.#ahead.set(tag, message);
      return;
    }
    this.#advance(tag, message);
    for (let next = this.#frontier + 1; this.#ahead.has(next); next++) {
      const ahead = this.#ahead.get(next) as M | null;
      this.#ahead.delete(next);
      this.#advance(next, ahead);
    }
  }

  /**
   * The `multiple` ack to send now, if any: the message of the highest acked
   * tag within the frontier and how many acked messages it covers. Taking it
   * clears it.
   */
  take(): { message: M; count: number } | undefined {
    const unsent = this.#unsent;
    if (unsent === undefined) return undefined;
    const count = this.#unsentCount;
    this.#unsent = undefined;
    this.#unsentCount = 0;
    return { message: unsent.message, count };
  }

  /**
   * The channel is gone: forgets everything and returns how many acked
   * messages were never acknowledged to the broker (it redelivers them).
   */
  drop(): number {
    let acked = this.#unsentCount;
    for (const message of this.#ahead.values()) if (message !== null) acked++;
    this.#ahead.clear();
    this.#unsent = undefined;
    this.#unsentCount = 0;
    return acked;
  }

  #advance(tag: number, message: M | null): void {
    this.#frontier = tag;
    if (message !== null) {
      this.#unsent = { tag, message };
      this.#unsentCount++;
    }
  }
}
