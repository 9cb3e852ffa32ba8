/**
 * How `batch()` makes a bulk call and settles its keys: the result (an array
 * in key order, a Map, a record, or items routed by `resultKey`) goes to the
 * keys it names, a per-item Error fails that key alone, a thrown error fails
 * the call, and `retry` / `splitOnFailure` send failed keys again. A result
 * that cannot be routed fails its keys with a `BatchContractError`, never a
 * crash or a silent `undefined`.
 */
import { describe, sleep } from '../core/index.js';
import { BatchContractError, NotFoundError } from './errors.js';
import { defaultIdentity, type BatchConfig } from './options.js';
import { DONE, live, type Batch, type Call, type Slot } from './slots.js';
import type { BatchLoadResult, BatchStats } from './types.js';

/** What a protocol may ask of the engine while it settles a call. */
export interface EngineCore<K> {
  /** The live counters (`stats()` hands out copies). */
  readonly counters: BatchStats;
  /** The error of a forced close, once there was one. */
  readonly forcedError: Error | undefined;
  resolveSlot(slot: Slot<K>, value: unknown): void;
  rejectSlot(slot: Slot<K>, error: unknown): void;
  /** One more bulk call of `batch` (a retry or a split half); `onDone` when it is handled. */
  call(batch: Batch<K>, slots: Slot<K>[], attempt: number, onDone?: () => void): void;
  /** The call is handled (its keys settled or handed to a retry). */
  callDone(call: Call<K>): void;
  maybeBatchDone(batch: Batch<K>): void;
  settledEvent(call: Call<K>, outcome: 'ok' | 'partial' | 'error'): void;
}

/** Makes one bulk call and settles its slots through the engine. */
export interface CallProtocol<K> {
  start(call: Call<K>, keys: K[]): void;
}

const MISSING: unique symbol = Symbol('missing');

/** A key the bulk result cannot be routed to; its caller gets `error`. */
class Unroutable {
  constructor(readonly error: BatchContractError) {}
}

