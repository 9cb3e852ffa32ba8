/**
 * Test kit of the worker tests: a memory store on a TestClock, gates that
 * hold a handler or a store call until the test lets it go, and a store
 * whose chosen methods are replaced (a fault, a hold).
 */
// eslint-disable-next-line no-restricted-imports -- test-only module, excluded from the build
import { TestClock } from '@batchflight/testing';
import { MemoryJobStore } from '../memory-store.js';
import { Queue } from '../queue.js';
import type { FullJobStore } from '../store.js';

export function setup() {
  const clock = new TestClock();
  const store = new MemoryJobStore({ clock });
  const queue = new Queue(store, { clock });
  return { clock, store, queue };
}

/** One turn of the event loop (no clock time passes). */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A promise with its resolver, to hold a handler until the test lets it go. */
export function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

type Methods = {
  [K in keyof FullJobStore]?: FullJobStore[K] extends ((...args: infer A) => infer R) | undefined
    ? (original: (...args: A) => R, ...args: A) => R
    : never;
};

/**
 * `store` with some methods replaced; each replacement gets the original
 * (bound to the store) first. The returned object is a view: the store
 * itself is unchanged.
 */
export function withMethods(store: FullJobStore, methods: Methods): FullJobStore {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const original = (value as (...args: unknown[]) => unknown).bind(target);
      const replacement = (methods as Record<PropertyKey, unknown>)[prop] as
        ((original: unknown, ...args: unknown[]) => unknown) | undefined;
      return replacement === undefined
        ? original
        : (...args: unknown[]) => replacement(original, ...args);
    },
  });
}
