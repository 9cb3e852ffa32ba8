/** docs/dataloader.md: the drop-in DataLoader with the opt-in fixes, on a stand-in database. */
interface User {
  readonly id: number;
}
/** Stand-in database: records each bulk call. */
export const db = {
  calls: [] as (readonly number[])[],
  async usersByIds(ids: readonly number[]): Promise<User[]> {
    this.calls.push(ids);
    await Promise.resolve();
    return ids.map((id) => ({ id }));
  },
};
const freshUser: User = { id: 1 };

// #region usage
import DataLoader from 'batchflight/dataloader'; // also: import { DataLoader } from 'batchflight'

const users = new DataLoader((ids: readonly number[]) => db.usersByIds(ids), {
  maxBatchSize: 100,
  // opt-in fixes, all off by default:
  cacheErrors: false, // an Error result is not cached: the next load asks again
  cacheTtlMs: 60_000, // entries expire…
  cacheMaxEntries: 10_000, // …and the cache is bounded (TtlCacheMap, on `clock`)
  sameCachedPromise: true, // a cache hit returns the cached promise itself (dataloader #377)
  maxConcurrentBatches: 4, // dispatched batches beyond it wait
});
const [a, b] = await Promise.all([users.load(1), users.load(2)]); // one call: [1, 2]
users.clear(1).prime(1, freshUser);
// #endregion

export const results = { a, b, primed: await users.load(1) };
