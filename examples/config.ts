/** docs/configuration.md and packages/config/README.md: one file retunes a running process. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Stand-in database: the size of each bulk query. */
export const db = {
  queries: [] as number[],
  findUsers(ids: readonly number[]) {
    this.queries.push(ids.length);
    return Promise.resolve(ids.map((id) => ({ id })));
  },
};
export const reports: unknown[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bf-example-config-'));
const path = join(dir, 'fleet.yaml');
writeFileSync(
  path,
  `# fleet.yaml
primitives:
  users:
    batch: { maxSize: 100, maxWaitMs: 2 }
  payments:
    circuitBreaker: { threshold: 5 }
`,
);
const edit = (text: string) => {
  writeFileSync(path, text);
};

// #region startup
import {
  ConfigRegistry,
  fleetConfigSchema,
  loadConfigFile,
  retunableBatch,
} from '@batchflight/config';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';

const registry = new ConfigRegistry(await loadConfigFile(path, fleetConfigSchema));

// Built from the file: the options a configuration sets replace the ones in code.
const users = retunableBatch({
  name: 'users',
  load: (ids: number[]) => db.findUsers(ids),
  ...registry.settingsFor('users', 'batch'),
});
const { threshold = 3 } = registry.settingsFor('payments', 'circuitBreaker');
const payments = circuitBreaker({ name: 'payments', policy: consecutive(threshold) });
// #endregion

// #region live
import { breakerTunable, watchConfigFile } from '@batchflight/config';

registry.register('users', users.tunable); // window, sizes, concurrency: live
registry.register('payments', breakerTunable(payments)); // isolated, thresholds, probes: live
const watcher = watchConfigFile(path, registry, {
  reloadOn: 'SIGHUP',
  onApplied: (report) => reports.push(report), // { applied, restartRequired, unregistered }
  onRefused: (error) => {
    console.error(String(error)); // the last good configuration stays
  },
});
// #endregion

await Promise.all([1, 2, 3].map((id) => users.load(id)));
edit(
  'primitives:\n  users:\n    batch: { maxSize: 2 }\n  payments:\n    circuitBreaker: { threshold: 5 }\n',
);
await watcher.reload(); // what the file watch does on its own a moment later
await Promise.all([4, 5, 6].map((id) => users.load(id)));
watcher.close();
await users.close();

export const results = { state: payments.state, generation: users.generation };
