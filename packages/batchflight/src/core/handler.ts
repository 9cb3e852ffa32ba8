/**
 * The composition model every capability plugs into.
 *
 * A {@link Handler} is an async function of an input and a {@link CallContext}.
 * A {@link Layer} wraps a handler into another handler with the same shape, so
 * protection (retry, breaker, rate limit, …) composes by plain function
 * wrapping, and a batch source, a job handler or a gateway route can all be
 * protected by the same stack.
 */

/**
 * What travels with every call besides its input.
 *
 * `signal` is always present so layers never have to branch on its absence;
 * callers that have none get {@link NEVER_ABORTED}.
 */
export interface CallContext {
  /** Aborting it asks the call to stop; rejections carry `signal.reason`. */
  readonly signal: AbortSignal;
  /**
   * Partition for everything shared between callers (coalescing keys, batches,
   * cache keys): two scopes never share a result. Typically a tenant id.
   */
  readonly scope?: string | undefined;
  /**
   * Ask primitives that hold calls back (batch windows, rate-limit queues,
   * bulkhead queues) to let this one through as soon as they safely can.
   */
  readonly urgent?: boolean | undefined;
}

/** Per-call options accepted by the plain-function APIs; all optional. */
export interface CallOptions {
  /** Abort this caller's wait. The rejection is `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Partition key (tenant, security domain); see {@link CallContext.scope}. */
  readonly scope?: string | undefined;
  /** See {@link CallContext.urgent}. */
  readonly urgent?: boolean | undefined;
}

/** An async function of an input and a context: the unit every layer wraps. */
export type Handler<I, O> = (input: I, ctx: CallContext) => Promise<O>;

/** Something that wraps a handler into a handler of the same shape. */
export interface Layer<I, O> {
  /** Returns a handler that applies this layer, then calls `next`. */
  wrap(next: Handler<I, O>): Handler<I, O>;
}

/**
 * A signal that never aborts, shared by every call made without one, so the
 * common path allocates no AbortController.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

const EMPTY_CONTEXT: CallContext = Object.freeze({ signal: NEVER_ABORTED });

/**
 * Turns optional {@link CallOptions} into a full {@link CallContext}.
 * Allocation-free when no options are given.
 */
export function toContext(options?: CallOptions | CallContext): CallContext {
  if (options === undefined) return EMPTY_CONTEXT;
  // Options that carry a signal already have the shape of a context.
  if (options.signal !== undefined) return options as CallContext;
  return {
    signal: NEVER_ABORTED,
    scope: options.scope,
    urgent: options.urgent,
  };
}

/**
 * Runs one function through a layer: the `execute(fn, options)` of the
 * policies (retry has its own, it numbers attempts). The function takes
 * only the context, so the layer's input slot carries `undefined`.
 *
 * @example
 * ```ts
 * const user = await executeOnce(timeout({ ms: 500 }), ({ signal }) => fetchUser(42, { signal }));
 * ```
 */
export function executeOnce<T>(
  layer: Layer<unknown, T>,
  fn: (ctx: CallContext) => Promise<T>,
  options?: CallOptions,
): Promise<T> {
  return layer.wrap((_: unknown, ctx: CallContext) => fn(ctx))(undefined, toContext(options));
}

/**
 * Composes layers into one. The first layer sees the call first (request
 * order), so `stack(retry, breaker).wrap(h)` retries around the breaker:
 * `retry.wrap(breaker.wrap(h))`.
 *
 * @example
 * ```ts
 * const protectedCall = stack(retry({ maxAttempts: 3 }), timeout({ ms: 500 })).wrap(fetchUser);
 * await protectedCall(42, toContext());
 * ```
 */
export function stack<I, O>(...layers: readonly Layer<I, O>[]): Layer<I, O> {
  for (const [index, layer] of layers.entries()) {
    if (typeof (layer as Partial<Layer<I, O>> | undefined)?.wrap !== 'function') {
      throw new TypeError(
        `stack(): argument ${String(index)} must be a Layer (an object with a wrap(handler) method), got ${describe(layer)}.`,
      );
    }
  }
  return {
    wrap(next: Handler<I, O>): Handler<I, O> {
      let handler = next;
      for (let i = layers.length - 1; i >= 0; i--)
        handler = (layers[i] as Layer<I, O>).wrap(handler);
      return handler;
    },
  };
}

/** A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)}${typeof value === 'bigint' ? 'n' : ''}`;
    case 'function':
      return `a function${value.name ? ` (${value.name})` : ''}`;
    case 'symbol':
      return value.toString();
    default: {
      if (Array.isArray(value)) return `an array of length ${String(value.length)}`;
      const name = (value as { constructor?: { name?: string } }).constructor?.name;
      return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
    }
  }
}
