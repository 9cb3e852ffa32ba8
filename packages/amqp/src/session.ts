/**
 * One consuming channel: its connection, its prefetch, its consumer and the
 * acknowledgement state of its delivery tags. Delivery tags belong to a
 * channel, so when a channel is lost everything it tracked is dropped (the
 * broker requeues those deliveries) and a new channel starts from tag 1.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { AckTracker } from './acks.js';
import type { SessionRef } from './message.js';
import type { AmqpSourceConfig } from './options.js';

/** A channel the source consumes on. */
export interface Session extends SessionRef {
  readonly connection: ChannelModel;
  readonly channel: Channel;
  readonly tracker: AckTracker<ConsumeMessage>;
  /** Set once `basic.consume` answered; a loss before that fails the connect instead. */
  consumerTag: string | undefined;
  /** Delivered on this channel and not yet settled with the broker. */
  unsettled: number;
  /** A flush of the ack is scheduled for the end of this tick. */
  flushScheduled: boolean;
  /** The last error the channel or connection reported (why it closed). */
  error: unknown;
}

/** What a session reports to its source. */
export interface SessionEvents {
  deliver(session: Session, message: ConsumeMessage | null): void;
  lost(session: Session): void;
}

function ignore(): void {
  /* closing what is already broken: its own error is not the news */
}

/** Closes the channel, and the connection when the source opened it. Never rejects. */
export async function closeSession(
  session: Pick<Session, 'channel' | 'connection'>,
  owned: boolean,
): Promise<void> {
  await session.channel.close().catch(ignore);
  if (owned) await session.connection.close().catch(ignore);
}

/**
 * Connects (or takes the borrowed connection), opens a channel with the
 * prefetch, runs `setup` and starts the consumer. On any failure what it
 * opened is closed again and the error is thrown.
 */
export async function openSession<T>(
  config: AmqpSourceConfig<T>,
  events: SessionEvents,
): Promise<Session> {
  const source = config.connection;
  const owned = source.kind === 'owned';
  const connection = owned ? await source.connect() : source.connection;
  let session: Session | undefined;
  let channel: Channel | undefined;
  try {
    if (owned) {
      // An 'error' without a listener would crash the process; the channel's 'close' reports it.
      connection.on('error', (error: unknown) => {
        if (session !== undefined) session.error ??= error;
      });
    }
    channel = await connection.createChannel();
    const opened: Session = {
      alive: true,
      connection,
      channel,
      tracker: new AckTracker(),
      consumerTag: undefined,
      unsettled: 0,
      flushScheduled: false,
      error: undefined,
    };
    session = opened;
    channel.on('error', (error: unknown) => {
      opened.error ??= error;
    });
    // A closed connection closes its channels, so this one event covers both.
    channel.on('close', () => {
      if (opened.consumerTag !== undefined) events.lost(opened);
      else opened.alive = false;
    });
    await channel.prefetch(config.prefetch);
    await config.setup?.(channel);
    const reply = await channel.consume(
      config.queue,
      (message) => {
        events.deliver(opened, message);
      },
      { noAck: false },
    );
    opened.consumerTag = reply.consumerTag;
    if (!opened.alive) {
      throw opened.error instanceof Error
        ? opened.error
        : new Error('the channel closed while the consumer started', { cause: opened.error });
    }
    return opened;
  } catch (error) {
    if (session !== undefined) session.alive = false;
    if (channel !== undefined) await channel.close().catch(ignore);
    if (owned) await connection.close().catch(ignore);
    throw error;
  }
}
