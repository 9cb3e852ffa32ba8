/**
 * The composition model every capability plugs into.
 *
 * A {@link Handler} is an async function of an input and a {@link CallContext}.
 * A {@link Layer} wraps a handler into another handler with the same shape, so
 * protection (retry, breaker, rate limit, …) composes by plain function
 * wrapping, and a batch source, a job handler or a gateway route can all be
 * protected by the same stack.
 */
import { describe } from './describe.js';
import { callOptions } from './validate.js';

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

/**
 * Something that wraps a handler into a handler of the same shape.
 *
 * The policies (retry, timeout, breaker, bulkhead, rate limit, fallback,
 * hedge) implement it with a `wrap` that is generic over the handler's input
 * and output, so one policy built without type arguments wraps handlers of
 * any types: `timeout({ ms: 500 }).wrap(getUser)` is a `Handler<number, User>`.
 */
export interface Layer<I, O> {
  /** Returns a handler that applies this layer, then calls `next`. */
  wrap(next: Handler<I, O>): Handler<I, O>;
}

/**
 * Any layer, whatever its types: what {@link stack} accepts. The handler
 * given to the stack's `wrap` is checked against every layer there.
 */
export interface AnyLayer {
  /** See {@link Layer.wrap}. */
  // `never` accepts every wrap signature; the real check happens in StackedLayer#wrap.
  wrap(next: never): unknown;
}

/**
 * Resolves to `unknown` when every layer of `L` can wrap a `Handler<I, O>`;
 * otherwise to an object type whose property names the layers that cannot
 * (`false` at their position), which is what a type error then shows.
 */
export type StackAccepts<L extends readonly AnyLayer[], I, O> =
  L[number] extends Layer<I, O>
    ? unknown
    : {
        readonly 'these layers cannot wrap the handler (false)': {
          readonly [K in keyof L]: L[K] extends Layer<I, O> ? true : false;
        };
      };

/** The input type a layer fixes: `I` of a `Layer<I, O>`, the bound of a generic wrap (`unknown` when none). */
export type LayerInput<T> = T extends { wrap(next: Handler<infer I, infer _O>): unknown }
  ? I
  : unknown;

/** The output type a layer fixes: `O` of a `Layer<I, O>` (`unknown` for a wrap generic in it). */
export type LayerOutput<T> = T extends { wrap(next: Handler<infer _I, infer O>): unknown }
  ? O
  : unknown;

/** The input every layer of `L` accepts: the intersection of their {@link LayerInput}s. */
export type StackInput<L extends readonly unknown[]> = L extends readonly [infer H, ...infer R]
  ? LayerInput<H> & StackInput<R>
  : unknown;

/** The output every layer of `L` accepts: the intersection of their {@link LayerOutput}s. */
export type StackOutput<L extends readonly unknown[]> = L extends readonly [infer H, ...infer R]
  ? LayerOutput<H> & StackOutput<R>
  : unknown;

/**
 * What {@link stack} returns: a layer whose `wrap` takes its types from the
 * handler, checked against each layer of the stack. A handler written inline
 * without annotations gets the types the layers fix ({@link StackInput},
 * {@link StackOutput}), e.g. those of a `flights.layer<number, User>(...)`.
 */
export interface StackedLayer<L extends readonly AnyLayer[]> {
  /** Wraps `next` in every layer of the stack, the first one outermost. */
  wrap<I = StackInput<L>, O = StackOutput<L>>(
    next: Handler<I, O> & StackAccepts<L, I, O>,
  ): Handler<I, O>;
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
 * Rejects with `error` unchanged: a wrapped call's errors (and abort
 * reasons) pass through as they are, Error or not.
 */
export function rejectWith(error: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrown unchanged on purpose
  return Promise.reject(error);
}

/**
 * The property by which a context whose `signal` is created on first read
 * (the contexts of timeout and hedge) tells whether it is aborted, and why,
 * without creating the signal: the abort reason, or `undefined` while not
 * aborted (an aborted signal's reason is never `undefined`). Registered with
 * `Symbol.for`, so two installed copies of batchflight understand each other.
 */
