/**
 * amqpSource() on a real RabbitMQ: prefetch bounds what the broker pushes,
 * `multiple` acks cover only contiguous committed deliveries, poison goes
 * to the dead-letter exchange, a retryable failure is requeued after its
 * backoff, unacked deliveries come back after a crash, a lost connection
 * errors or reconnects, and close() drains.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { EventChannel } from 'batchflight';
import { TestClock, deferred } from '@batchflight/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AmqpAckEvent,
  type AmqpMessage,
  type AmqpNackEvent,
  AmqpSourceError,
  amqpChannels,
  amqpSource,
} from './index.js';
import {
  AMQP_URL,
  type Admin,
  admin,
  amqpUnavailable,
  bodies,
  uniqueName,
  until,
} from './__fixtures__/amqp.js';
import { type TcpProxy, startProxy } from './__fixtures__/proxy.js';

const skip = await amqpUnavailable();
const text = (message: { content: Buffer }): string => message.content.toString();
const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** Collects what a diagnostics channel publishes until `stop()`. */
function listen<E>(channel: EventChannel<E>): { events: E[]; stop(): void } {
  const events: E[] = [];
  const listener = (event: unknown): void => {
    events.push(event as E);
  };
  diagnosticsChannel.subscribe(channel.name, listener);
  return { events, stop: () => diagnosticsChannel.unsubscribe(channel.name, listener) };
}

describe('amqpSource() options', () => {
  it('names the option, restates its contract and echoes the value', () => {
    expect(() => amqpSource({ connection: 'http://x', queue: 'q' })).toThrow(
      'amqpSource(amqp): option connection must be an amqp:// or amqps:// URL, got "http://x".',
    );
    expect(() => amqpSource({ connection: AMQP_URL, queue: '' })).toThrow(
      'amqpSource(amqp): option queue must be the name of an existing queue (1 to 255 characters), got "".',
    );
    expect(() => amqpSource({ connection: AMQP_URL, queue: 'q', prefetch: 70_000 })).toThrow(
      "option prefetch must be an integer from 1 to 65535 (AMQP's limit), got 70000.",
    );
    expect(() =>
      amqpSource({ connection: AMQP_URL, queue: 'q', name: 'clicks', requeue: { maxAttempts: 0 } }),
    ).toThrow(
      'amqpSource(clicks): option requeue.maxAttempts must be an integer >= 1 or Infinity, got 0.',
    );
    expect(() =>
      amqpSource({ connection: AMQP_URL, queue: 'q', reconnect: { maxAtempts: 3 } as never }),
    ).toThrow('unknown option "maxAtempts"');
    expect(() => amqpSource({ connection: AMQP_URL, queue: 'q', prefech: 10 } as never)).toThrow(
      'amqpSource(): unknown option "prefech"',
    );
    const borrowed = { createChannel: () => Promise.reject(new Error('unused')) } as never;
    expect(() => amqpSource({ connection: borrowed, queue: 'q', reconnect: true })).toThrow(
      /option reconnect needs a connection the source can make again/,
    );
  });

  it('sink() refuses a maxBuffered other than the prefetch', () => {
    const source = amqpSource({ connection: AMQP_URL, queue: 'q', prefetch: 100 });
    expect(() => source.sink({ writeMany: () => undefined, maxBuffered: 500 })).toThrow(
      "amqpSource(amqp).sink(): option maxBuffered is the source's prefetch (100), so that the broker never pushes more than the sink may buffer; got 500.",
    );
    expect(source.sink({ writeMany: () => undefined }).name).toBe('amqp');
  });
});

