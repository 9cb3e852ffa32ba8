import { describe, expect, it } from 'vitest';

describe('examples/config', () => {
  it('builds the batcher from the file and retunes it when the file changes', async () => {
    // The explicit reload runs first; a file-watch reload after it finds nothing changed.
    const { db, reports, results } = await import('./config.js');
    expect(db.queries).toEqual([3, 2, 1]);
    expect(reports[0]).toEqual({
      applied: [{ name: 'users', capability: 'batch', keys: ['maxSize', 'maxWaitMs'] }],
      restartRequired: [],
      unregistered: [],
    });
    expect(results).toEqual({ state: 'closed', generation: 2 });
  });
});