export const ABORT_REASON: unique symbol = Symbol.for('batchflight.abortReason');

/** A {@link CallContext} that can report an abort without creating its signal. */
export interface LazySignalContext extends CallContext {
  /** See {@link ABORT_REASON}. */
  readonly [ABORT_REASON]: unknown;
}

/**
 * The reason `ctx` is aborted, or `undefined` while it is not. Reads a lazy
 * context's {@link ABORT_REASON} rather than its signal, so checking costs no
 * AbortController under a timeout or hedge layer.
 */
export function abortReasonOf(ctx: CallContext): unknown {
  if (ABORT_REASON in ctx) return (ctx as LazySignalContext)[ABORT_REASON];
  const signal = ctx.signal;
  return signal.aborted ? (signal.reason as unknown) : undefined;
}

/**
 * A rejection with the abort reason when `ctx` is already aborted, else
 * `undefined`: the first line of every layer's handler, so a call whose
 * caller already left starts nothing (no attempt, no slot, no probe).
 *
 * @example
 * ```ts
 * return (input, ctx) => refuseIfAborted(ctx) ?? next(input, ctx);
 * ```
 */
export function refuseIfAborted(ctx: CallContext): Promise<never> | undefined {
  const reason = abortReasonOf(ctx);
  return reason === undefined ? undefined : rejectWith(reason);
}

/**
 * Runs one function through a layer: the `execute(fn, options)` of the
 * policies (retry has its own, it numbers attempts). The function takes
 * only the context, so the layer's input slot carries `undefined`. The
 * options are checked (`where` names the caller in the error).
 *
 * @example
 * ```ts
 * const user = await executeOnce(timeout({ ms: 500 }), ({ signal }) => fetchUser(42, { signal }));
 * ```
 */
export function executeOnce<T>(
  layer: Layer<undefined, T>,
  fn: (ctx: CallContext) => Promise<T>,
  options?: CallOptions,
  where = 'execute()',
): Promise<T> {
  try {
    callOptions(where, options);
  } catch (error) {
    return rejectWith(error);
  }
  return layer.wrap((_: undefined, ctx: CallContext) => fn(ctx))(undefined, toContext(options));
}

/**
 * Composes layers into one. The first layer sees the call first (request
 * order), so `stack(retry, breaker).wrap(h)` retries around the breaker:
 * `retry.wrap(breaker.wrap(h))`.
 *
 * The stack takes its types from the handler given to `wrap`, and checks
 * that every layer can wrap it, so layers built without type arguments
 * compose with typed handlers.
 *
 * @example
 * ```ts
 * const protectedCall = stack(retry({ maxAttempts: 3 }), timeout({ ms: 500 })).wrap(fetchUser);
 * await protectedCall(42, toContext());
 * ```
 */
export function stack<const L extends readonly AnyLayer[]>(...layers: L): StackedLayer<L>;
/** The form with explicit types: every layer must be a `Layer<I, O>`. */
export function stack<I, O>(...layers: readonly Layer<I, O>[]): Layer<I, O>;
export function stack(...layers: readonly Layer<unknown, unknown>[]): Layer<unknown, unknown> {
  for (const [index, layer] of layers.entries()) {
    if (typeof (layer as Partial<Layer<unknown, unknown>> | undefined)?.wrap !== 'function') {
      throw new TypeError(
        `stack(): argument ${String(index)} must be a Layer (an object with a wrap(handler) method), got ${describe(layer)}.`,
      );
    }
  }
  return {
    wrap(next: Handler<unknown, unknown>): Handler<unknown, unknown> {
      let handler = next;
      for (let i = layers.length - 1; i >= 0; i--)
        handler = (layers[i] as Layer<unknown, unknown>).wrap(handler);
      return handler;
    },
  };
}

export { describe };
