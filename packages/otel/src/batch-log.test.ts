import { batch } from 'batchflight/batch';
import { cache } from 'batchflight/cache';
import { MemoryJobStore, Queue, Worker } from 'batchflight/jobs';
import { SingleFlight } from 'batchflight/singleflight';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { logBatches, type BatchLogging } from './index.js';

const running: BatchLogging[] = [];
afterEach(() => {
  for (const logs of running.splice(0)) logs.close();
});

/** A real pino logger writing JSON lines into memory. */
// The logger's type is pino's own, inferred: the point is that it satisfies BatchLogger.
function capture() {
  const lines: string[] = [];
  const logger = pino({ level: 'info', base: null }, { write: (line: string) => lines.push(line) });
  return {
    logger,
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'sk_live_51HxSECRET';

describe('logBatches()', () => {
  it('logs what each batch, flight, cache load and job attempt was made of, never a secret key or payload', async () => {
    const { logger, lines, records } = capture();
    running.push(logBatches({ logger }));

    const cards = batch({
      name: 'cards',
      maxSize: 2,
      // The upstream fails the card whose number is the secret, naming it in the message.
      load: (numbers: readonly string[]) =>
        Promise.resolve(
          numbers.map((n) => (n === SECRET ? new Error(`card ${n} declined`) : `ok ${n}`)),
        ),
    });
    const results = await Promise.allSettled(
      [SECRET, `${SECRET}-2`, 'public'].map((n) => cards.load(n)),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    await cards.close();

    const flights = new SingleFlight({ name: 'tokens' });
    await expect(
      flights.run(SECRET, () => Promise.reject(new Error(`token ${SECRET} revoked`)), {
        scope: SECRET,
      }),
    ).rejects.toThrow();

    const profiles = cache({ name: 'profiles', ttlMs: 60_000 });
    await profiles.get(`user:${SECRET}`, () => ({ password: SECRET }));
    await profiles.close();

    const store = new MemoryJobStore();
    await new Queue(store, { name: 'billing' }).add('charge', { card: SECRET });
    const worker = new Worker(
      store,
      { charge: () => Promise.resolve({ receipt: SECRET }) },
      { depthSampleMs: 0 },
    );
    await worker.drain();
    await worker.close();

    const output = lines.join('');
    expect(output).not.toContain(SECRET);
    expect(output).not.toContain('sk_live');
    const byEvent = (event: string) => records().filter((r) => r['event'] === event);
    // The cache coalesces its misses through an unnamed single flight of its own: leave it out.
    const tokens = byEvent('flight').filter((r) => r['name'] === 'tokens');
    expect(byEvent('batch')).toEqual([
      expect.objectContaining({
        name: 'cards',
        size: 2,
        attempt: 1,
        outcome: 'partial',
        level: 40,
      }),
      expect.objectContaining({ name: 'cards', size: 1, attempt: 1, outcome: 'ok', level: 30 }),
    ]);
    expect(tokens).toEqual([
      expect.objectContaining({
        name: 'tokens',
        callers: 1,
        outcome: 'error',
        error: { type: 'Error' },
      }),
    ]);
    expect(tokens[0]?.['scope']).toMatch(/^[0-9a-f]{12}$/);
    expect(byEvent('cache-load')).toEqual([
      expect.objectContaining({ name: 'profiles', reason: 'miss', outcome: 'ok' }),
    ]);
    expect(byEvent('job-attempt')).toEqual([
      expect.objectContaining({
        name: 'charge',
        queue: 'billing',
        attempt: 1,
        outcome: 'succeeded',
      }),
    ]);
    for (const record of records()) expect(record).not.toHaveProperty('key');
  });

  it('logs a key only as describeKey says, and error messages only when asked', async () => {
    const { logger, records } = capture();
    running.push(
      logBatches({
        logger,
        describeKey: (key) => (key.startsWith('public:') ? key : undefined),
        errorMessages: true,
      }),
    );
    const flights = new SingleFlight({ name: 'lookups' });
    await flights.run('public:readme', () => 1);
    await flights.run(`private:${SECRET}`, () => 2);
    await expect(
      flights.run('public:boom', () => Promise.reject(new RangeError('too far'))),
    ).rejects.toThrow();
    expect(records().map((r) => [r['key'], r['error']])).toEqual([
      ['public:readme', undefined],
      [undefined, undefined],
      ['public:boom', { type: 'RangeError', message: 'too far' }],
    ]);
  });

  it('refuses a logger without info and warn, and stops logging once closed', async () => {
    expect(() => logBatches({ logger: { info: () => undefined } } as never)).toThrow(
      'logBatches(): option logger.warn must be a function, got undefined.',
    );
    const { logger, lines } = capture();
    const logs = logBatches({ logger });
    logs.close();
    logs.close();
    await new SingleFlight({ name: 'quiet' }).run('k', () => 1);
    expect(lines).toEqual([]);
  });
});