describe.skipIf(skip !== null)('amqpSource() on RabbitMQ', () => {
  let broker: Admin;
  let proxy: TcpProxy | undefined;
  beforeEach(async () => {
    broker = await admin();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await broker.cleanup();
  });

  it('writes every message once and acks them with multiple acks; the queue is empty after', async () => {
    const queue = uniqueName('basic');
    await broker.queue(queue);
    await broker.publish(queue, bodies(500));
    const acks = listen<AmqpAckEvent>(amqpChannels.ack);
    const source = amqpSource({ connection: AMQP_URL, queue, prefetch: 100, decode: text });
    const written: string[] = [];
    const sink = source.sink({
      writeMany: (messages) => {
        written.push(...messages.map((m) => m.body));
      },
      maxItems: 50,
      lingerMs: 1,
    });
    const consuming = sink.consume(source);
    await until(() => source.stats().acked === 500);
    await sink.close();
    await consuming;
    expect(await source.close()).toEqual({ forced: false, unsettled: 0 });
    acks.stop();
    expect(sorted(written)).toEqual(sorted(bodies(500)));
    const stats = source.stats();
    expect(stats).toMatchObject({ delivered: 500, redelivered: 0, acked: 500, stale: 0 });
    expect(stats.ackFrames).toBeLessThan(stats.acked);
    expect(acks.events.reduce((n, e) => n + e.messages, 0)).toBe(500);
    expect(await broker.ready(queue)).toBe(0);
  });

  /** `total` messages consumed with `prefetch` into writes of ten that wait for `gate`. */
  async function gated(label: string, total: number, prefetch: number) {
    const queue = uniqueName(label);
    await broker.queue(queue);
    await broker.publish(queue, bodies(total));
    const gate = deferred<undefined>();
    const source = amqpSource({ connection: AMQP_URL, queue, prefetch, decode: text });
    const written: string[] = [];
    const sink = source.sink({
      writeMany: async (messages) => {
        await gate.promise;
        written.push(...messages.map((m) => m.body));
      },
      maxItems: 10,
    });
    return { queue, gate, source, sink, written, consuming: sink.consume(source) };
  }

  it('prefetch bounds the deliveries: the broker pushes no more than the sink may buffer', async () => {
    const { queue, gate, source, sink, written, consuming } = await gated('prefetch', 100, 20);
    await until(() => source.stats().delivered === 20);
    // The broker's own count: 80 were never delivered while 20 wait for their write.
    expect(await broker.ready(queue)).toBe(80);
    expect(source.stats()).toMatchObject({ delivered: 20, unsettled: 20 });
    expect(sink.stats().buffered).toBeLessThanOrEqual(20);
    gate.resolve(undefined);
    await until(() => source.stats().acked === 100);
    await sink.close();
    await consuming;
    await source.close();
    expect(sorted(written)).toEqual(sorted(bodies(100)));
  });

  /** Two writes of ten: the first held at a gate, the second committed. */
  async function outOfOrder(label: string) {
    const queue = uniqueName(label);
    await broker.queue(queue);
    await broker.publish(queue, bodies(20));
    proxy = await startProxy(AMQP_URL);
    const first = deferred<undefined>();
    const source = amqpSource({ connection: proxy.url, queue, prefetch: 20, decode: text });
    const written: string[] = [];
    const sink = source.sink({
      writeMany: async (messages) => {
        if (messages.some((m) => m.body === 'm0')) await first.promise;
        written.push(...messages.map((m) => m.body));
      },
      maxItems: 10,
      maxConcurrentWrites: 2,
    });
    const consuming = sink.consume(source);
    await until(() => written.length === 10);
    expect(sorted(written)).toEqual(sorted(bodies(20).slice(10)));
    return { queue, first, source, sink, consuming };
  }

  it('a later write that commits first is acked only once the earlier one committed, in one frame', async () => {
    const { first, source, sink, consuming } = await outOfOrder('contiguous');
    expect(source.stats()).toMatchObject({ acked: 0, ackFrames: 0, ackBlocked: 10 });
    const acks = listen<AmqpAckEvent>(amqpChannels.ack);
    first.resolve(undefined);
    await until(() => source.stats().acked === 20);
    acks.stop();
    expect(acks.events).toEqual([{ name: 'amqp', deliveryTag: 20, messages: 20 }]);
    await sink.close();
    await consuming;
    await source.close();
  });

  it('after a crash every unacked delivery comes back, the committed-but-blocked ones too', async () => {
    const { queue, first, source, sink, consuming } = await outOfOrder('crash-gap');
    proxy?.cut(); // the connection dies with tags 11..20 committed and 1..10 in flight
    await expect(consuming).rejects.toSatisfy(
      (error) => AmqpSourceError.is(error) && error.reason === 'connection-lost',
    );
    first.resolve(undefined);
    await sink.close();
    await source.close();
    // Nothing was acked, so all 20 are back, flagged redelivered.
    await until(async () => (await broker.ready(queue)) === 20);
    const again = amqpSource({ connection: AMQP_URL, queue, decode: text });
    const seen: AmqpMessage<string>[] = [];
    for await (const message of again) {
      seen.push(message);
      message.ack();
      if (seen.length === 20) break;
    }
    await again.close();
    expect(sorted(seen.map((m) => m.body))).toEqual(sorted(bodies(20)));
    expect(seen.every((m) => m.redelivered && m.attempt === 2)).toBe(true);
    expect(source.stats()).toMatchObject({ acked: 0, lost: 1, stale: 20, connected: false });
    expect(await broker.ready(queue)).toBe(0);
  });

  it('poison goes to the dead-letter exchange (a write that fails alone, or a body decode throws on)', async () => {
    const queue = uniqueName('poison');
    const dlq = await broker.queueWithDeadLetter(queue);
    const sent = [...bodies(30).slice(0, 15), 'poison', 'undecodable', ...bodies(30).slice(15)];
    await broker.publish(queue, sent);
    const nacks = listen<AmqpNackEvent>(amqpChannels.nack);
    const sourceDead: string[] = [];
    const source = amqpSource({
      connection: AMQP_URL,
      queue,
      decode: (message) => {
        if (text(message) === 'undecodable') throw new SyntaxError('not an event');
        return text(message);
      },
      onDeadLetter: ({ message }) => sourceDead.push(text(message)),
    });
    const written: string[] = [];
    const sinkDead: string[] = [];
    const sink = source.sink({
      writeMany: (messages) => {
        if (messages.some((m) => m.body === 'poison')) throw new RangeError('bad row');
        written.push(...messages.map((m) => m.body));
      },
      maxItems: 100,
      lingerMs: 5,
      onDeadLetter: ({ item }) => sinkDead.push(item.body),
    });
    const consuming = sink.consume(source);
    await until(() => source.stats().acked === 30 && source.stats().deadLettered === 2);
    await sink.close();
    await consuming;
    await source.close();
    nacks.stop();
    expect(sorted(written)).toEqual(sorted(bodies(30)));
    expect(sorted(await broker.drain(dlq))).toEqual(['poison', 'undecodable']);
    expect(sourceDead).toEqual(['undecodable']);
    expect(sinkDead).toEqual(['poison']);
    expect(sorted(nacks.events.map((e) => `${e.outcome}:${e.reason}`))).toEqual([
      'dead-letter:decode',
      'dead-letter:write',
    ]);
    expect(source.stats()).toMatchObject({ deadLettered: 2, decodeErrors: 1, requeued: 0 });
    expect(await broker.ready(queue)).toBe(0);
  });

  it('a retryable failure is held for its backoff, then requeued and written on redelivery', async () => {
    class Flaky extends Error {}
    const queue = uniqueName('requeue');
    await broker.queue(queue);
    await broker.publish(queue, [...bodies(5), 'flaky', ...bodies(5, 'n')]);
    const clock = new TestClock();
    const source = amqpSource({
      connection: AMQP_URL,
      queue,
      decode: text,
      clock,
      requeue: { backoff: 5_000 },
    });
    const written: { body: string; attempt: number }[] = [];
    const sink = source.sink({
      writeMany: (messages) => {
        if (messages.some((m) => m.body === 'flaky' && m.attempt === 1)) throw new Flaky('busy');
        written.push(...messages.map((m) => ({ body: m.body, attempt: m.attempt })));
      },
      lingerMs: 5,
      isRetryable: (error) => error instanceof Flaky,
      retry: { maxAttempts: 1 }, // no retry in the sink: the source requeues
    });
    const consuming = sink.consume(source);
    await until(() => source.stats().held === 1 && written.length === 10);
    // Held, not yet nacked: the broker still counts it delivered, and the acks above it wait.
    expect(await broker.ready(queue)).toBe(0);
    expect(source.stats()).toMatchObject({ requeued: 0, unsettled: 1 });
    expect(clock.nextTimerAt).toBe(clock.now() + 5_000);
    await clock.advance(5_000);
    await until(() => source.stats().acked === 11);
    await sink.close();
    await consuming;
    await source.close();
    expect(written.filter((w) => w.body === 'flaky')).toEqual([{ body: 'flaky', attempt: 2 }]);
    expect(source.stats()).toMatchObject({ requeued: 1, redelivered: 1, deadLettered: 0, held: 0 });
    expect(await broker.ready(queue)).toBe(0);
  });

  it('redelivers what was not acked when the channel closes before the writes committed', async () => {
    const queue = uniqueName('redeliver');
    await broker.queue(queue);
    await broker.publish(queue, bodies(40));
    const never = deferred<undefined>();
    const source = amqpSource({ connection: AMQP_URL, queue, prefetch: 40, decode: text });
    const sink = source.sink({ writeMany: () => never.promise, maxItems: 10 });
    const consuming = sink.consume(source);
    await until(() => source.stats().delivered === 40);
    // A forced close is the crash as the broker sees it: the channel goes, nothing acked.
    expect(await source.close({ signal: AbortSignal.abort() })).toEqual({
      forced: true,
      unsettled: 40,
    });
    const report = await sink.close({ signal: AbortSignal.abort() });
    await consuming;
    expect(report.forced).toBe(true);
    await until(async () => (await broker.ready(queue)) === 40);
    const again = amqpSource({ connection: AMQP_URL, queue, decode: text });
    const written: AmqpMessage<string>[] = [];
    const sink2 = again.sink({ writeMany: (messages) => void written.push(...messages) });
    const consuming2 = sink2.consume(again);
    await until(() => again.stats().acked === 40);
    await sink2.close();
    await consuming2;
    await again.close();
    expect(sorted(written.map((m) => m.body))).toEqual(sorted(bodies(40)));
    expect(again.stats().redelivered).toBe(40);
  });

  it('close() cancels the consumer, requeues what was not read, waits for the ack of what was', async () => {
    const queue = uniqueName('close');
    await broker.queue(queue);
    await broker.publish(queue, bodies(10));
    const source = amqpSource({ connection: AMQP_URL, queue, decode: text });
    const iterator = source[Symbol.asyncIterator]();
    const first = await iterator.next();
    await until(() => source.stats().delivered === 10);
    let closed = false;
    const closing = source.close().then((report) => {
      closed = true;
      return report;
    });
    await until(async () => (await broker.ready(queue)) === 9); // the unread nine are back
    expect(closed).toBe(false); // the one read is still unsettled
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    if (first.done === true) throw new Error('expected a message');
    first.value.ack();
    expect(await closing).toEqual({ forced: false, unsettled: 0 });
    expect(source.stats()).toMatchObject({ acked: 1, requeued: 9, connected: false });
    expect(await broker.ready(queue)).toBe(9);
  });

  it('a graceful close waits for the writes in flight and acks them', async () => {
    const { queue, gate, source, sink, written, consuming } = await gated('drain', 30, 30);
    await until(() => sink.stats().itemsIn === 30);
    let closed = false;
    const closing = source.close().then((report) => {
      closed = true;
      return report;
    });
    await until(() => !source.stats().connected || source.stats().waiting === 0);
    await broker.ready(queue); // a round trip: the close had its turn to go on if it could
    expect(closed).toBe(false); // 30 delivered, in writes that have not committed
    gate.resolve(undefined);
    expect(await closing).toEqual({ forced: false, unsettled: 0 });
    await consuming; // the source ended: the sink's consume() resolves
    await sink.close();
    expect(sorted(written)).toEqual(sorted(bodies(30)));
    expect(await broker.ready(queue)).toBe(0);
  });

  it('a lost connection makes consume() reject with connection-lost, never hang', async () => {
    const queue = uniqueName('lost');
    await broker.queue(queue);
    await broker.publish(queue, bodies(10));
    proxy = await startProxy(AMQP_URL);
    const events = listen<{ event: string }>(amqpChannels.connection);
    const source = amqpSource({ connection: proxy.url, queue, decode: text });
    const sink = source.sink({ writeMany: () => undefined, lingerMs: 1 });
    const consuming = sink.consume(source);
    await until(() => source.stats().acked === 10);
    proxy.cut();
    const error: unknown = await consuming.catch((e: unknown) => e);
    expect(AmqpSourceError.is(error) && error.reason).toBe('connection-lost');
    expect((error as Error).message).toMatch(
      /closed \(.+\); the broker redelivers what was not acked/,
    );
    expect(await sink.close()).toEqual({ forced: false, unwritten: [] });
    expect(await source.close()).toEqual({ forced: false, unsettled: 0 });
    events.stop();
    expect(events.events.map((e) => e.event)).toEqual(['lost', 'failed']);
    expect(source.stats()).toMatchObject({ lost: 1, reconnects: 0, connected: false });
  });

  it('with reconnect, a lost connection is consumed again; redeliveries are written again, nothing lost', async () => {
    const queue = uniqueName('reconnect');
    await broker.queue(queue);
    await broker.publish(queue, bodies(300));
    const link = await startProxy(AMQP_URL);
    proxy = link;
    const source = amqpSource({
      connection: link.url,
      queue,
      prefetch: 50,
      decode: text,
      reconnect: { backoff: 5 },
    });
    const written: string[] = [];
    const sink = source.sink({
      writeMany: (messages) => {
        written.push(...messages.map((m) => m.body));
        // Cut the network right after a commit: these acks never reach the broker.
        if (written.length >= 100 && source.stats().lost === 0) link.cut({ refuse: true });
      },
      maxItems: 25,
      lingerMs: 1,
    });
    const consuming = sink.consume(source);
    await until(() => source.stats().lost === 1);
    link.accept();
    await until(() => new Set(written).size === 300 && source.stats().unsettled === 0);
    await sink.close();
    await consuming;
    await source.close();
    expect(sorted(new Set(written))).toEqual(sorted(bodies(300)));
    const stats = source.stats();
    expect(stats).toMatchObject({ lost: 1, reconnects: 1 });
    expect(stats.redelivered).toBeGreaterThan(0);
    expect(written.length - 300).toBeLessThanOrEqual(stats.redelivered);
    expect(await broker.ready(queue)).toBe(0);
  });

  it('gives up after reconnect.maxAttempts failed connects in a row', async () => {
    const queue = uniqueName('exhausted');
    await broker.queue(queue);
    proxy = await startProxy(AMQP_URL);
    const source = amqpSource({
      connection: proxy.url,
      queue,
      decode: text,
      reconnect: { backoff: 1, maxAttempts: 3 },
    });
    const sink = source.sink({ writeMany: () => undefined });
    const consuming = sink.consume(source);
    await until(() => source.stats().connected);
    proxy.cut({ refuse: true });
    const error: unknown = await consuming.catch((e: unknown) => e);
    expect(AmqpSourceError.is(error) && error.reason).toBe('reconnect-exhausted');
    expect((error as Error).message).toMatch(/after 3 attempts/);
    await sink.close();
    await source.close();
  });

  it('a queue deleted under the consumer ends with consumer-cancelled', async () => {
    const queue = uniqueName('cancelled');
    await broker.queue(queue);
    const source = amqpSource({ connection: AMQP_URL, queue, decode: text });
    const sink = source.sink({ writeMany: () => undefined });
    const consuming = sink.consume(source);
    await until(() => source.stats().connected);
    const outcome = consuming.catch((e: unknown) => e);
    await broker.channel.deleteQueue(queue);
    const error = await outcome;
    expect(AmqpSourceError.is(error) && error.reason).toBe('consumer-cancelled');
    await sink.close();
    expect(await source.close()).toEqual({ forced: false, unsettled: 0 });
  });

  it('a missing queue fails the first read with connect-failed', async () => {
    const source = amqpSource({ connection: AMQP_URL, queue: uniqueName('missing') });
    const error: unknown = await source[Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(AmqpSourceError.is(error) && error.reason).toBe('connect-failed');
    expect((error as Error).message).toMatch(/NOT_FOUND/);
    expect(await source.close()).toEqual({ forced: false, unsettled: 0 });
  });
});
