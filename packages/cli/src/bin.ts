/**
 * The `batchflight` command's entry point (the committed launcher
 * `bin/batchflight.js` imports it once built).
 *
 *   batchflight demo [--only <id|capability>,...] [--redis [url]] [--postgres [url]] [--list]
 *   batchflight help [command]
 */
import { main } from './cli.js';

main(process.argv.slice(2), {
  writeOut: (text) => process.stdout.write(text),
  writeErr: (text) => process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
