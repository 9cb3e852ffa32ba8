import { describe, expect, it } from 'vitest';

describe('examples/gateway', () => {
  it('serves examples/gateway.yaml: three reads in one bulk call, then a consolidated call', async () => {
    const { api, results } = await import('./gateway.js');
    expect(results.users).toEqual([
      { id: '1', name: 'user 1' },
      { id: '2', name: 'user 2' },
      { id: '1', name: 'user 1' },
    ]);
    expect(results.statuses).toEqual([
      ['me', 200],
      ['friend', 200],
    ]);
    expect(api.calls).toEqual(['/users?ids=1,2', '/users?ids=10']);
  });
});
