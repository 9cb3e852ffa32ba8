/** README.md: micro-batching in three lines. */
/** Stand-in database: records each bulk query. */
export const db = {
  queries: [] as (readonly number[])[],
  async findUsers(ids: readonly number[]) {
    this.queries.push(ids);
    await Promise.resolve();
    return ids.map((id) => ({ id }));
  },
};

// #region usage
import { batch } from 'batchflight/batch';

const users = batch({ load: (ids: number[]) => db.findUsers(ids), maxSize: 100 });
const [ada, bob] = await Promise.all([users.load(1), users.load(2)]); // one query
// #endregion

export const results = { ada, bob };
await users.close();
