/**
 * Subscription to the `batchflight:<capability>:<event>` diagnostics channels by name.
 *
 * The channel name is the contract between a primitive and its observers, so this package
 * subscribes by name and never reaches into a primitive: a capability that is not loaded
 * costs nothing, and two installed copies of batchflight publish on the same channels.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** Handlers keyed by the full channel name, each receiving the channel's payload. */
export type ChannelHandlers = Readonly<Record<string, (message: never) => void>>;

/**
 * Subscribes every handler to its channel and returns the function that unsubscribes them all.
 * A handler that throws is caught: an observer must never break the primitive that published.
 */
export function subscribeChannels(
  handlers: ChannelHandlers,
  onError: (error: unknown, channel: string) => void,
): () => void {
  const subscribed: [string, (message: unknown) => void][] = [];
  for (const [name, handler] of Object.entries(handlers)) {
    const listener = (message: unknown): void => {
      try {
        (handler as (message: unknown) => void)(message);
      } catch (error) {
        onError(error, name);
      }
    };
    diagnosticsChannel.subscribe(name, listener);
    subscribed.push([name, listener]);
  }
  return () => {
    for (const [name, listener] of subscribed.splice(0)) {
      diagnosticsChannel.unsubscribe(name, listener);
    }
  };
}

/** The full name of the channel `batchflight:<capability>:<event>`. */
export function channelName(capability: string, event: string): string {
  return `batchflight:${capability}:${event}`;
}
