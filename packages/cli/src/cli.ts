/**
 * The `batchflight` command line, parsed with commander so that help, usage
 * errors and future subcommands (gateway, import, worker) share one shape.
 *
 * Exit codes: 0 success or help, 1 a scenario failed its claim, 2 a usage
 * error (unknown command, option or scenario name, a malformed URL).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { InvalidOptionError } from 'batchflight/core';
import { importOptions, runImportCommand, type ImportFlags } from '@batchflight/import';
import { runDemo, scenarioNames, selectScenarios, type DemoOptions } from './demo/run.js';
import { scenarios } from './demo/scenarios.js';
import { registerConfigCommand } from './config-command.js';
import { runGatewayCommand, type GatewayFlags } from './gateway-command.js';

/** Where {@link main} reads and writes; the bin passes the process's own. */
export interface CliIo {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
  /** Environment variables (`BATCHFLIGHT_REDIS_URL`, `BATCHFLIGHT_PG_URL`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Runs the demo; resolves to the number of failed scenarios. Default {@link runDemo}. */
  readonly runDemo?: (options: DemoOptions) => Promise<number>;
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Commander's codes for a help or version request: those exit 0, not 2. */
const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

interface DemoFlags {
  readonly only?: string[];
  readonly redis?: string | true;
  readonly postgres?: string | true;
  readonly list?: true;
}

/**
 * Runs the `batchflight` command with `argv` (the arguments after the
 * executable and script) and resolves to the exit code; it never throws for
 * bad input and never calls `process.exit`.
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2), {
 *   writeOut: (t) => process.stdout.write(t),
 *   writeErr: (t) => process.stderr.write(t),
 *   env: process.env,
 * });
 * ```
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('batchflight')
    .description(
      'batchflight: coalescing, micro-batching, caching, downstream protection and durable jobs.',
    )
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.writeOut, writeErr: io.writeErr })
    .showHelpAfterError('(run batchflight --help for usage)');

  program
    .command('demo')
    .description(
      'Run the scenario suite: each capability against a naive baseline, checking the claim it ' +
        'demonstrates (upstream calls, queries, duplicates). Exits 1 when a claim fails.',
    )
    .addOption(
      new Option(
        '--only <names>',
        `run only these scenario ids or capabilities (comma-separated, repeatable): ${scenarioNames().join(', ')}`,
      ).argParser((value: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        ...value
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== ''),
      ]),
    )
    .addOption(
      new Option(
        '--redis [url]',
        `add the scenarios that need Redis (default: BATCHFLIGHT_REDIS_URL, else ${DEFAULT_REDIS_URL})`,
      ),
    )
    .addOption(
      new Option(
        '--postgres [url]',
        `add the scenarios that need PostgreSQL (default: BATCHFLIGHT_PG_URL, else ${DEFAULT_PG_URL})`,
      ),
    )
    .option('--list', 'list the scenarios and exit')
    .action(async (flags: DemoFlags, command: Command) => {
      if (flags.list === true) {
        io.writeOut(listScenarios());
        return;
      }
      const only = flags.only ?? [];
      if (flags.only !== undefined && only.length === 0) {
        command.error('error: --only needs at least one scenario id or capability', {
          exitCode: 2,
          code: 'batchflight.usage',
        });
      }
      let options: DemoOptions;
      try {
        selectScenarios(only);
        options = {
          only,
          redisUrl: serverUrl(
            '--redis',
            flags.redis,
            io.env['BATCHFLIGHT_REDIS_URL'],
            DEFAULT_REDIS_URL,
            ['redis:', 'rediss:'],
          ),
          postgresUrl: serverUrl(
            '--postgres',
            flags.postgres,
            io.env['BATCHFLIGHT_PG_URL'],
            DEFAULT_PG_URL,
            ['postgres:', 'postgresql:'],
          ),
        };
      } catch (error) {
        if (!(error instanceof InvalidOptionError)) throw error;
        // The library names the option as an API field (`only`); on the command line it is a flag.
        const message = error.option.startsWith('--') ? error.message : `--${error.message}`;
        command.error(`error: ${message}`, { exitCode: 2, code: 'batchflight.usage' });
      }
      const failures = await (io.runDemo ?? runDemo)(options);
      exitCode = failures === 0 ? 0 : 1;
    });

  const importCommand = program
    .command('import')
    .description('Import a CSV or NDJSON file (- for stdin) into PostgreSQL or SQLite, resumable.')
    .argument('<input>', 'CSV or NDJSON file, or - for stdin');
  for (const [flags, description] of importOptions) importCommand.option(flags, description);
  importCommand.action(async (input: string, flags: ImportFlags) => {
    exitCode = await runImportCommand(input, flags, { ...io, isTTY: process.stderr.isTTY }, argv);
  });

  program
    .command('gateway')
    .description(
      'Run the HTTP gateway: routes with coalesce, cache, batch, rate limit, breaker, retry, ' +
        'timeout and bulkhead policies, and POST /batch. SIGHUP reloads, SIGTERM drains.',
    )
    .requiredOption('--config <file>', 'gateway configuration, YAML or JSON')
    .option('--port <n>', "port to listen on (default: the config's listen.port)")
    .action(async (flags: GatewayFlags) => {
      exitCode = await runGatewayCommand(flags, io);
    });

  registerConfigCommand(program, io, (code) => (exitCode = code));

  if (argv.length === 0) {
    io.writeOut(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return HELP_CODES.has(error.code) ? 0 : 2;
    throw error;
  }
  return exitCode;
}

/**
 * The URL of one server: the flag's own value, else (flag given bare, or
 * only the environment set) the environment's, else the local default.
 */
function serverUrl(
  option: string,
  flag: string | true | undefined,
  fromEnv: string | undefined,
  fallback: string,
  schemes: readonly string[],
): string | undefined {
  const url = typeof flag === 'string' ? flag : (fromEnv ?? (flag === true ? fallback : undefined));
  if (url === undefined) return undefined;
  let scheme: string | undefined;
  try {
    scheme = new URL(url).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme === undefined || !schemes.includes(scheme)) {
    throw new InvalidOptionError(
      option,
      `${option} takes a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}, but got ${JSON.stringify(url)}`,
    );
  }
  return url;
}

function listScenarios(): string {
  const width = Math.max(...scenarios.map((s) => s.id.length));
  const capWidth = Math.max(...scenarios.map((s) => s.capability.length));
  return (
    scenarios
      .map((s) =>
        [
          s.id.padEnd(width),
          s.capability.padEnd(capWidth),
          (s.requires === undefined ? '' : `needs ${s.requires}`).padEnd(14),
          s.title,
        ].join('  '),
      )
      .join('\n') + '\n'
  );
}

function version(): string {
  // Read at run time: the same relative path from src/ (tests) and dist/ (built).
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  return pkg.version;
}
