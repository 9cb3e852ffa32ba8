import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from './index.js';

const docs = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');

describe('the instrument catalogue', () => {
  it('is the table of the observability docs, row for row', () => {
    const rows = docs
      .split('\n')
      .filter((line) => line.startsWith('| `batchflight.'))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    expect(rows.map((r) => r[0])).toEqual(METRICS.map((m) => `\`${m.name}\``));
    for (const [i, m] of METRICS.entries()) {
      expect(rows[i]?.slice(1, 4), m.name).toEqual([
        m.kind,
        `\`${m.unit}\``,
        m.attributes.map((a) => `\`${a}\``).join(', '),
      ]);
    }
  });
});
