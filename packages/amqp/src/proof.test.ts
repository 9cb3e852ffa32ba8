/**
 * The proof under faults (issue 15) for RabbitMQ: 200,000 events consumed
 * into PostgreSQL by a process SIGKILLed and restarted every ~0.5 s; the
 * table ends with each event exactly once, and every delivery was acked.
 * `npm run proof -w @batchflight/amqp` prints the same figures.
 */
import { describe, expect, it } from 'vitest';
import { amqpUnavailable } from './__fixtures__/amqp.js';
import { pgUnavailable } from './__fixtures__/pg.js';
import { runProof } from './__fixtures__/proof.js';

const skip = (await amqpUnavailable()) ?? (await pgUnavailable());

describe.skipIf(skip !== null)('proof under faults: RabbitMQ into PostgreSQL', () => {
  it(
    '200,000 events, the consumer SIGKILLed every ~0.5 s: each event exactly once',
    { timeout: 180_000 },
    async () => {
      const figures = await runProof({ events: 200_000, killAfterMs: 500 });
      console.log('amqp proof under faults:', JSON.stringify(figures));
      expect(figures).toMatchObject({
        events: 200_000,
        rows: 200_000,
        distinct: 200_000,
        lost: 0,
        duplicates: 0,
        leftInQueue: 0,
      });
      // The faults were real: the consumer was killed many times, with work in flight that the
      // broker redelivered and the idempotent insert absorbed.
      expect(figures.kills).toBeGreaterThanOrEqual(5);
      expect(figures.redeliveredWritten).toBeGreaterThan(0);
      expect(figures.duplicateWrites).toBe(figures.deliveriesWritten - 200_000);
    },
  );
});
