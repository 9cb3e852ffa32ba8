/**
 * `@batchflight/gateway`: an HTTP gateway in front of upstream APIs. Per route, an ordered list
 * of policies (coalesce, cache, batch into a bulk endpoint, rate limit, breaker, retry, timeout,
 * bulkhead), each a batchflight primitive composed with `stack()`; `POST /batch` consolidates
 * many calls into one round trip; the whole is configured by a YAML or JSON file.
 *
 * @packageDocumentation
 */
export {
  createGateway,
  type Gateway,
  type GatewayOptions,
  type DispatchRequest,
} from './gateway.js';
export {
  gatewayConfigSchema,
  loadGatewayConfig,
  parseGatewayConfig,
  validateGatewayConfig,
  type GatewayConfig,
  type GatewayConfigInput,
  type RouteConfig,
  type PolicyConfig,
  type BatchPolicyConfig,
  type CachePolicyConfig,
  type UpstreamConfig,
} from './config.js';
export type { GatewayRequest, GatewayResponse } from './http.js';
export type { RouteStats } from './route.js';
export type { SubResponse } from './consolidated.js';
export { GatewayError, UpstreamStatusError } from './errors.js';
export { freshnessMs } from './http-cache.js';
export {
  gatewayChannels,
  type GatewayRequestEvent,
  type GatewayUpstreamEvent,
} from './channels.js';
export {
  GATEWAY_METER,
  type MeterProviderLike,
  type MeterLike,
  type ObservableCounterLike,
  type ObservationSink,
} from './telemetry.js';
