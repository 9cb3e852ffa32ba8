import { describe, expect, it } from 'vitest';

describe('examples/otel', () => {
  it('records the batch, serves it to a Prometheus scrape and logs it without keys', async () => {
    const { db, scraped, logged, collected } = await import('./otel.js');
    expect(db.queries).toBe(2);
    expect(scraped[0]).toMatch(
      /batchflight_batch_size_sum\{[^}]*batchflight_name="users"[^}]*\} 3/,
    );
    expect(collected.get('batchflight.batch.size')?.[0]?.count).toBe(2);
    expect(logged).toEqual([
      expect.objectContaining({ event: 'batch', name: 'users', size: 1, outcome: 'ok' }),
    ]);
  });
});
