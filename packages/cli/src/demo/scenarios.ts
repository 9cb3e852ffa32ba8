/**
 * Every scenario of `npm run demo`, in the order they run. Each capability
 * adds its scenarios in a file of its own under `scenarios/`.
 */
import type { Scenario } from './scenario.js';
import { singleflightScenarios } from './scenarios/singleflight.js';
import { protectionScenarios } from './scenarios/protection-outage.js';
import { protectionCacheScenarios } from './scenarios/protection-cache.js';

export const scenarios: readonly Scenario[] = [
  ...singleflightScenarios,
  ...protectionScenarios,
  ...protectionCacheScenarios,
];
