/** docs/configuration.md: a coordinator publishes a revision, every process applies it. */
import { ConfigRegistry, rateLimitTunable, retunableBatch } from '@batchflight/config';
import { rateLimit } from 'batchflight/rate-limit';

const prefix = `bf-example-config-fleet:${String(process.pid)}`;
const registry = new ConfigRegistry();
const users = retunableBatch({
  name: 'users',
  load: (ids: number[]) => Promise.resolve(ids.map((id) => ({ id }))),
});
registry.register('users', users.tunable);
const github = rateLimit({ name: 'github', rate: 10, per: 'second' });
registry.register('github', rateLimitTunable(github));
const fleetYaml =
  'primitives:\n  users:\n    batch: { maxSize: 25, maxWaitMs: 5 }\n  github:\n    rateLimit: { rate: 100, burst: 10 }\n';
// Built with two limits: a single `rate` is valid for the schema and refused by the limiter.
const search = rateLimit({ name: 'search', limits: [{ rate: 5 }, { rate: 100, per: 'minute' }] });
registry.register('search', rateLimitTunable(search));
const refusedYaml = 'primitives:\n  search:\n    rateLimit: { rate: 50 }\n';
export const applied: number[] = [];
export const refused: string[] = [];

// #region fleet
import { RedisConfigChannel } from '@batchflight/config/redis';
import { Redis } from 'ioredis';

const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const fleet = new RedisConfigChannel({ redis, prefix }); // prefix: default 'batchflight:config'

// In every process: apply the current revision, then each one published.
const follower = fleet.follow(registry, {
  onApplied: (revision, _report) => applied.push(revision), // the report of registry.apply
  onRefused: (revision, error) => {
    refused.push(`${String(revision)}: ${String(error)}`); // it keeps its last good revision
  },
});
await follower.ready;

// On the coordinator (`publish` validates first; an invalid text is never stored):
const revision = await fleet.publish(fleetYaml, { author: 'ops@example.com' });
const status = await fleet.status(); // { 'host:pid': { revision, refused?, error?, at } }
// #endregion

while (follower.revision < revision) await new Promise((resolve) => setTimeout(resolve, 10));
const rate = github.settings.rate;
await fleet.publish(refusedYaml, { author: 'ops@example.com' });
while (refused.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
export const results = {
  revision,
  status,
  maxSize: users.options.maxSize,
  rate,
  after: { revision: follower.revision, rate: github.settings.rate },
};
await github.close();
await search.close();
await follower.close();
await users.close();
await redis.del(`${prefix}:revision`, `${prefix}:revisions`, `${prefix}:processes`);
redis.disconnect();
