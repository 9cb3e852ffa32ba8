/**
 * The hooks and diagnostics channels a cache reports through: one object per cache, so the
 * read path calls one method per event and pays nothing when nobody listens.
 */
import { Listeners } from '../core/index.js';
import {
  cacheChannels,
  type CacheErrorEvent,
  type CacheLoadEvent,
  type CacheStaleEvent,
} from './options.js';

/** The `onLoad` / `onStale` / `onError` listeners of one cache and its channel publishing. */
export class CacheEvents {
  readonly load = new Listeners<CacheLoadEvent>();
  readonly stale = new Listeners<CacheStaleEvent>();
  readonly error = new Listeners<CacheErrorEvent>();

  constructor(private readonly name: string | undefined) {}

  /** A computation settled. */
  loaded(
    key: string,
    reason: CacheLoadEvent['reason'],
    ok: boolean,
    durationMs: number,
    error: unknown,
  ): void {
    if (!this.load.active && !cacheChannels.load.hasSubscribers) return;
    const event: CacheLoadEvent = ok
      ? { name: this.name, key, reason, ok, durationMs }
      : { name: this.name, key, reason, ok, durationMs, error };
    this.load.emit(event);
    if (cacheChannels.load.hasSubscribers) cacheChannels.load.publish(event);
  }

  /** A stale value was served. */
  served(key: string, reason: CacheStaleEvent['reason'], ageMs: number): void {
    if (!this.stale.active && !cacheChannels.stale.hasSubscribers) return;
    const event: CacheStaleEvent = { name: this.name, key, reason, ageMs };
    this.stale.emit(event);
    if (cacheChannels.stale.hasSubscribers) cacheChannels.stale.publish(event);
  }

  /** A computation or the store failed. */
  failed(key: string, phase: CacheErrorEvent['phase'], error: unknown): void {
    if (!this.error.active && !cacheChannels.error.hasSubscribers) return;
    const event: CacheErrorEvent = { name: this.name, key, phase, error };
    this.error.emit(event);
    if (cacheChannels.error.hasSubscribers) cacheChannels.error.publish(event);
  }
}
