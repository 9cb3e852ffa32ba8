/**
 * `circuitBreaker()`: stop calling an upstream that is failing, give it time,
 * then let a few probe calls find out whether it is back.
 *
 * States: `closed` (calls flow, the policy watches outcomes) → `open` (every
 * call is refused at once with `CircuitOpenError`, nothing reaches the
 * upstream) → after `halfOpenAfterMs`, `half-open` (up to `halfOpenProbes`
 * calls are admitted; when all of them succeed the circuit closes, the first
 * failure opens it again). The open → half-open move needs no timer: it
 * happens on the first call (or `state` read) after the deadline.
 *
 * What counts: an error counts as a failure when `failureOn(error)` says so
 * (default: every error); an error it rejects counts as a success (the
 * upstream answered). The caller's own abort counts as neither.
 */
import {
  executeOnce,
  eventChannel,
  nameOption,
  refuseIfAborted,
  rejectWith,
  functionOption,
  integerOption,
  InvalidOptionError,
  knownOptions,
  Listeners,
  numberOption,
  systemClock,
  type CallContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Layer,
  type Subscription,
} from '../core/index.js';
import { CircuitOpenError } from './errors.js';
import { consecutive, type BreakerPolicy, type PolicyState } from './policies.js';

/** The state of a breaker. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** A saved breaker state: what {@link CircuitBreakerPolicy.toJSON} returns and `initialState` accepts. */
export interface CircuitBreakerSnapshot {
  readonly state: CircuitState;
  /** When the circuit last opened (epoch ms), or null. */
  readonly openedAt: number | null;
  /** The policy's own state (failure counts, window buckets). */
  readonly policy: unknown;
}

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** When to open: {@link consecutive} or {@link sampling}. Default `consecutive(5)`. */
  readonly policy?: BreakerPolicy;
  /** How long the circuit stays open before probing, in milliseconds. Default 10 000. */
  readonly halfOpenAfterMs?: number;
  /** Probe calls admitted while half-open; all must succeed to close. Default 1. */
  readonly halfOpenProbes?: number;
  /** Which errors count as failures. Default: every error (the caller's own abort never counts). */
  readonly failureOn?: (error: unknown) => boolean;
  /** A state saved with `toJSON()`, e.g. by another process or before a restart. */
  readonly initialState?: CircuitBreakerSnapshot;
  /** Shown in error messages and events; the central configuration addresses it by this. Default `'circuit'`. */
  readonly name?: string;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link CircuitBreakerPolicy.onStateChange}. */
export interface StateChangeEvent {
  readonly name: string;
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** The failure that opened the circuit, when one did. */
  readonly error?: unknown;
}

/** Payload of {@link CircuitBreakerPolicy.onRejected}. */
export interface BreakerRejectedEvent {
  readonly name: string;
  readonly state: CircuitState;
  readonly retryAfterMs: number;
  readonly isolated: boolean;
}

/** Payload of {@link CircuitBreakerPolicy.onFailure}. */
export interface BreakerFailureEvent {
  readonly name: string;
  readonly error: unknown;
  /** The state the call was admitted in. */
  readonly state: CircuitState;
}

/** Counters of a breaker. */
export interface CircuitBreakerStats {
  readonly state: CircuitState;
  readonly isolated: boolean;
  /** Calls admitted to the upstream. */
  readonly calls: number;
  readonly successes: number;
  readonly failures: number;
  /** Calls refused with `CircuitOpenError`. */
  readonly rejections: number;
  /** Times the circuit opened. */
  readonly opens: number;
}

/** The settings {@link CircuitBreakerPolicy.configure} changes while the breaker runs. */
export interface CircuitBreakerSettings {
  /** When to open: {@link consecutive} or {@link sampling}. */
  readonly policy: BreakerPolicy;
  /** How long the circuit stays open before probing, in milliseconds. */
  readonly halfOpenAfterMs: number;
  /** Probe calls admitted while half-open; all must succeed to close. */
  readonly halfOpenProbes: number;
}

/** Payload of the `configured` channel: {@link CircuitBreakerPolicy.configure} changed the settings. */
export interface BreakerConfiguredEvent {
  readonly name: string;
  readonly previous: CircuitBreakerSettings;
  readonly current: CircuitBreakerSettings;
}

