/**
 * Traces that say why a request waited: a span per bulk call of a batcher, linked to the
 * spans of the callers it served, and a span per single flight (its leader's) linked to
 * the waiters that joined it, each waiter getting a span of its wait linked to the leader.
 *
 * Everything comes from the diagnostics channels, whose subscribers run synchronously in
 * the publisher's call: `singleflight:start` and `singleflight:shared` run in the caller's
 * own context, so the active span there is the caller's. A batcher publishes no event per
 * `load()` (only per bulk call), so the spans of its callers are caught by
 * {@link traceCallers}, which wraps `load` and hands what it caught to the dispatch event.
 * Without it a batch span has no links (the context a batch leaves in may belong to a
 * caller of an earlier batch: the engine arms its scheduler once, not per window).
 *
 * Spans carry the primitive's name and capability, sizes and outcomes, never keys, values
 * or error messages (a message may quote a key): an error is its `error.type`.
 */
import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import type {
  BatchCallOptions,
  BatchDispatchEvent,
  Batcher,
  BatchSettledEvent,
  FlightSettledEvent,
  FlightSharedEvent,
  FlightStartEvent,
} from 'batchflight';
import { ATTR } from './catalog.js';
import type { ChannelHandlers } from './channels.js';
import { errorType } from './recorder.js';

/** Span attribute keys of the traces (besides those of {@link ATTR}). */
export const SPAN_ATTR = {
  /** Keys in a bulk call. */
  size: 'batchflight.batch.size',
  /** How long the oldest key waited before the call, ms. */
  waitMs: 'batchflight.batch.wait_ms',
  /** Callers of a flight, the leader included. */
  callers: 'batchflight.singleflight.callers',
  /** Caller links dropped past {@link MAX_CALLER_LINKS}. */
  droppedLinks: 'batchflight.links.dropped',
  /** On a link: `caller` (a batch's), `waiter` (a flight's) or `leader` (a wait's). */
  linkRole: 'batchflight.link.role',
} as const;

/** The most callers one batch span links (OpenTelemetry's default span link limit). */
export const MAX_CALLER_LINKS = 128;

/** Span contexts of callers, caught by {@link traceCallers}, by the dispatch event they went with. */
const callersOfDispatch = new WeakMap<object, readonly SpanContext[]>();

const activeSpanContext = (): SpanContext | undefined => {
  const span = trace.getSpan(context.active());
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  return trace.isSpanContextValid(spanContext) ? spanContext : undefined;
};

/**
 * Wraps a batcher so that the span of each `load()` / `loadMany()` caller (and each call
 * of its `handler`) is linked from the span of the bulk call that serves it, when
 * {@link instrument} traces. Everything else is the batcher itself.
 *
 * Callers are matched to bulk calls by scope and order: every caller since the last bulk
 * call of its scope goes to the next one. A caller that joined a key already in flight,
 * or loaded while a closed batch waited for a free slot (`maxConcurrentBatches`), is
 * linked from the next bulk call instead of the one that served it.
 *
 * @example
 * ```ts
 * const users = traceCallers(batch({ name: 'users', load: loadUsers }));
 * ```
 */
