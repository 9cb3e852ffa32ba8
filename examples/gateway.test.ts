import { describe, expect, it } from 'vitest';

describe('examples/gateway', () => {
  it('serves examples/gateway.yaml: three reads as bulk calls, then a consolidated call', async () => {
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
    // Every upstream call is a bulk call (how many depends on how the 2 ms window fell).
    expect(api.calls.every((url) => url.startsWith('/users?ids='))).toBe(true);
    expect(api.calls.at(-1)).toBe('/users?ids=10');
  });
});
