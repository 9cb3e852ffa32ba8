/**
 * Test support: a real RabbitMQ at BATCHFLIGHT_AMQP_URL (default
 * amqp://guest:guest@127.0.0.1:5672), unique queue names, publishing with
 * confirms, cleanup. With CI=true a missing broker fails the run; otherwise
 * the suites skip with a visible reason.
 */
import { randomBytes } from 'node:crypto';
import { type ChannelModel, type ConfirmChannel, type Options, connect } from 'amqplib';
import { expect } from 'vitest';

export const AMQP_URL = process.env.BATCHFLIGHT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Resolves to null when the broker accepts a connection, else to the reason it is skipped. */
export async function amqpUnavailable(): Promise<string | null> {
  try {
    const probe = await connect(AMQP_URL, { timeout: 2000 });
    await probe.close();
    return null;
  } catch (error) {
    const reason = `RabbitMQ at ${AMQP_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(
      `SKIPPED: ${reason}. Start RabbitMQ or set BATCHFLIGHT_AMQP_URL to run these tests.`,
    );
    return reason;
  }
}

/** A queue (or exchange) name no other test uses. */
export function uniqueName(label: string): string {
  return `bftest.${label}.${randomBytes(4).toString('hex')}`;
}

/** A connection and a confirm channel for declaring, publishing, inspecting and deleting. */
export interface Admin {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Declares a durable queue (remembered for {@link cleanup}). */
  queue(name: string, args?: Record<string, unknown>): Promise<void>;
  /**
   * Declares `name` with a dead-letter exchange (fanout `name.dlx`) bound to
   * the queue `name.dlq`; returns the dead-letter queue's name.
   */
  queueWithDeadLetter(name: string): Promise<string>;
  /** Publishes persistent messages and waits for the broker's confirms. */
  publish(
    queue: string,
    bodies: readonly (string | Buffer)[],
    options?: Options.Publish,
  ): Promise<void>;
  /** Messages ready in `queue` (not delivered, or requeued). */
  ready(queue: string): Promise<number>;
  /** Takes every message left in `queue` (basic.get, acked), as strings. */
  drain(queue: string): Promise<string[]>;
  /** Deletes what was declared, and closes. */
  cleanup(): Promise<void>;
}

/** Opens an {@link Admin} on the test broker. */
export async function admin(): Promise<Admin> {
  const connection = await connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  const queues: string[] = [];
  const exchanges: string[] = [];
  const publish: Admin['publish'] = async (queue, bodies, options) => {
    for (const body of bodies) {
      const content = typeof body === 'string' ? Buffer.from(body) : body;
      if (!channel.sendToQueue(queue, content, { persistent: true, ...options })) {
        await new Promise((resolve) => channel.once('drain', resolve));
      }
    }
    await channel.waitForConfirms();
  };
  return {
    connection,
    channel,
    queue: async (name, args) => {
      queues.push(name);
      await channel.assertQueue(name, {
        durable: true,
        ...(args === undefined ? {} : { arguments: args }),
      });
    },
    queueWithDeadLetter: async (name) => {
      const dlx = `${name}.dlx`;
      const dlq = `${name}.dlq`;
      exchanges.push(dlx);
      queues.push(name, dlq);
      await channel.assertExchange(dlx, 'fanout', { durable: false });
      await channel.assertQueue(dlq, { durable: true });
      await channel.bindQueue(dlq, dlx, '');
      await channel.assertQueue(name, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': dlx },
      });
      return dlq;
    },
    publish,
    ready: async (queue) => (await channel.checkQueue(queue)).messageCount,
    drain: async (queue) => {
      const out: string[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) return out;
        out.push(message.content.toString());
      }
    },
    cleanup: async () => {
      for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
      for (const exchange of exchanges)
        await channel.deleteExchange(exchange).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}

/** Waits (in 1 ms steps, at most ~10 s) until `predicate` holds, then asserts it. */
export async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 10_000 && !(await predicate()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  expect(await predicate()).toBe(true);
}

/** `n` bodies `prefix0` … `prefix{n-1}`. */
export function bodies(n: number, prefix = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i)}`);
}
