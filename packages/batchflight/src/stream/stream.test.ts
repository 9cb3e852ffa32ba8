import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { TestClock, deferred, flushMicrotasks, type Deferred } from '@batchflight/testing';
import { ClosedError, InvalidOptionError } from '../core/index.js';
import { stream, streamChannels, type StreamWriteContext, type StreamWriteEvent } from './index.js';

/** A writeMany whose calls the test settles one by one. */
function heldWriter<T>() {
  const calls: { items: T[]; ctx: StreamWriteContext; gate: Deferred<undefined> }[] = [];
  const writeMany = (items: T[], ctx: StreamWriteContext): Promise<void> => {
    const gate = deferred<undefined>();
    calls.push({ items, ctx, gate });
    return gate.promise;
  };
  return { calls, writeMany };
}

describe('stream(): static window', () => {
  it('writes a full window at once, by count', async () => {
    const clock = new TestClock();
    const written: number[][] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(items);
      },
      maxItems: 3,
      lingerMs: 1000,
      clock,
    });
    for (let i = 1; i <= 7; i++) await sink.push(i);
    await flushMicrotasks();
    expect(written).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await clock.advance(1000);
    expect(written).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    await sink.close();
  });

  it('flushes a window once it holds maxBytes, and no write exceeds it', async () => {
    const clock = new TestClock();
    const written: string[][] = [];
    const sink = stream<string>({
      writeMany: (items) => {
        written.push(items);
      },
      maxItems: 100,
      maxBytes: 10,
      sizeOf: (item) => item.length,
      lingerMs: 1000,
      clock,
    });
    await sink.push('aaaa');
    await sink.push('bbbb');
    await flushMicrotasks();
    expect(written).toEqual([]);
    await sink.push('cc');
    await flushMicrotasks();
    expect(written).toEqual([['aaaa', 'bbbb', 'cc']]);
    // One window of 3 + 9 bytes (lingered out) is written as two writes that fit.
    await sink.push('ddd');
    await sink.push('eeeeeeeee');
    await flushMicrotasks();
    await clock.advance(1000);
    expect(written).toEqual([['aaaa', 'bbbb', 'cc'], ['ddd'], ['eeeeeeeee']]);
    await sink.close();
  });

  it('writes what lingered once lingerMs passed since the first item', async () => {
    const clock = new TestClock();
    const written: number[][] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(items);
      },
      maxItems: 100,
      lingerMs: 50,
      clock,
    });
    await sink.push(1);
    await clock.advance(30);
    await sink.push(2);
    await clock.advance(19);
    expect(written).toEqual([]);
    await clock.advance(1);
    expect(written).toEqual([[1, 2]]);
    await sink.close();
  });
});

describe('stream(): bounded buffering', () => {
  it('never holds more than maxBuffered items: a slow writer pauses the source', async () => {
    const clock = new TestClock();
    const writer = heldWriter<number>();
    const sink = stream<number>({
      writeMany: writer.writeMany,
      maxItems: 2,
      lingerMs: 0,
      maxBuffered: 5,
      maxConcurrentWrites: 2,
      clock,
    });
    let pulled = 0;
    let maxBuffered = 0;
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        maxBuffered = Math.max(maxBuffered, sink.stats().buffered);
        yield i;
      }
    }
    const consuming = sink.consume(source());
    await flushMicrotasks();
    expect(pulled).toBe(5);
    expect(sink.stats().buffered).toBe(5);
    let written = 0;
    while (written < 100) {
      await flushMicrotasks();
      const call = writer.calls[0];
      if (call === undefined) continue;
      writer.calls.shift();
      written += call.items.length;
      expect(sink.stats().buffered).toBeLessThanOrEqual(5);
      call.gate.resolve(undefined);
    }
    await consuming;
    expect(pulled).toBe(100);
    expect(maxBuffered).toBeLessThanOrEqual(5);
    await sink.close();
    expect(sink.stats()).toMatchObject({ itemsIn: 100, written: 100, buffered: 0 });
  });

  it('push() resolves only when there is room', async () => {
    const writer = heldWriter<number>();
    const sink = stream<number>({
      writeMany: writer.writeMany,
      maxItems: 2,
      lingerMs: 0,
      maxBuffered: 2,
      clock: new TestClock(),
    });
    await sink.push(1);
    await sink.push(2);
    let accepted = false;
    const third = sink.push(3).then(() => {
      accepted = true;
    });
    await flushMicrotasks();
    expect(accepted).toBe(false);
    writer.calls[0]?.gate.resolve(undefined);
    await third;
    expect(accepted).toBe(true);
    await flushMicrotasks();
    writer.calls[1]?.gate.resolve(undefined);
    await sink.close();
  });
});

