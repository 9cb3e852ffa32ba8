import { describe, expect, it } from 'vitest';
import { CATALOGUE_PATH, collectCatalogue, staleCatalogue } from './catalogue.js';

// Building the TypeScript program of every package takes seconds, more on a loaded machine.
const PROGRAM_TIMEOUT_MS = 180_000;

describe('scripts/catalogue', () => {
  it(
    'finds channels in exported maps and in private constants, hooks of both kinds and stats fields',
    () => {
      const sections = new Map(collectCatalogue().map((s) => [s.title, s]));
      const cache = sections.get('cache');
      const load = cache?.channels.find((c) => c.name === 'batchflight:cache:load');
      expect(load?.mapEntry).toBe('cacheChannels.load');
      expect(load?.payload).toBe('CacheLoadEvent');
      expect(load?.fields.map((f) => f.name)).toContain('key');
      expect(cache?.hooks.some((h) => h.owner === 'Cache' && h.name === 'onLoad')).toBe(true);
      expect(cache?.stats.find((s) => s.owner === 'Cache')?.fields.length).toBeGreaterThan(0);
      // A channel published from a module-private constant has no map entry, but a payload.
      const batch = sections.get('batch');
      expect(batch?.channels.map((c) => c.name)).toContain('batchflight:batch:dispatch');
      expect(
        batch?.channels.find((c) => c.name === 'batchflight:batch:dispatch')?.fields.length,
      ).toBeGreaterThan(0);
      // Callback options (a function the caller passes in) are hooks too.
      const imports = sections.get('@batchflight/import');
      expect(imports?.hooks.find((h) => h.name === 'onProgress')?.kind).toBe('callback');
    },
    PROGRAM_TIMEOUT_MS,
  );

  it(
    `${CATALOGUE_PATH} is the page scripts/catalogue.ts generates from the sources`,
    async () => {
      const stale = await staleCatalogue();
      expect(
        stale,
        `${CATALOGUE_PATH} is stale: run \`npx tsx scripts/catalogue.ts\` and commit the page`,
      ).toBeUndefined();
    },
    PROGRAM_TIMEOUT_MS,
  );
});
