/**
 * Metrics of the protection policies: circuit breaker, rate limit, retry, bulkhead, timeout,
 * fallback and hedge.
 */
import type { ObservableResult } from '@opentelemetry/api';
import type {
  BreakerFailureEvent,
  BreakerRejectedEvent,
  BulkheadRejectedEvent,
  CircuitState,
  FallbackEvent,
  GiveUpEvent,
  HedgeEvent,
  RateLimitDequeuedEvent,
  RateLimitedEvent,
  RetryEvent,
  StateChangeEvent,
  TimeoutEvent,
} from 'batchflight';
import { ATTR } from '../catalog.js';
import type { ChannelHandlers } from '../channels.js';
import { base, errorType, seconds, type Recorder } from '../recorder.js';

/**
 * Payloads that carry no `name` today (retry, bulkhead, timeout, fallback, hedge) are
 * recorded with the capability alone; the name joins them when the payload gains it.
 */
const nameOf = (event: object): string | undefined => {
  const name = (event as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
};

/** The fields of `batchflight:redis:rate-limit-unavailable` read here. */
interface StoreUnavailable {
  readonly fallback: string;
}

const STATES: readonly CircuitState[] = ['closed', 'open', 'half-open'];

/** Handlers of the circuit-breaker channels, and the state gauge they feed. */
export function breakerHandlers(r: Recorder): ChannelHandlers {
  // The last state each named breaker entered; a breaker shows up after its first transition.
  const states = new Map<string, CircuitState>();
  r.gauge('batchflight.circuit_breaker.state', (result: ObservableResult) => {
    for (const [name, current] of states) {
      for (const state of STATES) {
        result.observe(state === current ? 1 : 0, {
          ...base(r, 'circuit-breaker', name),
          [ATTR.state]: state,
        });
      }
    }
  });
  return {
    'batchflight:circuit-breaker:state-change': (e: StateChangeEvent) => {
      states.set(e.name, e.to);
      r.add('batchflight.circuit_breaker.transitions', 1, {
        ...base(r, 'circuit-breaker', e.name),
        [ATTR.from]: e.from,
        [ATTR.to]: e.to,
      });
    },
    'batchflight:circuit-breaker:rejected': (e: BreakerRejectedEvent) => {
      r.add('batchflight.circuit_breaker.rejections', 1, {
        ...base(r, 'circuit-breaker', e.name),
        [ATTR.state]: e.state,
      });
    },
    'batchflight:circuit-breaker:failure': (e: BreakerFailureEvent) => {
      r.add('batchflight.circuit_breaker.failures', 1, {
        ...base(r, 'circuit-breaker', e.name),
        [ATTR.state]: e.state,
        [ATTR.errorType]: errorType(e.error),
      });
    },
  };
}

/** Handlers of the rate-limit channels (the limiter and the Redis store). */
export function rateLimitHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:rate-limit:limited': (e: RateLimitedEvent) => {
      r.add('batchflight.rate_limit.limited', 1, {
        ...base(r, 'rate-limit', e.name, e.scope),
        [ATTR.reason]: e.action,
      });
    },
    'batchflight:rate-limit:dequeued': (e: RateLimitDequeuedEvent) => {
      r.record(
        'batchflight.rate_limit.wait.duration',
        seconds(e.waitedMs),
        base(r, 'rate-limit', e.name, e.scope),
      );
    },
    'batchflight:redis:rate-limit-unavailable': (e: StoreUnavailable) => {
      r.add('batchflight.rate_limit.store_unavailable', 1, {
        ...base(r, 'rate-limit', nameOf(e)),
        [ATTR.reason]: e.fallback,
      });
    },
  };
}

/** Handlers of the retry, bulkhead, timeout, fallback and hedge channels. */
export function policyHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:retry:retry': (e: RetryEvent) => {
      r.add('batchflight.retry.retries', 1, {
        ...base(r, 'retry', nameOf(e)),
        [ATTR.errorType]: errorType(e.error),
      });
    },
    'batchflight:retry:give-up': (e: GiveUpEvent) => {
      r.add('batchflight.retry.give_ups', 1, {
        ...base(r, 'retry', nameOf(e)),
        [ATTR.reason]: e.reason,
        [ATTR.errorType]: errorType(e.error),
      });
    },
    'batchflight:bulkhead:rejected': (e: BulkheadRejectedEvent) => {
      r.add('batchflight.bulkhead.rejections', 1, base(r, 'bulkhead', nameOf(e)));
    },
    'batchflight:timeout:timeout': (e: TimeoutEvent) => {
      r.add('batchflight.timeout.timeouts', 1, base(r, 'timeout', nameOf(e)));
    },
    'batchflight:fallback:fallback': (e: FallbackEvent) => {
      r.add('batchflight.fallback.fallbacks', 1, {
        ...base(r, 'fallback', nameOf(e)),
        [ATTR.errorType]: errorType(e.error),
      });
    },
    'batchflight:hedge:hedge': (e: HedgeEvent) => {
      r.add('batchflight.hedge.hedges', 1, {
        ...base(r, 'hedge', nameOf(e)),
        [ATTR.reason]: e.reason,
      });
    },
  };
}