describe('stream(): per-key ordering', () => {
  it('writes each key in order and never has two writes of one key in flight', async () => {
    const writer = heldWriter<{ key: string; n: number }>();
    const sink = stream<{ key: string; n: number }>({
      writeMany: writer.writeMany,
      orderBy: (item) => item.key,
      maxItems: 2,
      lingerMs: 0,
      maxConcurrentWrites: 4,
      clock: new TestClock(),
    });
    const items = ['a', 'b', 'a', 'c', 'a', 'd', 'b', 'e'].map((key, n) => ({ key, n }));
    for (const item of items) await sink.push(item);
    const order = new Map<string, number[]>();
    const inFlight = new Map<string, number>();
    let settled = 0;
    const active = new Set<(typeof writer.calls)[number]>();
    while (settled < items.length) {
      await flushMicrotasks();
      for (const call of writer.calls) {
        if (active.has(call)) continue;
        active.add(call);
        for (const item of call.items) {
          expect(inFlight.get(item.key) ?? 0).toBe(0);
          (order.get(item.key) ?? order.set(item.key, []).get(item.key))?.push(item.n);
        }
        for (const key of new Set(call.items.map((item) => item.key))) inFlight.set(key, 1);
      }
      // Settle the oldest write still open.
      const next = writer.calls.shift();
      if (next === undefined) continue;
      for (const item of next.items) inFlight.set(item.key, 0);
      settled += next.items.length;
      next.gate.resolve(undefined);
    }
    expect(order.get('a')).toEqual([0, 2, 4]);
    expect(order.get('b')).toEqual([1, 6]);
    await sink.close();
  });
});

describe('stream(): acknowledgement and poison', () => {
  it('acknowledges an item once, only after its write committed (a retried write too)', async () => {
    const clock = new TestClock();
    const acks: number[] = [];
    const committed: number[][] = [];
    let calls = 0;
    const sink = stream<number>({
      writeMany: () => {
        calls++;
        if (calls === 1) throw new Error('connection reset');
      },
      isRetryable: (error) => error instanceof Error && error.message === 'connection reset',
      retry: { maxAttempts: 3, backoff: 100 },
      onCommitted: (items) => committed.push([...items]),
      ack: (item) => acks.push(item),
      lingerMs: 0,
      clock,
    });
    await sink.push(1);
    await sink.push(2, { ack: (item) => acks.push(item * 10) });
    await flushMicrotasks();
    expect(calls).toBe(1);
    expect(acks).toEqual([]);
    await clock.advance(100);
    expect(calls).toBe(2);
    expect(acks).toEqual([1, 2, 20]);
    expect(committed).toEqual([[1, 2]]);
    await sink.close();
    expect(sink.stats()).toMatchObject({ written: 2, retries: 1, writes: 2, committedWrites: 1 });
  });

  it('isolates a poisoned item by bisection: it is dead-lettered, the others commit', async () => {
    const poison = new Error('value too long');
    const written: number[] = [];
    const dead: { item: number; error: unknown }[] = [];
    const acks: number[] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        if (items.includes(5)) throw poison;
        written.push(...items);
      },
      onDeadLetter: ({ item, error }) => dead.push({ item, error }),
      ack: (item) => acks.push(item),
      maxItems: 8,
      lingerMs: 0,
      clock: new TestClock(),
    });
    for (let i = 1; i <= 8; i++) await sink.push(i);
    const report = await sink.close();
    expect(dead).toEqual([{ item: 5, error: poison }]);
    expect(written.sort()).toEqual([1, 2, 3, 4, 6, 7, 8]);
    expect(acks.sort()).toEqual([1, 2, 3, 4, 6, 7, 8]);
    expect(report).toEqual({ forced: false, unwritten: [] });
    expect(sink.stats()).toMatchObject({ written: 7, dead: 1, splits: 3 });
  });
});

