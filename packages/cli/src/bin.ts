#!/usr/bin/env node
/**
 * The `batchflight` command.
 *
 *   batchflight demo [--only id,...] [--redis [url]] [--postgres [url]]
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo/run.js';

const USAGE = `usage: batchflight demo [--only <id|capability>,...] [--redis [url]] [--postgres [url]]`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'demo') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      only: { type: 'string' },
      redis: { type: 'boolean' },
      postgres: { type: 'boolean' },
    },
    strict: true,
  });
  const redisUrl =
    process.env['BATCHFLIGHT_REDIS_URL'] ?? (values.redis ? 'redis://127.0.0.1:6379' : undefined);
  const postgresUrl =
    process.env['BATCHFLIGHT_PG_URL'] ??
    (values.postgres ? 'postgres://postgres@127.0.0.1:5432/test' : undefined);
  const failures = await runDemo({
    only:
      values.only
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean) ?? [],
    redisUrl,
    postgresUrl,
  });
  return failures === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
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
