/**
 * The spans of instrument({ tracerProvider }), recorded by the SDK's in-memory exporter, for
 * real batchers and single flights called from inside the callers' own spans (the async
 * hooks context manager carries them, as in a service); and the stream sink's metrics.
 */
import { context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { batch } from 'batchflight/batch';
import { SingleFlight } from 'batchflight/singleflight';
import { stream } from 'batchflight/stream';
import { deferred, TestClock } from '@batchflight/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collectingProvider, total } from './__fixtures__/collect.js';
import { ATTR, instrument, SPAN_ATTR, traceCallers, type Instrumentation } from './index.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = provider.getTracer('the service');
const open: Instrumentation[] = [];

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  contextManager.disable();
  context.disable();
});
afterEach(() => {
  for (const i of open.splice(0)) i.close();
  exporter.reset();
});

/** Runs `fn` inside a span of the service's own, as a request handler would. */
function inRequest<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await fn(span);
    } finally {
      span.end();
    }
  });
}

const spans = (prefix: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.name.startsWith(prefix));
const linkIds = (span: ReadableSpan | undefined): string[] =>
  (span?.links ?? []).map((l) => l.context.spanId).sort();
const noKeys = (span: ReadableSpan | undefined, ...secrets: string[]): void => {
  const text = JSON.stringify({ attributes: span?.attributes, name: span?.name });
  for (const secret of secrets) expect(text).not.toContain(secret);
};

