/** docs/fallback-hedge.md: substitute answers and a hedged call, on stand-ins. */
import { toContext, type CallContext } from 'batchflight/core';

interface User {
  readonly id: number;
  readonly stale?: boolean;
}
interface Doc {
  readonly path: string;
}
const fetchDoc = async (path: string, _ctx: CallContext): Promise<Doc> => ({ path });
const staleCache = { get: (id: number): User => ({ id, stale: true }) };
const isServerError = (error: unknown): boolean =>
  ((error as { status?: number }).status ?? 500) >= 500;

// #region usage
import { fallback } from 'batchflight/fallback';
import { hedge, HedgeCancelledError } from 'batchflight/hedge';

const orStale = fallback({
  name: 'users-stale',
  compute: (_error, id: number) => staleCache.get(id),
  when: isServerError,
});
const orEmpty = fallback({ value: [] as User[] });
const fastest = hedge({ name: 'docs', afterMs: 40, maxHedges: 1 }); // idempotent calls only
const getDoc = fastest.wrap(fetchDoc); // a Handler<string, Doc>: no type arguments needed
// #endregion

const failing = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('down'), { status: 503 }));
export const results = {
  stale: await orStale.wrap(failing)(1, toContext()),
  empty: await orEmpty.wrap(failing)(1, toContext()),
  doc: await getDoc('/a', toContext()),
  cancelled: HedgeCancelledError.name,
};