/** A plain object (prototype Object.prototype or null): Sets, class instances and the like are not records. */
function isRecord(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `batch()`'s protocol. */
export class BatchRouting<K, V> implements CallProtocol<K> {
  readonly #where: string;
  constructor(
    readonly config: BatchConfig<K, V>,
    readonly engine: EngineCore<K>,
  ) {
    this.#where = config.where;
  }

  start(call: Call<K>, keys: K[]): void {
    let result: BatchLoadResult<K, V> | PromiseLike<BatchLoadResult<K, V>>;
    try {
      result = this.config.load(keys, call);
    } catch (error) {
      this.#failed(call, error);
      return;
    }
    if (typeof (result as Partial<PromiseLike<unknown>> | null)?.then === 'function') {
      (result as PromiseLike<BatchLoadResult<K, V>>).then(
        (value) => {
          this.#loaded(call, value);
        },
        (error: unknown) => {
          this.#failed(call, error);
        },
      );
    } else this.#loaded(call, result as BatchLoadResult<K, V>);
  }

  #loaded(call: Call<K>, value: BatchLoadResult<K, V>): void {
    let failure: BatchContractError | undefined;
    try {
      failure = this.#route(call, value);
    } catch (error) {
      // A backstop: routing runs user code (resultKey, key, toString); whatever it throws
      // must reach the callers not yet settled, never escape as an unhandled rejection.
      failure = new BatchContractError(
        `${this.#where}: routing the result of load(keys) to its keys threw; the keys not yet settled fail.`,
        call.slots.length,
        undefined,
        { cause: error },
      );
    }
    if (failure !== undefined) {
      this.#contract(call, failure);
      return;
    }
    this.engine.settledEvent(call, call.partial ? 'partial' : 'ok');
    if (call.retry !== undefined) this.#retry(call, call.retry);
    this.engine.callDone(call);
  }

  /** Settles each slot of the call from `value`; returns an error for the whole call instead. */
  #route(call: Call<K>, value: BatchLoadResult<K, V>): BatchContractError | undefined {
    const slots = call.slots;
    const n = slots.length;
    if (this.config.resultKey === undefined && Array.isArray(value)) {
      const values = value as readonly (V | Error)[];
      if (values.length !== n) {
        return new BatchContractError(
          `${this.#where}: load(keys) must return an array with one entry per key, in key order (or a Map, or a record), but returned an array of length ${String(values.length)} for ${String(n)} keys.`,
          n,
          values.length,
        );
      }
      for (let i = 0; i < n; i++) {
        const v = values[i];
        const slot = slots[i] as Slot<K>;
        if (v instanceof Error) this.#failItem(call, slot, v);
        else this.engine.resolveSlot(slot, v);
      }
      return undefined;
    }
    const lookup = this.#lookup(value, slots);
    if (typeof lookup === 'string') {
      return new BatchContractError(
        lookup,
        n,
        Array.isArray(value) ? (value as unknown[]).length : undefined,
      );
    }
    for (const slot of slots) {
      const found = lookup(slot);
      if (found instanceof Unroutable) {
        this.engine.counters.errors.contract++;
        this.engine.rejectSlot(slot, found.error);
        call.partial = true;
      } else if (found === MISSING) {
        if (this.config.onMissing === 'error') {
          this.#failItem(
            call,
            slot,
            new NotFoundError(
              `${this.#where}: load(keys) returned no entry for key ${describe(slot.key)}.`,
              slot.key,
            ),
          );
        } else this.engine.resolveSlot(slot, this.config.onMissing === 'null' ? null : undefined);
      } else if (found instanceof Error) this.#failItem(call, slot, found);
      else this.engine.resolveSlot(slot, found);
    }
    return undefined;
  }

  #failItem(call: Call<K>, slot: Slot<K>, error: unknown): void {
    call.partial = true;
    if (this.#retryable(call.batch, call.attempt, error)) (call.retry ??= []).push(slot);
    else {
      if (NotFoundError.is(error)) this.engine.counters.errors.notFound++;
      else this.engine.counters.errors.item++;
      this.engine.rejectSlot(slot, error);
    }
  }

  #retryable(batch: Batch<K>, attempt: number, error: unknown): boolean {
    return (
      attempt < this.config.maxAttempts &&
      !batch.aborted &&
      this.engine.forcedError === undefined &&
      this.config.retryOn(error)
    );
  }

  /**
   * Returns a function from slot to its value (MISSING, or Unroutable when
   * the result cannot say which value is this key's), or a contract
   * violation message. What is knowable is kept: a key the result names
   * unambiguously gets its value even when other entries cannot be routed;
   * only a key that might have been one of those fails, and it fails with a
   * BatchContractError (never silently `undefined`, never a crash).
   */
  #lookup(value: unknown, slots: readonly Slot<K>[]): ((slot: Slot<K>) => unknown) | string {
    const resultKey = this.config.resultKey;
    const identity = this.config.identity ?? defaultIdentity;
    if (resultKey !== undefined && Array.isArray(value)) {
      const byId = new Map<unknown, unknown>();
      let unroutable: unknown[] | undefined;
      for (const item of value as V[]) {
        try {
          byId.set(identity(resultKey(item)), item);
        } catch (error) {
          (unroutable ??= []).push(error);
        }
      }
      const failure =
        unroutable === undefined
          ? undefined
          : new Unroutable(
              new BatchContractError(
                `${this.#where}: resultKey (or key) threw for ${String(unroutable.length)} of the ${String((value as unknown[]).length)} items load(keys) returned, so the keys no routed item matched cannot be told missing from unroutable; they fail.`,
                slots.length,
                (value as unknown[]).length,
                { cause: unroutable[0] },
              ),
            );
      return (slot) => (byId.has(slot.id) ? byId.get(slot.id) : (failure ?? MISSING));
    }
    if (value instanceof Map) {
      const map = value as ReadonlyMap<unknown, unknown>;
      let byId: Map<unknown, unknown> | undefined;
      let failure: Unroutable | undefined;
      return (slot) => {
        if (map.has(slot.key)) return map.get(slot.key);
        if (byId === undefined) {
          byId = new Map();
          let first: unknown;
          let count = 0;
          for (const [k, v] of map) {
            try {
              byId.set(identity(k as K), v);
            } catch (error) {
              if (count++ === 0) first = error;
            }
          }
          if (count > 0) {
            failure = new Unroutable(
              new BatchContractError(
                `${this.#where}: the key of ${String(count)} of the ${String(map.size)} entries of the Map load(keys) returned has no identity (the key function threw), so the keys not found in it cannot be told missing from unroutable; they fail.`,
                slots.length,
                undefined,
                { cause: first },
              ),
            );
          }
        }
        return byId.has(slot.id) ? byId.get(slot.id) : (failure ?? MISSING);
      };
    }
    if (isRecord(value)) {
      const record = value as Record<string, unknown>;
      // A record is keyed by String(key): two keys of one batch with the same string form
      // (1 and "1") cannot be told apart in it, so neither gets the other's value.
      const names = new Map<Slot<K>, string | Unroutable>();
      const seen = new Map<string, number>();
      for (const slot of slots) {
        let name: string | Unroutable;
        try {
          name = String(slot.key);
          seen.set(name, (seen.get(name) ?? 0) + 1);
        } catch (error) {
          name = new Unroutable(
            new BatchContractError(
              `${this.#where}: load(keys) returned a record, which is keyed by String(key), but String() threw for key ${describe(slot.key)}; return a Map (or use resultKey) for such keys.`,
              slots.length,
              undefined,
              { cause: error },
            ),
          );
        }
        names.set(slot, name);
      }
      return (slot) => {
        const name = names.get(slot);
        if (name === undefined) return MISSING;
        if (name instanceof Unroutable) return name;
        if ((seen.get(name) ?? 0) > 1) {
          return new Unroutable(
            new BatchContractError(
              `${this.#where}: load(keys) returned a record, which is keyed by String(key), but several keys of the batch have the string form ${JSON.stringify(name)} (such as 1 and "1"); return a Map (or use resultKey) to keep them apart.`,
              slots.length,
              undefined,
            ),
          );
        }
        return Object.hasOwn(record, name) ? record[name] : MISSING;
      };
    }
    return `${this.#where}: load(keys) must return an array with one entry per key in key order, a Map, or a record keyed by String(key)${resultKey === undefined ? '' : ', or an array of items for resultKey'}, but returned ${describe(value)} for ${String(slots.length)} keys.`;
  }

  #contract(call: Call<K>, error: BatchContractError): void {
    for (const slot of call.slots) {
      if (slot.state === DONE) continue;
      this.engine.counters.errors.contract++;
      this.engine.rejectSlot(slot, error);
    }
    this.engine.settledEvent(call, 'error');
    this.engine.callDone(call);
  }

  #failed(call: Call<K>, error: unknown): void {
    const { batch, slots, attempt } = call;
    this.engine.settledEvent(call, 'error');
    if (
      this.config.splitOnFailure &&
      slots.length > 1 &&
      !batch.aborted &&
      this.engine.forcedError === undefined
    ) {
      // The halves go one after the other, so isolating a poisoned key never bursts the upstream.
      const half = Math.ceil(slots.length / 2);
      batch.outstanding++;
      const onDone = call.onDone;
      call.onDone = undefined;
      this.engine.callDone(call);
      const run = (part: Slot<K>[], next: () => void): void => {
        const still = part.filter(live);
        if (still.length === 0 || this.engine.forcedError !== undefined) next();
        else this.engine.call(batch, still, attempt, next);
      };
      run(slots.slice(0, half), () => {
        run(slots.slice(half), () => {
          onDone?.();
          batch.outstanding--;
          this.engine.maybeBatchDone(batch);
        });
      });
      return;
    }
    if (this.#retryable(batch, attempt, error)) {
      this.#retry(call, slots);
    } else {
      for (const slot of slots) {
        if (slot.state === DONE) continue;
        this.engine.counters.errors.batch++;
        this.engine.rejectSlot(slot, error);
      }
    }
    this.engine.callDone(call);
  }

  #retry(call: Call<K>, slots: Slot<K>[]): void {
    const { batch, attempt } = call;
    const delay = this.config.backoff?.delayMs(attempt, batch.lastDelayMs) ?? 0;
    batch.lastDelayMs = delay;
    batch.outstanding++;
    sleep(delay, { clock: this.config.clock, signal: batch.signal() }).then(
      () => {
        batch.outstanding--;
        const still = slots.filter(live);
        if (still.length > 0 && this.engine.forcedError === undefined) {
          this.engine.call(batch, still, attempt + 1);
        } else this.engine.maybeBatchDone(batch);
      },
      (reason: unknown) => {
        batch.outstanding--;
        for (const slot of slots) this.engine.rejectSlot(slot, reason);
        this.engine.maybeBatchDone(batch);
      },
    );
  }
}
