/**
 * The control loop of the adaptive window: two limits, each driven by the
 * signal that really concerns it.
 *
 * - C, the calls in flight at once (like TCP Vegas or Netflix's
 *   concurrency-limits). It starts at 1 and grows by one when it was what
 *   held keys back (a full window, or a hold timer, found C calls in flight)
 *   and the upstream showed no queueing; it shrinks below the concurrency a
 *   call was sent at when that call shows queueing. Starting at 1 matters:
 *   the first calls then meet an idle upstream, so the baseline below is a
 *   real service time, and batches grow by ACK clocking instead of many
 *   small calls piling up at the upstream.
 * - L, the size limit, against the latency budget (half the target; AIMD as
 *   in Clipper, NSDI 2017). A slow call that was *queued* says nothing about
 *   the size, so it never shrinks L (the old loop did, which made more and
 *   smaller calls, more queueing, and collapsed to L = 1). Nor does L shrink
 *   below what the arrival rate needs: rate × call duration / C keys per
 *   call, else the queue grows without bound.
 *
 * Queueing is told from service time by a model of the service time as a
 * function of the batch size, fitted on the lower envelope of what was seen:
 * per power-of-two size class the fastest call, then a least-squares line
 * `a + b·size` through those points. A call is queued when it took more than
 * {@link QUEUED} times the model. The minima drift up slowly, so an upstream
 * that became slower for good is learnt again.
 */

/** Duration over the modelled service time above which a call counts as queued. */
const QUEUED = 1.5;
/** Below this ratio the upstream showed no queueing: C may grow. */
const CLEAR = 1.2;
/** Per call of a size class, its minimum drifts up by this factor (about 700 calls to double). */
const DRIFT = 1.001;

/** What a settled first-attempt call tells the controller. */
export interface CallSample {
  /** Keys sent. */
  readonly size: number;
  /** Duration of the call, in milliseconds. */
  readonly durationMs: number;
  /** Calls in flight when this one left, itself included. */
  readonly inFlightAtStart: number;
  /** The window held at least L keys when it left (the queue asked for more). */
  readonly binding: boolean;
  /** Settling time, in milliseconds of the batcher's clock. */
  readonly now: number;
}

/** The adaptive window's limits and what they are learnt from. */
export class AdaptiveControl {
  /** Size limit L. */
  limit: number;
  /** Concurrency limit C. */
  concurrency = 1;
  #slowStart = true;
  /** C held keys back since the last call settled. */
  #blocked = false;
  /** The last settled call showed no queueing. */
  #clear = true;
  /** C already grew since the last call settled (one step per settled call at most). */
  #grown = false;
  readonly #minDuration: number[] = [];
  readonly #minSize: number[] = [];
  #arrivals = 0;
  #rateAt: number | undefined;
  /** Arrivals per millisecond, smoothed over about one latency target. */
  #rate = 0;

  constructor(
    readonly maxSize: number,
    readonly maxConcurrent: number,
    readonly budgetMs: number,
    readonly targetMs: number,
  ) {
    this.limit = Math.min(maxSize, 8);
  }

  /** A key entered a window. */
  arrived(): void {
    this.#arrivals++;
  }

  /** The window wanted to send but C calls were in flight. */
  blocked(): void {
    this.#blocked = true;
  }

  /**
   * A held key waited `maxWaitMs` while `inFlight` calls were out. If C is
   * what held it and the upstream showed no queueing, C grows by one at once
   * (so a hung call cannot hold the window for ever); else the key waits for
   * the next completion. Never more than one step per settled call, so an
   * overloaded upstream is probed, not flooded.
   */
  expired(inFlight: number): void {
    if (inFlight < this.concurrency) return;
    this.#blocked = true;
    if (this.#clear && !this.#grown) {
      this.concurrency = Math.min(this.maxConcurrent, this.concurrency + 1);
      this.#grown = true;
    }
  }

  /** Keys per millisecond, as currently estimated. */
  get rate(): number {
    return this.#rate;
  }