describe('stream(): close', () => {
  it('drains on close: what lingers is written at once', async () => {
    const clock = new TestClock();
    const written: number[][] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(items);
      },
      lingerMs: 60_000,
      clock,
    });
    await sink.push(1);
    await sink.push(2);
    const report = await sink.close();
    expect(written).toEqual([[1, 2]]);
    expect(report).toEqual({ forced: false, unwritten: [] });
    await expect(sink.push(3)).rejects.toBeInstanceOf(ClosedError);
  });

  it('an aborted close forces: the write is aborted, nothing acked, what was not written reported', async () => {
    const writer = heldWriter<number>();
    const acks: number[] = [];
    const sink = stream<number>({
      writeMany: writer.writeMany,
      ack: (item) => acks.push(item),
      maxItems: 2,
      lingerMs: 0,
      maxConcurrentWrites: 1,
      clock: new TestClock(),
    });
    for (let i = 1; i <= 5; i++) await sink.push(i);
    await flushMicrotasks();
    const controller = new AbortController();
    const closing = sink.close({ signal: controller.signal });
    await flushMicrotasks();
    controller.abort(new Error('shutdown'));
    const report = await closing;
    expect(report.forced).toBe(true);
    expect([...report.unwritten].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(writer.calls[0]?.ctx.signal.aborted).toBe(true);
    // The abandoned write commits late: still not acknowledged.
    writer.calls[0]?.gate.resolve(undefined);
    await flushMicrotasks();
    expect(acks).toEqual([]);
  });

  it('turns forced after timeoutMs', async () => {
    const clock = new TestClock();
    const writer = heldWriter<number>();
    const sink = stream<number>({ writeMany: writer.writeMany, lingerMs: 0, clock });
    await sink.push(1);
    await flushMicrotasks();
    let report: unknown;
    void sink.close({ timeoutMs: 1000 }).then((r) => (report = r));
    await clock.advance(999);
    expect(report).toBeUndefined();
    await clock.advance(1);
    expect(report).toEqual({ forced: true, unwritten: [1] });
  });

  it('stops taking from a source on close and tells the source', async () => {
    const sink = stream<number>({
      writeMany: () => undefined,
      lingerMs: 0,
      clock: new TestClock(),
    });
    let finished = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) {
          yield i;
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        finished = true;
      }
    }
    const consuming = sink.consume(source());
    await flushMicrotasks();
    await sink.close();
    await consuming;
    expect(finished).toBe(true);
  });
});

describe('stream(): adaptive window, options, observability', () => {
  it('writes everything through the adaptive window', async () => {
    const written: number[] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(...items);
      },
      window: 'adaptive',
      latencyTargetMs: 50,
      clock: new TestClock(),
    });
    await sink.consume(Array.from({ length: 1000 }, (_, i) => i));
    await sink.close();
    expect(written).toHaveLength(1000);
    expect(sink.stats()).toMatchObject({ itemsIn: 1000, written: 1000, buffered: 0 });
  });

  it('refuses bad options, naming the option and echoing the value', () => {
    expect(() => stream({ writeMany: () => undefined, maxItems: 0 })).toThrow(InvalidOptionError);
    expect(() => stream({ writeMany: () => undefined, maxItems: 0 })).toThrow(
      'stream(stream): option maxItems must be an integer >= 1, got 0.',
    );
    expect(() => stream({ writeMany: () => undefined, maxBytes: 10 })).toThrow(/sizeOf/);
  });

  it('publishes each write on batchflight:stream:write', async () => {
    const events: StreamWriteEvent[] = [];
    const listener = (event: unknown): void => {
      events.push(event as StreamWriteEvent);
    };
    expect(streamChannels.write.name).toBe('batchflight:stream:write');
    diagnosticsChannel.subscribe(streamChannels.write.name, listener);
    try {
      const sink = stream<number>({
        name: 'clicks',
        writeMany: () => undefined,
        lingerMs: 0,
        clock: new TestClock(),
      });
      await sink.push(1);
      await sink.push(2);
      await sink.close();
      expect(events).toEqual([
        {
          name: 'clicks',
          size: 2,
          bytes: 0,
          attempt: 1,
          waitMs: 0,
          durationMs: 0,
          outcome: 'committed',
        },
      ]);
    } finally {
      diagnosticsChannel.unsubscribe(streamChannels.write.name, listener);
    }
  });
});

