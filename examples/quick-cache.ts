/** README.md: a read-through cache in three lines. */
/** Stand-in database: counts its queries. */
export const db = {
  queries: 0,
  async findUser(id: number) {
    this.queries++;
    await Promise.resolve();
    return { id };
  },
};

// #region usage
import { cache } from 'batchflight/cache';

const profiles = cache({ ttlMs: 60_000, staleWhileRevalidateMs: 30_000 });
const user = await profiles.get('user:42', () => db.findUser(42));
// #endregion

export const results = { user, again: await profiles.get('user:42', () => db.findUser(42)) };
await profiles.close();