  /** Learns from one settled first-attempt call. */
  settled(sample: CallSample): void {
    const { size, durationMs, now } = sample;
    this.#updateRate(now);
    const model = this.#model(size);
    // A call alone in flight queued behind none of ours: its duration is a service time.
    const alone = sample.inFlightAtStart <= 1;
    const ratio = model === undefined || alone ? 1 : durationMs / model;
    // Only service times teach the model: a queued duration learnt as the minimum of a size
    // class never seen unqueued would make queueing read as service time from then on.
    if (ratio <= CLEAR) this.#record(size, durationMs);
    // Queueing caused by our own calls: the call left while others were in flight.
    const queued = ratio >= QUEUED;
    if (queued) {
      // Below the concurrency this call met; a call sent past C says nothing about C.
      this.concurrency = Math.max(1, Math.min(this.concurrency, sample.inFlightAtStart - 1));
    } else if (this.#blocked && ratio <= CLEAR && !this.#grown) {
      this.concurrency = Math.min(this.maxConcurrent, this.concurrency + 1);
    }
    this.#blocked = false;
    this.#grown = false;
    this.#clear = ratio <= CLEAR;
    if (durationMs > this.budgetMs) {
      // With a backlog of L keys or more, a smaller L only lowers throughput: the target is lost anyway.
      if (!queued && !sample.binding) {
        const need = Math.ceil((this.#rate * durationMs) / this.concurrency);
        this.limit = Math.min(this.maxSize, Math.max(1, Math.floor(this.limit / 2), need));
        this.#slowStart = false;
      }
    } else if (sample.binding) {
      const grown = this.#slowStart
        ? this.limit * 2
        : this.limit + Math.max(1, Math.floor(this.limit / 8));
      this.limit = Math.min(this.maxSize, grown);
    }
  }

  #updateRate(now: number): void {
    if (this.#rateAt === undefined) {
      this.#rateAt = now;
      return;
    }
    const elapsed = now - this.#rateAt;
    if (elapsed <= 0) return;
    const alpha = 1 - Math.exp(-elapsed / this.targetMs);
    this.#rate += alpha * (this.#arrivals / elapsed - this.#rate);
    this.#arrivals = 0;
    this.#rateAt = now;
  }

  #record(size: number, durationMs: number): void {
    const k = 31 - Math.clz32(Math.max(1, size));
    const min = this.#minDuration[k];
    if (min === undefined || durationMs <= min * DRIFT) {
      this.#minDuration[k] = durationMs;
      this.#minSize[k] = size;
    } else this.#minDuration[k] = min * DRIFT;
  }

  /** Modelled service time of a call of `size` keys, or undefined before any sample. */
  #model(size: number): number | undefined {
    let count = 0;
    let sumN = 0;
    let sumD = 0;
    let floor = Infinity;
    let onlyN = 0;
    let onlyD = 0;
    for (let k = 0; k < this.#minDuration.length; k++) {
      const d = this.#minDuration[k];
      if (d === undefined) continue;
      const n = this.#minSize[k] as number;
      count++;
      sumN += n;
      sumD += d;
      floor = Math.min(floor, d);
      onlyN = n;
      onlyD = d;
    }
    if (count === 0) return undefined;
    // One size class seen: assume the cost is all per key above it (never overstates queueing).
    if (count === 1) return size <= onlyN ? onlyD : (onlyD * size) / onlyN;
    const meanN = sumN / count;
    const meanD = sumD / count;
    let sxx = 0;
    let sxy = 0;
    for (let k = 0; k < this.#minDuration.length; k++) {
      const d = this.#minDuration[k];
      if (d === undefined) continue;
      const n = this.#minSize[k] as number;
      sxx += (n - meanN) * (n - meanN);
      sxy += (n - meanN) * (d - meanD);
    }
    const slope = sxx === 0 ? 0 : Math.max(0, sxy / sxx);
    return Math.max(floor, meanD + slope * (size - meanN));
  }
}
