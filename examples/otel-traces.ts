/**
 * docs/observability.md "Traces": a batch's span links the spans of the callers it served,
 * a single flight's span links its waiters, each waiter's wait links the leader. The SDK
 * setup is the service's own; here, an in-memory exporter to read the spans back.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { batch } from 'batchflight/batch';
import { SingleFlight } from 'batchflight/singleflight';

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
// Spans follow the async calls of a request only with a context manager (an SDK setup
// such as @opentelemetry/sdk-node registers one).
const contextManager = new AsyncLocalStorageContextManager().enable();
context.setGlobalContextManager(contextManager);
const tracer = tracerProvider.getTracer('api');
const db = {
  findUsers: (ids: readonly number[]) => Promise.resolve(ids.map((id) => ({ id }))),
  settings: () => Promise.resolve({ theme: 'dark' }),
};

// #region traces
import { instrument, traceCallers } from '@batchflight/otel';

const instrumentation = instrument({ tracerProvider }); // metrics too, on the global meter
// traceCallers: each load's caller span is linked from the span of the bulk call serving it.
const users = traceCallers(batch({ name: 'users', load: (ids: number[]) => db.findUsers(ids) }));
const settings = new SingleFlight({ name: 'settings' });

// Three requests, each in its own span: one bulk call links all three; one flight (the
// first request's) links the two others, whose `singleflight.wait` spans link it back.
await Promise.all(
  [1, 2, 3].map((id) =>
    tracer.startActiveSpan(`GET /users/${String(id)}`, async (span) => {
      await users.load(id);
      await settings.run('global', () => db.settings());
      span.end();
    }),
  ),
);
// #endregion

export const spans = exporter.getFinishedSpans().map((span) => ({
  name: span.name,
  spanId: span.spanContext().spanId,
  parent: span.parentSpanContext?.spanId,
  links: span.links.map((link) => link.context.spanId),
}));
instrumentation.close();
await users.close();
contextManager.disable();
context.disable();
trace.disable();
