/** README.md and packages/batchflight/README.md: single flight in three lines. */
/** Stand-in database: counts its queries. */
export const db = {
  queries: 0,
  async findUser(id: number) {
    this.queries++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { id };
  },
};

// #region usage
import { singleflight } from 'batchflight/singleflight';

const getUser = singleflight(async (id: number) => db.findUser(id));
await Promise.all([getUser(1), getUser(1), getUser(2)]); // two queries, not three
// #endregion
