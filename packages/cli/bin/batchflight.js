#!/usr/bin/env node
// The `batchflight` command. This launcher is committed (not built) so that
// `npm install`, which runs before any build, can link it into node_modules/.bin;
// it starts the compiled CLI, or says how to build it when it is missing.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/bin.js', import.meta.url);
if (existsSync(fileURLToPath(entry))) {
  await import(entry.href);
} else {
  process.stderr.write(
    'batchflight: the CLI is not built yet (dist/bin.js is missing). ' +
      'Run `npm run build` at the repository root, then try again.\n',
  );
  process.exitCode = 1;
}
