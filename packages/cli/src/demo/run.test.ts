/**
 * The demo as a CI gate: a scenario whose counted claim does not hold fails
 * the run, whatever its table says.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import { runDemo, selectScenarios } from './run.js';
import { claimHolds, describeClaim, type Claim, type Scenario } from './scenario.js';

const scenario = (id: string, claims: readonly Claim[]): Scenario => ({
  id,
  capability: 'test',
  title: id,
  run: () => Promise.resolve({ columns: ['a'], rows: [['calls', '1']], claims }),
});

async function demo(scenarios: readonly Scenario[]): Promise<{ failures: number; out: string }> {
  const lines: string[] = [];
  const failures = await runDemo({ scenarios, write: (t) => lines.push(t) });
  return { failures, out: lines.join('\n') };
}

describe('runDemo claims', () => {
  it('counts a scenario as failed when one of its claims exceeds its bound', async () => {
    const { failures, out } = await demo([
      scenario('fine', [{ what: 'upstream calls', actual: 1, atMost: 1 }]),
      scenario('regressed', [
        { what: 'upstream calls', actual: 2, atMost: 1 },
        { what: 'duplicates', actual: 0, atMost: 0 },
      ]),
    ]);
    expect(failures).toBe(1);
    expect(out).toContain('CLAIM FAILED: upstream calls: 2 (expected ≤ 1)');
    expect(out).toContain('claim holds: duplicates: 0 (expected ≤ 0)');
    expect(out).toContain('1 scenario(s) FAILED');
  });

  it('passes when every claim holds', async () => {
    const { failures, out } = await demo([
      scenario('fine', [{ what: 'rows', actual: 10, atLeast: 10, atMost: 10 }]),
    ]);
    expect(failures).toBe(0);
    expect(out).toContain('rows: 10 (expected = 10)');
    expect(out).toContain('every claim held');
  });

  it('a claim holds only within both bounds, and never for NaN', () => {
    expect(claimHolds({ what: 'x', actual: 3, atLeast: 1, atMost: 5 })).toBe(true);
    expect(claimHolds({ what: 'x', actual: 0, atLeast: 1 })).toBe(false);
    expect(claimHolds({ what: 'x', actual: Number.NaN, atMost: 5 })).toBe(false);
    expect(describeClaim({ what: 'x', actual: 3, atLeast: 1, atMost: 5 })).toBe(
      'x: 3 (expected ≥ 1, ≤ 5)',
    );
  });

  it('refuses an unknown scenario name, listing the valid ones', () => {
    expect(() => selectScenarios(['nosuch'])).toThrow(InvalidOptionError);
    expect(() => selectScenarios(['nosuch'])).toThrow(/valid names: .*db-pool/);
    expect(selectScenarios(['singleflight']).map((s) => s.id)).toEqual([
      'db-pool',
      'stampede',
      'rate-limit',
    ]);
  });
});
