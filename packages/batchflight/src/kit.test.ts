import { describe as suite, expect, it } from 'vitest';
import * as cache from './cache/index.js';
import * as core from './core/index.js';
import * as corePublic from './core/public.js';
import * as root from './index.js';
import * as jobs from './jobs/index.js';
import * as kit from './kit.js';
import * as rateLimit from './rate-limit/index.js';

suite('batchflight/kit', () => {
  it('keeps the helpers of the adapter packages out of the root entry', () => {
    const kitNames = Object.keys(kit);
    expect(kitNames.length).toBeGreaterThan(50);
    expect(kitNames.filter((name) => name in root)).toEqual([]);
  });

  it('keeps them out of the core, jobs, cache and rate-limit subpaths too', () => {
    const kitNames = Object.keys(kit);
    for (const entry of [corePublic, jobs, cache, rateLimit]) {
      expect(kitNames.filter((name) => name in entry)).toEqual([]);
    }
  });

  it('re-exports the very functions the capabilities use, not copies', () => {
    expect(kit.integerOption).toBe(core.integerOption);
    expect(kit.DeadlineList).toBe(core.DeadlineList);
  });
});
