/**
 * docs/configuration.md "Fleet: publish, status, rollback": the fleet's revisions in
 * PostgreSQL (the Redis channel has the same methods), who published what, and which
 * revision every process runs.
 */
import { ConfigRegistry, retunableBatch } from '@batchflight/config';
import pg from 'pg';

const connectionString = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bf_example_config_publish_${String(process.pid)}`;
const registry = new ConfigRegistry();
const users = retunableBatch({
  name: 'users',
  load: (ids: number[]) => Promise.resolve(ids.map((id) => ({ id }))),
});
registry.register('users', users.tunable);
const fleetYaml = 'primitives:\n  users:\n    batch: { maxSize: 25, maxWaitMs: 5 }\n';
const smallerYaml = 'primitives:\n  users:\n    batch: { maxSize: 10, maxWaitMs: 5 }\n';

// #region postgres
import { PostgresConfigChannel } from '@batchflight/config/postgres';

// The tables live in one schema (default batchflight_config), created on first use.
const fleet = new PostgresConfigChannel({ connectionString, schema });

// In every process: apply the current revision, then each one published (LISTEN/NOTIFY,
// and a poll every second for a missed notification); report a heartbeat every 5 s.
const follower = fleet.follow(registry, { processId: 'api-1' });
await follower.ready;
// #endregion

// #region publish
// Validated first: a bad text is a ConfigError naming the source, the path, the value and
// the contract, and is never stored. Each revision keeps who, when and its diff.
const first = await fleet.publish(fleetYaml, { source: 'fleet.yaml', author: 'ops@example.com' });
const second = await fleet.publish(smallerYaml, { source: 'fleet.yaml' }); // author: user@host
const diff = (await fleet.revision(second))?.diff; // [{ path: 'primitives.users.batch.maxSize', from: 25, to: 10 }]
const restored = await fleet.rollback(first, { author: 'oncall@example.com' }); // first's text, as revision 3
// #endregion

while (follower.revision < restored) await new Promise((resolve) => setTimeout(resolve, 10));

// #region status
const processes = await fleet.processes();
// [{ processId: 'api-1', revision: 3, host, pid, at, ageMs, stale: false, heartbeatMs: 5000 }]
const health = follower.health(); // { revision: 3, reachable: true, lastContactAt }
// #endregion

export const results = { first, second, restored, diff, processes, health };
export const maxSize = users.options.maxSize;
await follower.close();
await fleet.close();
await users.close();
const admin = new pg.Client({ connectionString });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await admin.end();
