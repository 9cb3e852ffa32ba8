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

/** Handlers of the batch channels. */
export function batchHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:batch:dispatch': (e: BatchDispatchEvent) => {
      const attrs = base(r, 'batch', e.name, e.scope);
      const withAttempt = { ...attrs, [ATTR.attempt]: attemptKind(e.attempt) };
      r.record('batchflight.batch.size', e.size, withAttempt);
      r.record('batchflight.batch.wait.duration', seconds(e.waitMs), withAttempt);
      // One bulk call instead of one call per key; retries save nothing more.
      if (e.attempt === 1) r.add('batchflight.upstream.calls_saved', e.size - 1, attrs);
    },
    'batchflight:batch:settled': (e: BatchSettledEvent) => {
      const attrs = { ...base(r, 'batch', e.name, e.scope), [ATTR.outcome]: e.outcome };
      r.record('batchflight.batch.duration', seconds(e.durationMs), attrs);
      r.add('batchflight.batch.calls', 1, { ...attrs, [ATTR.attempt]: attemptKind(e.attempt) });
    },
  };
}

/** Handlers of the single-flight channels. */
export function singleFlightHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:singleflight:shared': (e: FlightSharedEvent) => {
      r.add('batchflight.upstream.calls_saved', 1, base(r, 'singleflight', e.name, e.scope));
    },
    'batchflight:singleflight:settled': (e: FlightSettledEvent) => {
      const attrs = {
        ...base(r, 'singleflight', e.name, e.scope),
        [ATTR.outcome]: okOrError(e.ok),
      };
      r.add('batchflight.singleflight.flights', 1, attrs);
      if (e.durationMs !== undefined) {
        r.record('batchflight.singleflight.duration', seconds(e.durationMs), attrs);
      }
    },
    'batchflight:singleflight:abort': (e: FlightLeaveEvent) => {
      r.add('batchflight.singleflight.aborts', 1, base(r, 'singleflight', e.name, e.scope));
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
      r.record('batchflight.cache.load.duration', seconds(e.durationMs), attrs);
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
