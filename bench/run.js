#!/usr/bin/env node
// Runs the side-by-side benchmarks: `npm run bench` runs all of them,
// `npm run bench -- singleflight batch` runs the named ones.
// Each bench is a TypeScript file `bench/<name>.bench.ts` run against the
// workspace sources (the `@batchflight/source` export condition) through tsx.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown bench(es): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n### bench/${name}.bench.ts\n`);
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=@batchflight/source',
      '--expose-gc',
      '--import',
      'tsx',
      join(here, `${name}.bench.ts`),
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
