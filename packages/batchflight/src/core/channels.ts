/**
 * Diagnostics-channel publishing that costs nothing without subscribers.
 *
 * Channel names follow `batchflight:<capability>:<event>`. Publishers check
 * `hasSubscribers` before building a payload (as undici does), so an
 * unobserved primitive pays one property read per event.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** A typed diagnostics channel. */
export interface EventChannel<T> {
  /** The full channel name, for `diagnostics_channel.subscribe(name, fn)`. */
  readonly name: string;
  /** True when someone listens; check it before building a payload. */
  readonly hasSubscribers: boolean;
  /** Publishes `payload` to the subscribers. */
  publish(payload: T): void;
}

/**
 * The channel `batchflight:<capability>:<event>`.
 *
 * @example
 * ```ts
 * const settled = eventChannel<{ key: string }>('singleflight', 'settled');
 * if (settled.hasSubscribers) settled.publish({ key });
 * ```
 */
export function eventChannel<T>(capability: string, event: string): EventChannel<T> {
  return diagnosticsChannel.channel(
    `batchflight:${capability}:${event}`,
  ) as unknown as EventChannel<T>;
}
