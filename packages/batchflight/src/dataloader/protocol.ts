/**
 * How the DataLoader façade makes a bulk call on the batch engine and
 * settles it: the `dataloader` contract, turn for turn. The function is
 * called at dispatch; a synchronous throw or a non-promise fails the batch
 * at once; a promise of an array of the right length answers the hits of
 * the tick first, then each key (an Error fails that key alone); anything
 * else, or a rejection, fails the batch one turn later (the original's
 * `.then().catch()`), and a failed batch is cleared from the cache.
 */
import {
  FULFILLED,
  REJECTED,
  UNKNOWN,
  type Call,
  type CallProtocol,
  type EngineCore,
  type Slot,
} from '../batch/internal.js';
import { isThenable, type Hits } from './hits.js';
import { CONTRACT, isArrayLike } from './validate.js';

/** What the protocol needs of its loader's cache. */
export interface LoaderCache<K> {
  /** Clears the key from the cache (a failed batch is not cached). */
  clear(key: K): void;
  /** `cacheErrors: false`: forgets the slot's key, unless the cache holds a newer entry. */
  forget(slot: Slot<K>): void;
  readonly cacheErrors: boolean;
}

/** The protocol of one DataLoader. */
export class LoaderProtocol<K> implements CallProtocol<K> {
  constructor(
    readonly engine: EngineCore<K>,
    readonly batchLoadFn: (keys: readonly K[]) => unknown,
    readonly cache: LoaderCache<K>,
  ) {}

  start(call: Call<K>, keys: K[]): void {
    let result: unknown;
    try {
      result = this.batchLoadFn(keys);
    } catch (error) {
      this.#fail(
        call,
        new TypeError(`${CONTRACT}the function errored synchronously: ${String(error)}.`),
      );
      return;
    }
    if (!isThenable(result)) {
      this.#fail(
        call,
        new TypeError(`${CONTRACT}the function did not return a Promise: ${String(result)}.`),
      );
      return;
    }
    (result as PromiseLike<unknown>).then(
      (values) => {
        this.#answered(call, keys, values);
      },
      (error: unknown) => {
        this.#failLater(call, error);
      },
    );
  }

  #answered(call: Call<K>, keys: K[], values: unknown): void {
    if (!isArrayLike(values)) {
      this.#failLater(
        call,
        new TypeError(
          `${CONTRACT}the function did not return a Promise of an Array: ${String(values)}.`,
        ),
      );
      return;
    }
    if (values.length !== keys.length) {
      this.#failLater(
        call,
        new TypeError(
          `${CONTRACT}the function did not return a Promise of an Array of the same length as the Array of keys.` +
            `\n\nKeys:\n${String(keys)}` +
            // The original's message stringifies the values exactly this way, array-likes included.
            // eslint-disable-next-line @typescript-eslint/no-base-to-string
            `\n\nValues:\n${String(values)}`,
        ),
      );
      return;
    }
    (call.batch.attachment as Hits | undefined)?.settle();
    const { engine, cache } = this;
    const slots = call.slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot<K>;
      const value = values[i];
      slot.value = value;
      if (value instanceof Error) {
        if (!cache.cacheErrors) cache.forget(slot);
        slot.outcome = REJECTED;
        engine.rejectSlot(slot, value);
        handledByHits(slot);
      } else {
        slot.outcome = isThenable(value) ? UNKNOWN : FULFILLED;
        engine.resolveSlot(slot, value);
      }
    }
    engine.callDone(call);
  }

  /** A failure seen in the answer's turn settles in the next (the original's `.catch`). */
  #failLater(call: Call<K>, error: unknown): void {
    queueMicrotask(() => {
      this.#fail(call, error);
    });
  }

  /** A failed batch: its hits settle, each key is cleared from the cache and fails. */
  #fail(call: Call<K>, error: unknown): void {
    (call.batch.attachment as Hits | undefined)?.settle();
    const { engine, cache } = this;
    for (const slot of call.slots) {
      cache.clear(slot.key);
      slot.outcome = REJECTED;
      slot.value = error;
      engine.rejectSlot(slot, error);
      handledByHits(slot);
    }
    engine.callDone(call);
  }
}

function noop(): void {
  // marks a rejection as handled
}

/**
 * A rejected key that a hit of its own tick read through the gate: the
 * original's hit would have adopted its promise, which marks the rejection
 * handled (before the end of this turn, so unhandled-rejection tracking sees
 * the same as with the original).
 */
function handledByHits<K>(slot: Slot<K>): void {
  if (slot.read !== undefined) slot.promise?.catch(noop);
}