/** A handle from {@link CircuitBreakerPolicy.isolate}: dispose it to release the hold. */
export interface IsolationHandle {
  dispose(): void;
  [Symbol.dispose](): void;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
type StateCode = typeof CLOSED | typeof OPEN | typeof HALF_OPEN;
const NAMES: readonly CircuitState[] = ['closed', 'open', 'half-open'];

/**
 * The diagnostics channels of every breaker (`batchflight:circuit-breaker:<event>`):
 * `stateChange`, `rejected` (a call refused with `CircuitOpenError`),
 * `failure` (an admitted call failed) and `configured` (the settings changed).
 */
export const circuitBreakerChannels = {
  stateChange: eventChannel<StateChangeEvent>('circuit-breaker', 'state-change'),
  rejected: eventChannel<BreakerRejectedEvent>('circuit-breaker', 'rejected'),
  failure: eventChannel<BreakerFailureEvent>('circuit-breaker', 'failure'),
  configured: eventChannel<BreakerConfiguredEvent>('circuit-breaker', 'configured'),
} as const;
const stateChannel = circuitBreakerChannels.stateChange;
const rejectedChannel = circuitBreakerChannels.rejected;
const failureChannel = circuitBreakerChannels.failure;

const WHERE = 'circuitBreaker()';

function policyOption(value: unknown): BreakerPolicy {
  if (typeof (value as Partial<BreakerPolicy> | null)?.create !== 'function') {
    throw new InvalidOptionError(
      'policy',
      `${WHERE}: option policy must be a breaker policy from consecutive(n) or sampling({...}), got ${typeof value}.`,
    );
  }
  return value as BreakerPolicy;
}

function halfOpenAfterOption(value: unknown): number {
  return numberOption(WHERE, 'halfOpenAfterMs', value);
}

function halfOpenProbesOption(value: unknown): number {
  return integerOption(WHERE, 'halfOpenProbes', value);
}

/**
 * A circuit breaker: a shared {@link Layer} with a plain-function form. See
 * {@link circuitBreaker}. It holds no timer (open → half-open happens on the
 * next call), so it needs no `close()`.
 */
export class CircuitBreakerPolicy<I = unknown, O = unknown> implements Layer<I, O> {
  readonly name: string;
  #halfOpenAfterMs: number;
  #halfOpenProbes: number;
  #policyKind: BreakerPolicy;
  #policy: PolicyState;
  readonly #failureOn: ((error: unknown) => boolean) | undefined;
  readonly #clock: Clock;
  readonly #onStateChange = new Listeners<StateChangeEvent>();
  readonly #onRejected = new Listeners<BreakerRejectedEvent>();
  readonly #onFailure = new Listeners<BreakerFailureEvent>();
  #state: StateCode = CLOSED;
  #openedAt: number | null = null;
  #isolations = 0;
  #probesStarted = 0;
  #probeSuccesses = 0;
  #calls = 0;
  #successes = 0;
  #failures = 0;
  #rejections = 0;
  #opens = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    knownOptions(WHERE, options, [
      'policy',
      'halfOpenAfterMs',
      'halfOpenProbes',
      'failureOn',
      'initialState',
      'name',
      'clock',
    ]);
    const policy = policyOption(options.policy ?? consecutive(5));
    this.#policyKind = policy;
    this.#halfOpenAfterMs = halfOpenAfterOption(options.halfOpenAfterMs ?? 10_000);
    this.#halfOpenProbes = halfOpenProbesOption(options.halfOpenProbes ?? 1);
    this.#failureOn =
      options.failureOn === undefined
        ? undefined
        : functionOption<(error: unknown) => boolean>(WHERE, 'failureOn', options.failureOn);
    this.name = nameOption(WHERE, options.name, 'circuit');
    this.#clock = options.clock ?? systemClock;
    const saved = options.initialState;
    this.#policy = policy.create(saved?.policy);
    if (saved !== undefined) {
      const code = NAMES.indexOf(saved.state);
      if (code === -1) {
        throw new InvalidOptionError(
          'initialState',
          `${WHERE}: option initialState must be a snapshot from toJSON() with state 'closed', 'open' or 'half-open', got ${JSON.stringify(saved.state)}.`,
        );
      }
      if (code !== CLOSED) {
        // A saved half-open circuit resumes as open with its old deadline: probing restarts cleanly.
        this.#state = OPEN;
        this.#openedAt = saved.openedAt ?? this.#clock.now();
      }
    }
  }

  /** The current state (a due open → half-open move happens on this read). */
  get state(): CircuitState {
    if (this.#state === OPEN) this.#maybeHalfOpen(this.#clock.now());
    return NAMES[this.#state] as CircuitState;
  }

  /** How long the circuit stays open before probing, in milliseconds. */
  get halfOpenAfterMs(): number {
    return this.#halfOpenAfterMs;
  }

  /** Probe calls admitted while half-open. */
  get halfOpenProbes(): number {
    return this.#halfOpenProbes;
  }

  /** The settings in force. */
  get settings(): CircuitBreakerSettings {
    return {
      policy: this.#policyKind,
      halfOpenAfterMs: this.#halfOpenAfterMs,
      halfOpenProbes: this.#halfOpenProbes,
    };
  }

  /**
   * Changes the thresholds while the breaker runs; the state (closed, open, half-open) is
   * kept and calls in flight are not touched. A new `policy` takes over the counts the old
   * one kept where they mean the same (consecutive failures stay counted; a sampling window
   * with the same number of buckets keeps its buckets), else it starts empty. A new
   * `halfOpenAfterMs` moves the end of the current open period too (it is measured from
   * when the circuit opened); a new `halfOpenProbes` applies from the next probe. Settings
   * left out keep their value; invalid ones throw the constructor's error and change
   * nothing (`dryRun` only checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * breaker.configure({ policy: consecutive(3), halfOpenAfterMs: 30_000 });
   * ```
   */
  configure(
    settings: Partial<CircuitBreakerSettings>,
    options?: { readonly dryRun?: boolean },
  ): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `circuitBreaker(${this.name}).configure(): settings must be an object of policy, halfOpenAfterMs, halfOpenProbes, got ${typeof settings}.`,
      );
    }
    knownOptions(WHERE, settings, ['policy', 'halfOpenAfterMs', 'halfOpenProbes']);
    const policy = settings.policy === undefined ? undefined : policyOption(settings.policy);
    const halfOpenAfterMs =
      settings.halfOpenAfterMs === undefined
        ? this.#halfOpenAfterMs
        : halfOpenAfterOption(settings.halfOpenAfterMs);
    const halfOpenProbes =
      settings.halfOpenProbes === undefined
        ? this.#halfOpenProbes
        : halfOpenProbesOption(settings.halfOpenProbes);
    // Created before anything changes: a policy whose create() throws leaves the breaker as it was.
    const state =
      policy === undefined || policy === this.#policyKind
        ? undefined
        : policy.create(this.#policy.toJSON());
    if (options?.dryRun === true) return;
    const previous = this.settings;
    if (policy !== undefined && state !== undefined) {
      this.#policyKind = policy;
      this.#policy = state;
    }
    this.#halfOpenAfterMs = halfOpenAfterMs;
    this.#halfOpenProbes = halfOpenProbes;
    if (circuitBreakerChannels.configured.hasSubscribers) {
      circuitBreakerChannels.configured.publish({
        name: this.name,
        previous,
        current: this.settings,
      });
    }
  }

  /** True while held open by {@link isolate}. */
  get isolated(): boolean {
    return this.#isolations > 0;
  }

  /**
   * Wraps `next` so that calls pass through the breaker. Generic over the
   * handler's types: one breaker guards handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
    const inner = next as unknown as Handler<I, O>;
    return ((input: I, ctx: CallContext) => {
      // A caller that already left is neither a call nor a probe (refuseIfAborted reads no lazy signal).
      const refused = refuseIfAborted(ctx);
      if (refused !== undefined) return refused;
      if (this.#state !== CLOSED || this.#isolations > 0) return this.#admitSlow(inner, input, ctx);
      this.#calls++;
      let call: Promise<O>;
      try {
        call = inner(input, ctx);
      } catch (error) {
        call = rejectWith(error);
      }
      // ctx.signal is read only on failure: under a timeout layer reading it creates a controller.
      return call.then(this.#closedSucceeded, (error: unknown) => this.#closedFailed(error, ctx));
    }) as unknown as Handler<In, Out>;
  }

  /**
   * Runs `fn` through the breaker: the plain-function form.
   *
   * @example
   * ```ts
   * const rows = await breaker.execute(({ signal }) => db.query(sql, { signal }));
   * ```
   */
  execute<T>(fn: (ctx: CallContext) => Promise<T>, options?: CallOptions): Promise<T> {
    return executeOnce(
      this as unknown as Layer<undefined, T>,
      fn,
      options,
      `circuitBreaker(${this.name}).execute()`,
    );
  }

  /**
   * Holds the circuit open until the returned handle is disposed (for
   * maintenance windows or a manual kill switch). Holds nest: the circuit
   * closes when the last one is released.
   */
  isolate(): IsolationHandle {
    const from = this.state;
    this.#isolations++;
    if (this.#isolations === 1 && from !== 'open') {
      this.#state = OPEN;
      this.#openedAt = this.#clock.now();
      this.#emitState(from, 'open', undefined);
    }
    let released = false;
    const dispose = (): void => {
      if (released) return;
      released = true;
      this.#isolations--;
      if (this.#isolations === 0) this.#close();
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** A JSON-safe snapshot to restore with `initialState` (isolation is not saved). */
  toJSON(): CircuitBreakerSnapshot {
    return { state: this.state, openedAt: this.#openedAt, policy: this.#policy.toJSON() };
  }

  /** Called on every state change. */
  onStateChange(listener: (event: StateChangeEvent) => void): Subscription {
    return this.#onStateChange.add(listener);
  }

  /** Called when a call is refused with `CircuitOpenError`. */
  onRejected(listener: (event: BreakerRejectedEvent) => void): Subscription {
    return this.#onRejected.add(listener);
  }

  /** Called when an admitted call fails (an error `failureOn` counts). */
  onFailure(listener: (event: BreakerFailureEvent) => void): Subscription {
    return this.#onFailure.add(listener);
  }

  stats(): CircuitBreakerStats {
    return {
      state: this.state,
      isolated: this.#isolations > 0,
      calls: this.#calls,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      opens: this.#opens,
    };
  }

  readonly #closedSucceeded = (value: O): O => {
    this.#successes++;
    // A call admitted while closed that settles after the circuit opened says nothing new.
    if (this.#state === CLOSED) this.#policy.success(this.#policy.timed ? this.#clock.now() : 0);
    return value;
  };

  #closedFailed(error: unknown, ctx: CallContext): Promise<never> {
    const kind = this.#classify(error, ctx);
    if (kind === 'success') this.#closedSucceeded(undefined as O);
    else if (kind === 'failure') {
      this.#failures++;
      this.#emitFailure(error, 'closed');
      if (this.#state === CLOSED && this.#policy.failure(this.#clock.now())) {
        this.#open('closed', error);
      }
    }
    return rejectWith(error);
  }

  #classify(error: unknown, ctx: CallContext): 'success' | 'failure' | 'neutral' {
    if (ctx.signal.aborted) return 'neutral';
    if (this.#failureOn === undefined) return 'failure';
    return this.#failureOn(error) ? 'failure' : 'success';
  }

  #admitSlow(next: Handler<I, O>, input: I, ctx: CallContext): Promise<O> {
    const now = this.#clock.now();
    if (this.#state === OPEN) this.#maybeHalfOpen(now);
    if (this.#state === HALF_OPEN && this.#probesStarted < this.#halfOpenProbes) {
      this.#probesStarted++;
      this.#calls++;
      let call: Promise<O>;
      try {
        call = next(input, ctx);
      } catch (error) {
        call = rejectWith(error);
      }
      return call.then(
        (value) => {
          this.#probeSettled('success', undefined);
          return value;
        },
        (error: unknown) => {
          this.#probeSettled(this.#classify(error, ctx), error);
          throw error;
        },
      );
    }
    return this.#reject(now);
  }

  #probeSettled(kind: 'success' | 'failure' | 'neutral', error: unknown): void {
    if (kind === 'neutral') {
      // The caller left: free its probe slot so another call can find out.
      if (this.#state === HALF_OPEN) this.#probesStarted--;
      return;
    }
    if (kind === 'success') {
      this.#successes++;
      if (this.#state === HALF_OPEN && ++this.#probeSuccesses >= this.#halfOpenProbes) {
        this.#close();
      }
      return;
    }
    this.#failures++;
    this.#emitFailure(error, 'half-open');
    if (this.#state === HALF_OPEN) this.#open('half-open', error);
  }

  #reject(now: number): Promise<never> {
    this.#rejections++;
    const isolated = this.#isolations > 0;
    const retryAfterMs = isolated
      ? Infinity
      : this.#state === OPEN
        ? Math.max(0, (this.#openedAt ?? now) + this.#halfOpenAfterMs - now)
        : this.#halfOpenAfterMs;
    const state = NAMES[this.#state] as CircuitState;
    if (this.#onRejected.active || rejectedChannel.hasSubscribers) {
      const event = { name: this.name, state, retryAfterMs, isolated };
      this.#onRejected.emit(event);
      if (rejectedChannel.hasSubscribers) rejectedChannel.publish(event);
    }
    const why = isolated
      ? 'is isolated'
      : state === 'open'
        ? `is open; retry in ${String(Math.ceil(retryAfterMs))} ms`
        : 'is half-open and every probe slot is taken';
    return Promise.reject(
      new CircuitOpenError(`Circuit "${this.name}" ${why}.`, retryAfterMs, isolated),
    );
  }

  #maybeHalfOpen(now: number): void {
    if (this.#isolations > 0) return;
    if (now < (this.#openedAt ?? now) + this.#halfOpenAfterMs) return;
    this.#state = HALF_OPEN;
    this.#probesStarted = 0;
    this.#probeSuccesses = 0;
    this.#emitState('open', 'half-open', undefined);
  }

  #open(from: CircuitState, error: unknown): void {
    this.#state = OPEN;
    this.#openedAt = this.#clock.now();
    this.#opens++;
    this.#emitState(from, 'open', error);
  }

  #close(): void {
    const from = NAMES[this.#state] as CircuitState;
    this.#state = CLOSED;
    this.#openedAt = null;
    this.#policy.reset();
    if (from !== 'closed') this.#emitState(from, 'closed', undefined);
  }

  #emitState(from: CircuitState, to: CircuitState, error: unknown): void {
    if (!this.#onStateChange.active && !stateChannel.hasSubscribers) return;
    const event: StateChangeEvent =
      error === undefined ? { name: this.name, from, to } : { name: this.name, from, to, error };
    this.#onStateChange.emit(event);
    if (stateChannel.hasSubscribers) stateChannel.publish(event);
  }

  #emitFailure(error: unknown, state: CircuitState): void {
    if (!this.#onFailure.active && !failureChannel.hasSubscribers) return;
    const event = { name: this.name, error, state };
    this.#onFailure.emit(event);
    if (failureChannel.hasSubscribers) failureChannel.publish(event);
  }
}

/**
 * Creates a circuit breaker: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal })`, a plain function wrapper.
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({ policy: consecutive(5), halfOpenAfterMs: 5_000 });
 * breaker.onStateChange(({ from, to }) => log.warn(`circuit ${from} -> ${to}`));
 * const getUser = breaker.wrap((id: number, { signal }) => api.user(id, { signal }));
 * ```
 */
export function circuitBreaker<I = unknown, O = unknown>(
  options?: CircuitBreakerOptions,
): CircuitBreakerPolicy<I, O> {
  return new CircuitBreakerPolicy<I, O>(options);
}

/** @deprecated Renamed {@link CircuitBreakerPolicy} (every policy class is `<Name>Policy`); kept as an alias. */
export const CircuitBreaker = CircuitBreakerPolicy;
/** @deprecated Renamed {@link CircuitBreakerPolicy}; kept as an alias. */
export type CircuitBreaker<I = unknown, O = unknown> = CircuitBreakerPolicy<I, O>;
