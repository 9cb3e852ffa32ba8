/**
 * Small promise helpers shared by the tests of every package: hold a call
 * until the test lets it go, and record how a promise settled.
 */

/** A promise with its `resolve` and `reject`, settled when the test says so. */
export interface Deferred<T> {
  /** Settles when {@link Deferred.resolve} or {@link Deferred.reject} is called. */
  readonly promise: Promise<T>;
  /** Fulfils {@link Deferred.promise} with `value`. */
  readonly resolve: (value: T) => void;
  /** Rejects {@link Deferred.promise} with `error`. */
  readonly reject: (error: unknown) => void;
}

/**
 * A promise and its resolve/reject, to hold a call (a load, an execution, a
 * handler) until the test lets it go.
 *
 * @example
 * ```ts
 * const gate = deferred<string>();
 * const call = flights.run('k', () => gate.promise);
 * gate.resolve('v'); // every waiter of `k` gets 'v'
 * ```
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How a promise settled: its value, or the error it rejected with. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Records how `promise` settled without letting its rejection go unhandled,
 * so a test can assert on a rejection that happens before it awaits it.
 */
export function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Resolves with what `promise` rejects with, or undefined when it resolves. */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}
