/**
 * Metrics of the capabilities that save upstream calls: batch, single flight, cache and the
 * Redis distributed flight.
 */
import type {
  BatchDispatchEvent,
  BatchSettledEvent,
  CacheErrorEvent,
  CacheInvalidateEvent,
  CacheLoadEvent,
  CacheStaleEvent,
  FlightLeaveEvent,
  FlightSettledEvent,
  FlightSharedEvent,
} from 'batchflight';
import { ATTR } from '../catalog.js';
import type { ChannelHandlers } from '../channels.js';
import { base, errorType, seconds, type Recorder } from '../recorder.js';

/**
 * The fields of `batchflight:redis:flight-settled` read here. Declared locally so this
 * package does not depend on `@batchflight/redis` to observe it.
 */
interface DistributedSettled {
  readonly name: string | undefined;
  readonly role: string;
  readonly ok: boolean;
}

const attemptKind = (attempt: number): string => (attempt > 1 ? 'retry' : 'first');
const okOrError = (ok: boolean): string => (ok ? 'ok' : 'error');

/**
 * The series key of a name, a scope (only when scopes are recorded) and up to two enum
 * values: plain concatenation, no array, since it runs once per flight.
 */
function keyOf(
  r: Recorder,
  name: string | undefined,
  scope: string | undefined,
  a = '',
  b = '',
): string {
  const scoped = r.options.scopes && scope !== undefined ? scope : '';
  return `${name ?? ''}\u0000${scoped}\u0000${a}\u0000${b}`;
}

/** Handlers of the batch channels (one event per bulk call, not per key). */
export function batchHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:batch:dispatch': (e: BatchDispatchEvent) => {
      const kind = attemptKind(e.attempt);
      const key = keyOf(r, e.name, e.scope, kind);
      const withAttempt = r.attributes(`batch:dispatch:${key}`, () => ({
        ...base(r, 'batch', e.name, e.scope),
        [ATTR.attempt]: kind,
      }));
      r.record('batchflight.batch.size', e.size, withAttempt);
      r.record('batchflight.batch.wait.duration', seconds(e.waitMs), withAttempt);
      // One bulk call instead of one call per key; retries save nothing more.
      if (e.attempt === 1) {
        r.addKeyed(
          'batchflight.upstream.calls_saved',
          e.size - 1,
          `batch:${keyOf(r, e.name, e.scope)}`,
          () => base(r, 'batch', e.name, e.scope),
        );
      }
    },
    'batchflight:batch:settled': (e: BatchSettledEvent) => {
      const kind = attemptKind(e.attempt);
      const key = keyOf(r, e.name, e.scope, e.outcome, kind);
      const attrs = r.attributes(`batch:settled:${keyOf(r, e.name, e.scope, e.outcome)}`, () => ({
        ...base(r, 'batch', e.name, e.scope),
        [ATTR.outcome]: e.outcome,
      }));
      r.record('batchflight.batch.duration', seconds(e.durationMs), attrs);
      r.addKeyed('batchflight.batch.calls', 1, key, () => ({ ...attrs, [ATTR.attempt]: kind }));
    },
  };
}

/** Handlers of the single-flight channels (one event per flight: the hot path). */
export function singleFlightHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:singleflight:shared': (e: FlightSharedEvent) => {
      r.addKeyed(
        'batchflight.upstream.calls_saved',
        1,
        `singleflight:${keyOf(r, e.name, e.scope)}`,
        () => base(r, 'singleflight', e.name, e.scope),
      );
    },
    'batchflight:singleflight:settled': (e: FlightSettledEvent) => {
      const outcome = okOrError(e.ok);
      const key = keyOf(r, e.name, e.scope, outcome);
      const attrs = r.attributes(`singleflight:settled:${key}`, () => ({
        ...base(r, 'singleflight', e.name, e.scope),
        [ATTR.outcome]: outcome,
      }));
      r.addKeyed('batchflight.singleflight.flights', 1, key, () => attrs);
      if (r.options.callDurations && e.durationMs !== undefined) {
        r.record('batchflight.singleflight.duration', seconds(e.durationMs), attrs);
      }
    },
    'batchflight:singleflight:abort': (e: FlightLeaveEvent) => {
      r.addKeyed('batchflight.singleflight.aborts', 1, keyOf(r, e.name, e.scope), () =>
        base(r, 'singleflight', e.name, e.scope),
      );
    },
  };
}

/** Handlers of the cache channels. */
export function cacheHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:cache:load': (e: CacheLoadEvent) => {
      const attrs = {
        ...base(r, 'cache', e.name),
        [ATTR.reason]: e.reason,
        [ATTR.outcome]: okOrError(e.ok),
      };
      r.add('batchflight.cache.loads', 1, attrs);
      if (r.options.callDurations) {
        r.record('batchflight.cache.load.duration', seconds(e.durationMs), attrs);
      }
    },
    'batchflight:cache:stale': (e: CacheStaleEvent) => {
      r.add('batchflight.cache.stale_served', 1, {
        ...base(r, 'cache', e.name),
        [ATTR.reason]: e.reason,
      });
    },
    'batchflight:cache:error': (e: CacheErrorEvent) => {
      r.add('batchflight.cache.errors', 1, {
        ...base(r, 'cache', e.name),
        [ATTR.reason]: e.phase,
        [ATTR.errorType]: errorType(e.error),
      });
    },
    'batchflight:cache:invalidate': (e: CacheInvalidateEvent) => {
      r.add('batchflight.cache.invalidations', 1, base(r, 'cache', e.name));
    },
    'batchflight:redis:flight-settled': (e: DistributedSettled) => {
      r.add('batchflight.distributed_flight.settled', 1, {
        ...base(r, 'distributed-flight', e.name),
        [ATTR.role]: e.role,
        [ATTR.outcome]: okOrError(e.ok),
      });
    },
  };
}
