/** docs/cache.md: a read-through cache used three ways, on a stand-in database and API. */
interface User {
  readonly id: number;
  readonly orgId: number;
}
/** Stand-in database: counts its queries. */
export const db = {
  queries: 0,
  async findUser(id: number, _options?: { signal?: AbortSignal }): Promise<User> {
    this.queries++;
    await Promise.resolve();
    return { id, orgId: 7 };
  },
  async findUsers(ids: readonly number[]): Promise<User[]> {
    this.queries++;
    await Promise.resolve();
    return ids.map((id) => ({ id, orgId: 7 }));
  },
};
const api = { rates: async (currency: string) => ({ currency, eur: 1 }) };
const tenantId = 'tenant-a';

// #region usage
import { cache, cached, MemoryCacheStore } from 'batchflight/cache';
import { batch } from 'batchflight/batch';
import { stack, toContext } from 'batchflight/core';

const users = cache<number>({
  store: new MemoryCacheStore({ maxEntries: 50_000, maxBytes: 64 * 1024 * 1024 }),
  ttlMs: 60_000,
  staleWhileRevalidateMs: 30_000, // serve stale, refresh once in the background
  staleIfErrorMs: 300_000, // serve stale when the refresh fails
  earlyRefresh: true, // XFetch, β = 1
  version: 3, // bump to invalidate everything
  key: (id) => `user:${String(id)}`,
  tags: (user) => [`org:${String((user as User).orgId)}`],
});

// 1. explicit keys
const user = await users.get('user:42', ({ signal }) => db.findUser(42, { signal }), {
  scope: tenantId,
});
// 2. a Layer: in front of a batch source, hits never reach the bulk call
const loadUser = batch({ load: (ids: number[]) => db.findUsers(ids) });
const getUser = stack(users).wrap(loadUser.handler);
await getUser(42, toContext({ scope: tenantId }));
// 3. a plain function, keyed by its arguments
const getRates = cached((currency: string) => api.rates(currency), { ttlMs: 5_000 });

await users.invalidate('user:42', { scope: tenantId });
await users.invalidateTags(['org:7']);
// #endregion

export const results = {
  user,
  rates: await getRates('EUR'),
  again: await getUser(42, toContext({ scope: tenantId })),
};
await users.close();
await loadUser.close();
