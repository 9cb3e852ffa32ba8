/**
 * docs/configuration.md and the capability pages: every primitive retuned while it runs,
 * by its own configure() and through a ConfigRegistry.
 */
import { parseConfigText } from '@batchflight/config';

// #region rate-limit
import { rateLimit } from 'batchflight/rate-limit';

const github = rateLimit({ name: 'github', rate: 10, per: 'second', burst: 1 });
// The upstream raised our quota: calls waiting now are asked again under the new limit.
github.configure({ rate: 50, burst: 5 });
// #endregion

// #region bulkhead
import { bulkhead } from 'batchflight/bulkhead';

const db = bulkhead({ name: 'db', maxConcurrent: 10, maxQueued: 100 });
db.configure({ maxConcurrent: 20 }); // queued callers start at once in the new slots
db.configure({ maxConcurrent: 5 }); // running calls finish; slots are given back as they do
// #endregion

// #region retry
import { retry, retryBudget } from 'batchflight/retry';

const budget = retryBudget({ capacity: 500 });
const api = retry({ name: 'api', maxAttempts: 4, budget });
api.configure({ maxAttempts: 1 }); // the upstream is drowning: calls from now on try once
budget.configure({ capacity: 100 }); // every policy sharing the budget
// #endregion

// #region timeout
import { timeout } from 'batchflight/timeout';

const slow = timeout({ name: 'slow', ms: 500 });
slow.configure({ ms: 2_000 }); // calls started from now on; calls in flight keep 500 ms
// #endregion

// #region hedge
import { hedge } from 'batchflight/hedge';

const replicas = hedge({ name: 'replicas', afterMs: 40 });
replicas.configure({ afterMs: 80, maxHedges: 2 }); // the p95 moved
// #endregion

// #region circuit-breaker
import { circuitBreaker, consecutive, sampling } from 'batchflight/circuit-breaker';

const payments = circuitBreaker({ name: 'payments', policy: consecutive(5) });
payments.configure({ policy: sampling({ threshold: 0.5, minimumCalls: 20 }) }); // state kept
// #endregion

// #region cache
import { cache } from 'batchflight/cache';

const users = cache({ name: 'users', ttlMs: 60_000 });
// New entries live 5 s; stored ones keep their expiry. The stale window applies at once.
users.configure({ ttlMs: 5_000, staleWhileRevalidateMs: 30_000 });
// #endregion

// #region invalid
let refused = '';
try {
  db.configure({ maxConcurrent: 0 });
} catch (error) {
  refused = String(error); // the constructor's message; the settings stay as they were
}
// #endregion

// #region registry
import {
  breakerTunable,
  bulkheadTunable,
  cacheTunable,
  ConfigRegistry,
  fleetConfigSchema,
  hedgeTunable,
  rateLimitTunable,
  retryTunable,
  timeoutTunable,
} from '@batchflight/config';

const registry = new ConfigRegistry();
registry.register('github', rateLimitTunable(github));
registry.register('db', bulkheadTunable(db));
registry.register('api', retryTunable(api));
registry.register('slow', timeoutTunable(slow));
registry.register('replicas', hedgeTunable(replicas));
registry.register('payments', breakerTunable(payments));
registry.register('users', cacheTunable(users));

const report = registry.apply(
  parseConfigText(fleetYaml(), { source: 'fleet.yaml' }, fleetConfigSchema),
  'fleet.yaml',
);
// report.applied: one entry per primitive, with the keys that changed
// #endregion

function fleetYaml(): string {
  return `# fleet.yaml
primitives:
  github:
    rateLimit: { rate: 5000, per: hour, burst: 100, maxStallMs: 10000 }
  db:
    bulkhead: { maxConcurrent: 16, maxQueued: 200 }
  api:
    retry: { maxAttempts: 3, backoff: { initialDelayMs: 50, maxDelayMs: 2000 }, budget: { capacity: 50 } }
  slow:
    timeout: { ms: 1500 }
  replicas:
    hedge: { afterMs: 60 }
  payments:
    circuitBreaker: { threshold: 3, halfOpenAfterMs: 30000 }
  users:
    cache: { ttlMs: 10000, staleIfErrorMs: 300000, version: 7 }
`;
}

await github.close();
await db.close();
await users.close();

export const results = {
  refused,
  applied: report.applied.map((change) => `${change.name}: ${change.keys.join(', ')}`),
  settings: {
    github: github.settings,
    db: db.settings,
    api: { maxAttempts: api.settings.maxAttempts, budget: budget.settings.capacity },
    slow: slow.settings,
    replicas: replicas.settings,
    payments: {
      kind: payments.settings.policy.kind,
      halfOpenAfterMs: payments.settings.halfOpenAfterMs,
    },
    users: users.settings,
  },
};
