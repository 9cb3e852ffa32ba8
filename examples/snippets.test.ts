import { describe, expect, it } from 'vitest';
import { docFiles, regionText, snippetsOf } from './snippets.js';

describe('documentation snippets', () => {
  const snippets = docFiles().flatMap((doc) => snippetsOf(doc));

  it('finds the snippets of the README, docs/ and the package READMEs', () => {
    expect(snippets.length).toBeGreaterThan(20);
  });

  for (const snippet of snippets) {
    it(`${snippet.doc}:${String(snippet.line)} is taken from examples/`, () => {
      expect(
        snippet.source,
        'precede it with <!-- example: examples/<file>.ts#<region> --> and write it there',
      ).toBeDefined();
      if (snippet.source === undefined) return;
      expect(
        snippet.code,
        `differs from ${snippet.source.file}#${snippet.source.regions.join(',')}: run npx tsx examples/snippets.ts --write`,
      ).toBe(regionText(snippet.source.file, snippet.source.regions));
    });
  }
});
