/** docs/fallback-hedge.md: substitute answers and a hedged call, on stand-ins. */
import { toContext } from 'batchflight/core';

interface User {
  readonly id: number;
  readonly stale?: boolean;
}
interface Doc {
  readonly path: string;
}
const staleCache = { get: (id: number): User => ({ id, stale: true }) };
const isServerError = (error: unknown): boolean =>
  ((error as { status?: number }).status ?? 500) >= 500;

// #region usage
import { fallback } from 'batchflight/fallback';
import { hedge, HedgeCancelledError } from 'batchflight/hedge';

const orStale = fallback<number, User>({
  compute: (_error, id) => staleCache.get(id),
  when: isServerError,
});
const orEmpty = fallback<number, User[]>({ value: [] });
const fastest = hedge<string, Doc>({ afterMs: 40, maxHedges: 1 }); // idempotent calls only
// #endregion

const failing = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('down'), { status: 503 }));
export const results = {
  stale: await orStale.wrap(failing)(1, toContext()),
  empty: await orEmpty.wrap(failing)(1, toContext()),
  doc: await fastest.wrap(async (path: string) => ({ path }))('/a', toContext()),
  cancelled: HedgeCancelledError.name,
};
