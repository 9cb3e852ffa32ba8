/**
 * `batchflight/circuit-breaker`: consecutive and sampling breakers with
 * half-open probes, save/restore and isolation.
 */
export {
  circuitBreaker,
  CircuitBreakerPolicy,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old name stays exported so nothing breaks
  CircuitBreaker,
  circuitBreakerChannels,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
  type CircuitBreakerStats,
  type CircuitState,
  type StateChangeEvent,
  type BreakerRejectedEvent,
  type BreakerFailureEvent,
  type IsolationHandle,
  type CircuitBreakerSettings,
  type BreakerConfiguredEvent,
} from './breaker.js';
export {
  consecutive,
  sampling,
  type BreakerPolicy,
  type PolicyState,
  type SamplingOptions,
} from './policies.js';
export { CircuitOpenError } from './errors.js';
