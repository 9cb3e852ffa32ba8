import { describe, expect, it } from 'vitest';

describe('examples/otel-traces', () => {
  it('links the batch to its callers and the flight to its waiters', async () => {
    const { spans } = await import('./otel-traces.js');
    const requests = spans.filter((s) => s.name.startsWith('GET /users/'));
    const ids = requests.map((s) => s.spanId).sort();
    const [bulk] = spans.filter((s) => s.name === 'batch users');
    expect(bulk?.links.sort()).toEqual(ids);
    expect(bulk?.parent).toBeUndefined();
    const [flight] = spans.filter((s) => s.name === 'singleflight settings');
    const waits = spans.filter((s) => s.name === 'singleflight.wait settings');
    expect(waits).toHaveLength(2);
    // The flight is a child of one request, linked to the two others, which wait for it.
    expect([flight?.parent, ...(flight?.links ?? [])].sort()).toEqual(ids);
    expect(waits.map((w) => w.parent).sort()).toEqual([...(flight?.links ?? [])].sort());
    for (const wait of waits) expect(wait.links).toEqual([flight?.spanId]);
  });
});