describe('instrument({ tracerProvider }): batch spans', () => {
  it('one span per bulk call, a trace of its own, linked to every caller it served', async () => {
    open.push(instrument({ tracerProvider: provider }));
    const users = traceCallers(
      batch({
        name: 'users',
        maxSize: 3,
        load: (ids: readonly string[]) => Promise.resolve(ids.map((id) => `user ${id}`)),
      }),
    );
    const requests: Span[] = [];
    const values = await Promise.all(
      ['alice@example', 'bob@example', 'carol@example', 'dan@example'].map((id, i) =>
        inRequest(`GET /users/${String(i)}`, (span) => {
          requests.push(span);
          return users.load(id);
        }),
      ),
    );
    expect(values[0]).toBe('user alice@example');
    await users.close();
    // 4 keys in calls of at most 3: two bulk calls, 3 + 1.
    const calls = spans('batch users').sort(
      (a, b) => Number(b.attributes[SPAN_ATTR.size]) - Number(a.attributes[SPAN_ATTR.size]),
    );
    expect(calls.map((s) => s.attributes[SPAN_ATTR.size])).toEqual([3, 1]);
    const ids = requests.map((r) => r.spanContext().spanId);
    expect(linkIds(calls[0])).toEqual(ids.slice(0, 3).sort());
    expect(linkIds(calls[1])).toEqual([ids[3]]);
    for (const call of calls) {
      expect(call.parentSpanContext).toBeUndefined(); // a root: it serves several traces
      expect(call.attributes).toMatchObject({
        [ATTR.name]: 'users',
        [ATTR.capability]: 'batch',
        [ATTR.outcome]: 'ok',
        [ATTR.attempt]: 'first',
      });
      expect(call.links.every((l) => l.attributes?.[SPAN_ATTR.linkRole] === 'caller')).toBe(true);
      noKeys(call, 'alice', 'bob', 'carol', 'dan');
    }
  });

  it('without traceCallers, a batch span links nobody; a failed call is an error span', async () => {
    open.push(instrument({ tracerProvider: provider }));
    const users = batch({
      name: 'failing',
      maxSize: 2,
      load: () => Promise.reject(new TypeError('upstream down for alice')),
    });
    const outcomes = await Promise.allSettled(
      ['alice', 'bob'].map((id) => inRequest(`GET /${id}`, () => users.load(id))),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    await users.close();
    const [call] = spans('batch failing');
    expect(call?.links).toEqual([]);
    expect(call?.attributes[SPAN_ATTR.size]).toBe(2);
    expect(call?.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(call?.attributes[ATTR.outcome]).toBe('error');
    noKeys(call, 'alice', 'upstream down');
  });
});

describe('instrument({ tracerProvider }): single-flight spans', () => {
  it("the leader's span is a child of the leader's request, linked to each waiter; each wait links to the leader", async () => {
    open.push(instrument({ tracerProvider: provider }));
    const flights = new SingleFlight({ name: 'settings' });
    const gate = deferred<string>();
    const requests: Span[] = [];
    const runs = ['leader', 'waiter 1', 'waiter 2'].map((name) =>
      inRequest(name, (span) => {
        requests.push(span);
        return flights.run('tenant-42/settings', () => gate.promise);
      }),
    );
    gate.resolve('v');
    expect(await Promise.all(runs)).toEqual(['v', 'v', 'v']);
    const [leader, ...waiters] = requests.map((r) => r.spanContext());
    const [flight] = spans('singleflight settings');
    expect(flight?.parentSpanContext?.spanId).toBe(leader?.spanId);
    expect(linkIds(flight)).toEqual(waiters.map((w) => w.spanId).sort());
    expect(flight?.attributes).toMatchObject({
      [ATTR.name]: 'settings',
      [ATTR.outcome]: 'ok',
      [SPAN_ATTR.callers]: 3,
    });
    const waits = spans('singleflight.wait settings');
    expect(waits.map((w) => w.parentSpanContext?.spanId).sort()).toEqual(
      waiters.map((w) => w.spanId).sort(),
    );
    for (const wait of waits) {
      expect(linkIds(wait)).toEqual([flight?.spanContext().spanId]);
      expect(wait.links[0]?.attributes?.[SPAN_ATTR.linkRole]).toBe('leader');
    }
    for (const span of [flight, ...waits]) noKeys(span, 'tenant-42');
  });

  it('a failed flight marks the leader and the waits as errors with the error type only', async () => {
    open.push(instrument({ tracerProvider: provider }));
    const flights = new SingleFlight({ name: 'flaky' });
    const gate = deferred<string>();
    const runs = ['a', 'b'].map((name) =>
      inRequest(name, () => flights.run('k', () => gate.promise)),
    );
    gate.reject(new RangeError('secret-token rejected'));
    await Promise.allSettled(runs);
    const all = [...spans('singleflight flaky'), ...spans('singleflight.wait flaky')];
    expect(all).toHaveLength(2);
    for (const span of all) {
      expect(span.status.code).toBe(2);
      expect(span.attributes[ATTR.errorType]).toBe('RangeError');
      noKeys(span, 'secret-token');
    }
  });

  it('records no span without a tracerProvider, and none for a group left out', async () => {
    open.push(instrument({ meterProvider: collectingProvider().provider }));
    open.push(instrument({ tracerProvider: provider, capabilities: ['batch'] }));
    const flights = new SingleFlight({ name: 'untraced' });
    await inRequest('r', () => flights.run('k', () => Promise.resolve(1)));
    expect(spans('singleflight')).toEqual([]);
    expect(spans('r')).toHaveLength(1);
  });
});

describe('instrument(): stream sink metrics', () => {
  it('records writes, items, bytes, dead letters and what a forced close left', async () => {
    const { provider: meterProvider, reader } = collectingProvider();
    open.push(instrument({ meterProvider }));
    const clock = new TestClock();
    const sink = stream<string>({
      name: 'events',
      maxItems: 3,
      lingerMs: 1_000,
      sizeOf: (item) => item.length,
      retry: { maxAttempts: 1 },
      clock,
      writeMany: (items) => {
        if (items.includes('poison')) throw new TypeError('cannot write poison');
      },
    });
    for (const item of ['aa', 'bb', 'cc', 'poison']) await sink.push(item);
    await clock.advance(1_000);
    await sink.close();
    const points = await reader.points();
    const events = { [ATTR.name]: 'events', [ATTR.capability]: 'stream' };
    expect(total(points, 'batchflight.stream.items.written', events)).toBe(3);
    expect(
      total(points, 'batchflight.stream.writes', { ...events, [ATTR.outcome]: 'committed' }),
    ).toBe(1);
    expect(
      total(points, 'batchflight.stream.writes', { ...events, [ATTR.outcome]: 'failed' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      total(points, 'batchflight.stream.write.bytes', { ...events, [ATTR.outcome]: 'committed' }),
    ).toBe(6);
    expect(
      total(points, 'batchflight.stream.write.size', { ...events, [ATTR.outcome]: 'committed' }),
    ).toBe(3);
    expect(
      total(points, 'batchflight.stream.dead_letters', {
        ...events,
        [ATTR.errorType]: 'TypeError',
      }),
    ).toBe(1);
  });
});