describe('stream(): more', () => {
  it('adaptive: writes grow while writes are in flight and items keep coming', async () => {
    const clock = new TestClock();
    const sizes: number[] = [];
    const sink = stream<number>({
      writeMany: async (items) => {
        sizes.push(items.length);
        await new Promise<void>((resolve) => clock.setTimer(resolve, 2));
      },
      window: 'adaptive',
      latencyTargetMs: 100,
      maxBuffered: 100_000,
      clock,
    });
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++) void sink.push(round * 50 + i);
      await clock.advance(1);
    }
    const closing = sink.close();
    await clock.runAll();
    await closing;
    // Starts small (an idle writer is not kept waiting), then follows arrivals × write cost.
    expect(sizes[0]).toBe(8);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(64);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(sink.stats().sizeLimit).toBeGreaterThan(8);
  });

  it('consume() rejects with the error of the source; what it gave is still written', async () => {
    const written: number[] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(...items);
      },
      lingerMs: 0,
      clock: new TestClock(),
    });
    const broken = new Error('connection lost');
    async function* source(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      await Promise.resolve();
      throw broken;
    }
    await expect(sink.consume(source())).rejects.toBe(broken);
    await sink.close();
    expect(written).toEqual([1, 2]);
    expect(sink.stats()).toMatchObject({ itemsIn: 2, buffered: 0 });
  });

  it('an item whose sizeOf throws is dead-lettered at once; the sink goes on', async () => {
    const dead: unknown[] = [];
    const written: string[] = [];
    const sink = stream<string>({
      writeMany: (items) => {
        written.push(...items);
      },
      maxBytes: 100,
      sizeOf: (item) => {
        if (item === 'bad') throw new Error('unmeasurable');
        return item.length;
      },
      onDeadLetter: ({ item, attempts }) => dead.push({ item, attempts }),
      lingerMs: 0,
      clock: new TestClock(),
    });
    await sink.push('a');
    await sink.push('bad');
    await sink.push('b');
    await sink.close();
    expect(dead).toEqual([{ item: 'bad', attempts: 0 }]);
    expect(written).toEqual(['a', 'b']);
    expect(sink.stats()).toMatchObject({ dead: 1, written: 2, buffered: 0 });
  });

  it('retry.maxAttempts Infinity holds the items through an outage instead of dead-lettering', async () => {
    const clock = new TestClock();
    let failures = 10;
    const dead: number[] = [];
    const acks: number[] = [];
    const sink = stream<number>({
      writeMany: () => {
        if (failures-- > 0) throw new Error('database down');
      },
      isRetryable: () => true,
      retry: { maxAttempts: Infinity, backoff: 50 },
      onDeadLetter: ({ item }) => dead.push(item),
      ack: (item) => acks.push(item),
      lingerMs: 0,
      clock,
    });
    await sink.push(1);
    await sink.push(2);
    await clock.advance(50 * 10);
    expect(acks).toEqual([1, 2]);
    expect(dead).toEqual([]);
    await sink.close();
    expect(sink.stats()).toMatchObject({ retries: 10, written: 2, splits: 0 });
  });

  it('a graceful close waits for a pull in progress: the item it brings is written', async () => {
    const clock = new TestClock();
    const written: number[] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(...items);
      },
      lingerMs: 60_000,
      clock,
    });
    const gate = deferred<undefined>();
    async function* source(): AsyncGenerator<number> {
      yield 1;
      await gate.promise;
      yield 2;
    }
    const consuming = sink.consume(source());
    await flushMicrotasks();
    let report: unknown;
    void sink.close().then((r) => (report = r));
    await flushMicrotasks();
    expect(report).toBeUndefined();
    gate.resolve(undefined);
    await consuming;
    await flushMicrotasks();
    expect(written).toEqual([1, 2]);
    expect(report).toEqual({ forced: false, unwritten: [] });
  });

  it('consume() stops when its signal aborts, telling the source; what it took is written', async () => {
    const written: number[] = [];
    const sink = stream<number>({
      writeMany: (items) => {
        written.push(...items);
      },
      lingerMs: 0,
      clock: new TestClock(),
    });
    const controller = new AbortController();
    let finished = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) {
          if (i === 3) controller.abort();
          yield i;
        }
      } finally {
        finished = true;
      }
    }
    await sink.consume(source(), { signal: controller.signal });
    expect(finished).toBe(true);
    await sink[Symbol.asyncDispose]();
    expect(written).toEqual([0, 1, 2, 3]);
  });
});
