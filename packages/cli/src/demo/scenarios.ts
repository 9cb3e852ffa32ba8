/**
 * Every scenario of `npm run demo`, in the order they run. Each capability
 * adds its scenarios in a file of its own under `scenarios/`.
 */
import type { Scenario } from './scenario.js';
import { fleetScenarios } from './scenarios/fleet.js';
import { batchScenarios } from './scenarios/batch.js';
import { singleflightScenarios } from './scenarios/singleflight.js';
import { protectionScenarios } from './scenarios/protection-outage.js';
import { protectionCacheScenarios } from './scenarios/protection-cache.js';
import { jobsScenarios } from './scenarios/jobs.js';
import { importScenarios } from './scenarios/import.js';
import { streamScenarios } from './scenarios/stream.js';
import { gatewayScenarios } from './scenarios/gateway.js';
import { metricsScenarios } from './scenarios/metrics.js';

export const scenarios: readonly Scenario[] = [
  ...singleflightScenarios,
  ...batchScenarios,
  ...protectionScenarios,
  ...protectionCacheScenarios,
  ...fleetScenarios,
  ...jobsScenarios,
  ...importScenarios,
  ...streamScenarios,
  ...metricsScenarios,
  ...gatewayScenarios,
];
