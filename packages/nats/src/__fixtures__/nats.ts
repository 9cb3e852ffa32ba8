/**
 * Test support: a real NATS server with JetStream at BATCHFLIGHT_NATS_URL
 * (default 127.0.0.1:4222), unique stream names per test, and a stream with
 * a durable pull consumer made and deleted per test. With CI=true a missing
 * server fails the run; otherwise the suites skip with a visible reason.
 */
import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  connect,
  type Consumer,
  type ConsumerConfig,
  type JetStreamClient,
  type NatsConnection,
} from 'nats';

export const NATS_URL = process.env.BATCHFLIGHT_NATS_URL ?? '127.0.0.1:4222';

/** Resolves to null when NATS answers with JetStream enabled, else to the reason it is skipped. */
export async function natsUnavailable(): Promise<string | null> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 2_000, reconnect: false });
    await (await nc.jetstreamManager()).getAccountInfo();
    return null;
  } catch (error) {
    const reason = `NATS JetStream at ${NATS_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(
      `SKIPPED: ${reason}. Start nats-server -js or set BATCHFLIGHT_NATS_URL to run these tests.`,
    );
    return reason;
  } finally {
    await nc?.close();
  }
}

/** A stream (and subject) name no other test uses. */
export function uniqueName(label: string): string {
  return `bftest_${label}_${randomBytes(4).toString('hex')}`;
}

/** A fresh stream on subject `<name>.events` with one durable pull consumer. */
export interface TestStream {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly name: string;
  readonly subject: string;
  readonly consumer: Consumer;
  /** Publishes each body (JSON) and waits for every ack of the stream. */
  publish(bodies: readonly unknown[]): Promise<void>;
  /** The consumer's info: delivered, ack pending, redelivered. */
  info(): ReturnType<Consumer['info']>;
  /** Deletes the stream and closes the connection. */
  cleanup(): Promise<void>;
}

/** Makes a stream and its consumer (`ack_wait` default 2 s, `max_ack_pending` 20,000). */
export async function testStream(
  label: string,
  config: Partial<ConsumerConfig> = {},
): Promise<TestStream> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const name = uniqueName(label);
  const subject = `${name}.events`;
  await jsm.streams.add({ name, subjects: [subject] });
  await jsm.consumers.add(name, {
    durable_name: 'loader',
    ack_policy: AckPolicy.Explicit,
    ack_wait: 2_000_000_000, // nanoseconds
    max_ack_pending: 20_000,
    ...config,
  });
  const js = nc.jetstream();
  const consumer = await js.consumers.get(name, 'loader');
  const encoder = new TextEncoder();
  return {
    nc,
    js,
    name,
    subject,
    consumer,
    async publish(bodies) {
      // In windows of 1,000 publishes in flight: fast, and the client's buffer stays small.
      for (let i = 0; i < bodies.length; i += 1_000) {
        await Promise.all(
          bodies
            .slice(i, i + 1_000)
            .map((body) => js.publish(subject, encoder.encode(JSON.stringify(body)))),
        );
      }
    },
    info: () => consumer.info(),
    async cleanup() {
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    },
  };
}