export function traceCallers<K, V>(batcher: Batcher<K, V>): Batcher<K, V> {
  const pending = new Map<string | undefined, SpanContext[]>();
  const dropped = new Map<string | undefined, number>();
  const catchCaller = (scope: string | undefined): void => {
    const caller = activeSpanContext();
    if (caller === undefined) return;
    const list = pending.get(scope) ?? [];
    if (list.length >= MAX_CALLER_LINKS) {
      dropped.set(scope, (dropped.get(scope) ?? 0) + 1);
      return;
    }
    // A caller that loads several keys in one bulk call is one link.
    if (!list.some((c) => c.spanId === caller.spanId && c.traceId === caller.traceId)) {
      list.push(caller);
    }
    pending.set(scope, list);
  };
  // The batcher's own hook runs just before the channel is published, with the same event
  // object: what was caught goes with it to the channel's subscribers.
  batcher.onDispatch((event) => {
    if (event.attempt !== 1) return;
    const list = pending.get(event.scope);
    pending.delete(event.scope);
    const lost = dropped.get(event.scope) ?? 0;
    dropped.delete(event.scope);
    if (list !== undefined || lost > 0) {
      callersOfDispatch.set(event, Object.assign(list ?? [], { dropped: lost }));
    }
  });
  const load = (key: K, options?: BatchCallOptions): Promise<V> => {
    catchCaller(options?.scope);
    return batcher.load(key, options);
  };
  const loadMany = (keys: readonly K[], options?: BatchCallOptions): Promise<(V | Error)[]> => {
    catchCaller(options?.scope);
    return batcher.loadMany(keys, options);
  };
  const handler: Batcher<K, V>['handler'] = (key, ctx) => {
    catchCaller(ctx.scope);
    return batcher.handler(key, ctx);
  };
  return new Proxy(batcher, {
    get(target, property) {
      if (property === 'load') return load;
      if (property === 'loadMany') return loadMany;
      if (property === 'handler') return handler;
      const value: unknown = Reflect.get(target, property, target);
      // Methods run on the batcher itself (its private fields are not the proxy's).
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

/** Open spans by a key, oldest first: events of one key settle in the order they started. */
class OpenSpans<T> {
  readonly #open = new Map<string, T[]>();

  push(key: string, value: T): void {
    const list = this.#open.get(key);
    if (list === undefined) this.#open.set(key, [value]);
    else list.push(value);
  }

  /** The newest of `key` (the flight a caller joins). */
  last(key: string): T | undefined {
    return this.#open.get(key)?.at(-1);
  }

  /** Takes the oldest of `key` (the one that settles). */
  shift(key: string): T | undefined {
    const list = this.#open.get(key);
    const value = list?.shift();
    if (list?.length === 0) this.#open.delete(key);
    return value;
  }

  /** Takes every open one (a closing instrumentation ends them). */
  drain(): T[] {
    const all = [...this.#open.values()].flat();
    this.#open.clear();
    return all;
  }
}

interface OpenFlight {
  readonly span: Span;
  readonly waits: Span[];
}

/** The span handlers, and `close()` that ends what is still open. */
export function traceHandlers(
  tracer: Tracer,
  scopes: boolean,
): { handlers: ChannelHandlers; close(): void } {
  const attributes = (capability: string, name: string | undefined, scope?: string) => {
    const a: Attributes = { [ATTR.capability]: capability };
    if (name !== undefined) a[ATTR.name] = name;
    if (scopes && scope !== undefined) a[ATTR.scope] = scope;
    return a;
  };
  const batches = new OpenSpans<Span>();
  const flights = new OpenSpans<OpenFlight>();
  // The raw key is part of the map key only (to match start, shared and settled); it is
  // never written to a span.
  const flightKey = (e: { name: string | undefined; scope: string | undefined; key: string }) =>
    `${e.name ?? ''}\u0000${e.scope ?? ''}\u0000${e.key}`;
  const batchKey = (e: BatchDispatchEvent) =>
    `${e.name}\u0000${e.scope ?? ''}\u0000${String(e.attempt)}\u0000${String(e.size)}\u0000${String(e.waitMs)}`;

  const handlers: ChannelHandlers = {
    'batchflight:batch:dispatch': (e: BatchDispatchEvent) => {
      const caught = callersOfDispatch.get(e) as
        (readonly SpanContext[] & { dropped?: number }) | undefined;
      // Not the context the batch left in: the engine's scheduler may have been armed by a
      // caller of an earlier batch, so that span may not be one this call served.
      const callers = caught ?? [];
      const links: Link[] = callers.map((c) => ({
        context: c,
        attributes: { [SPAN_ATTR.linkRole]: 'caller' },
      }));
      // A bulk call serves many traces: it is a trace of its own, linked to each of them.
      const span = tracer.startSpan(`batch ${e.name}`, {
        kind: SpanKind.INTERNAL,
        root: true,
        links,
        attributes: {
          ...attributes('batch', e.name, e.scope),
          [ATTR.attempt]: e.attempt > 1 ? 'retry' : 'first',
          [SPAN_ATTR.size]: e.size,
          [SPAN_ATTR.waitMs]: e.waitMs,
          ...(caught?.dropped ? { [SPAN_ATTR.droppedLinks]: caught.dropped } : {}),
        },
      });
      batches.push(batchKey(e), span);
    },
    'batchflight:batch:settled': (e: BatchSettledEvent) => {
      const span = batches.shift(batchKey(e));
      if (span === undefined) return;
      span.setAttribute(ATTR.outcome, e.outcome);
      if (e.outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
    'batchflight:singleflight:start': (e: FlightStartEvent) => {
      // In the leader's call: its span is the parent.
      const span = tracer.startSpan(
        `singleflight ${e.name ?? ''}`.trimEnd(),
        { kind: SpanKind.INTERNAL, attributes: attributes('singleflight', e.name, e.scope) },
        context.active(),
      );
      flights.push(flightKey(e), { span, waits: [] });
    },
    'batchflight:singleflight:shared': (e: FlightSharedEvent) => {
      const flight = flights.last(flightKey(e));
      if (flight === undefined) return;
      const waiter = activeSpanContext();
      if (waiter !== undefined) {
        flight.span.addLink({ context: waiter, attributes: { [SPAN_ATTR.linkRole]: 'waiter' } });
      }
      // In the waiter's call: its wait is a child of its own span, linked to the leader's.
      flight.waits.push(
        tracer.startSpan(
          `singleflight.wait ${e.name ?? ''}`.trimEnd(),
          {
            kind: SpanKind.INTERNAL,
            attributes: attributes('singleflight', e.name, e.scope),
            links: [
              {
                context: flight.span.spanContext(),
                attributes: { [SPAN_ATTR.linkRole]: 'leader' },
              },
            ],
          },
          context.active(),
        ),
      );
    },
    'batchflight:singleflight:settled': (e: FlightSettledEvent) => {
      const flight = flights.shift(flightKey(e));
      if (flight === undefined) return;
      const outcome = e.ok ? 'ok' : 'error';
      for (const span of [flight.span, ...flight.waits]) {
        span.setAttribute(ATTR.outcome, outcome);
        if (!e.ok) {
          span.setAttribute(ATTR.errorType, errorType(e.error));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
      }
      flight.span.setAttribute(SPAN_ATTR.callers, e.callers);
      for (const wait of flight.waits) wait.end();
      flight.span.end();
    },
  };
  return {
    handlers,
    close: () => {
      for (const span of batches.drain()) span.end();
      for (const flight of flights.drain()) {
        for (const wait of flight.waits) wait.end();
        flight.span.end();
      }
    },
  };
}
