import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staleSqlModule } from '../../../../scripts/sql-modules.js';

describe('sql/generated.ts', () => {
  it('is the module scripts/sql-modules.ts generates from the .sql files of this folder', () => {
    const stale = staleSqlModule(fileURLToPath(new URL('../..', import.meta.url)));
    expect(
      stale,
      'src/sql/generated.ts is stale: run `npx tsx scripts/sql-modules.ts packages/sqlite`',
    ).toBeUndefined();
  });
});
