import { describe, expect, it } from 'vitest';
import { pgUnavailable } from '../packages/postgres/src/__fixtures__/pg.js';

const skip = await pgUnavailable(); // with CI=true a missing PostgreSQL fails

describe.skipIf(skip !== undefined)('examples/config-publish', () => {
  it('publishes, diffs, rolls back and lists the following process', async () => {
    const { results, maxSize } = await import('./config-publish.js');
    expect([results.first, results.second, results.restored]).toEqual([1, 2, 3]);
    expect(results.diff).toEqual([{ path: 'primitives.users.batch.maxSize', from: 25, to: 10 }]);
    expect(results.processes.map((p) => [p.processId, p.revision, p.stale])).toEqual([
      ['api-1', 3, false],
    ]);
    expect(results.health).toMatchObject({ revision: 3, reachable: true });
    expect(maxSize).toBe(25);
  });
});
