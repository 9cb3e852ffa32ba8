/**
 * `batchflight config …`: the fleet configuration from the command line.
 *
 *   batchflight config validate FILE             offline: the file against the fleet schema
 *   batchflight config diff A B                  offline: setting by setting
 *   batchflight config publish FILE [--wait MS]  a new revision in the store
 *   batchflight config status                    the revision every process runs
 *   batchflight config history                   every revision: who, when, what changed
 *   batchflight config rollback N                revision N's text as a new revision
 *
 * The store is `--store redis://…|postgres://…` (or BATCHFLIGHT_CONFIG_STORE), its key
 * prefix or schema `--namespace`. Exit codes: 0 done, 1 the store failed (or, with `--wait`,
 * a process refused the revision or did not apply it in time), 2 a usage error or a
 * configuration that cannot be used (the message names the file, the path, the value and
 * the contract).
 */
import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  diffConfigs,
  fleetConfigSchema,
  loadConfigFile,
  openConfigChannel,
  type ConfigChange,
  type ConfigChannel,
  type ProcessStatus,
} from '@batchflight/config';
import type { Command } from 'commander';

/** Where the command writes, and the environment it reads `BATCHFLIGHT_CONFIG_STORE` from. */
export interface ConfigCommandIo {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The flags every store command takes. */
export interface StoreFlags {
  readonly store?: string;
  readonly namespace?: string;
}

/** Flags of `config publish`. */
export interface PublishFlags extends StoreFlags {
  readonly author?: string;
  readonly wait?: string;
}

/** Flags of `config status`. */
export interface StatusFlags extends StoreFlags {
  readonly json?: true;
}

/** A failure with its exit code and the message to print. */
class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const usage = (message: string): CommandFailure => new CommandFailure(`error: ${message}`, 2);

/** One value as a diff line shows it. */
function show(value: unknown): string {
  // A diff's values are JSON (parsed from the file), so stringify always gives a string.
  return JSON.stringify(value);
}

/** The lines of a diff, one change each: `~ path: from -> to`, `+ path: to`, `- path: from`. */
export function formatChanges(changes: readonly ConfigChange[], indent = '  '): string {
  return changes
    .map((change) => {
      if (!('from' in change)) return `${indent}+ ${change.path}: ${show(change.to)}`;
      if (!('to' in change)) return `${indent}- ${change.path}: ${show(change.from)}`;
      return `${indent}~ ${change.path}: ${show(change.from)} -> ${show(change.to)}`;
    })
    .map((line) => `${line}\n`)
    .join('');
}

const plural = (n: number, word: string, words = `${word}s`): string =>
  `${String(n)} ${n === 1 ? word : words}`;
const time = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The state of a process against the last revision, as `status` prints it. */
function stateOf(process: ProcessStatus, latest: number): string {
  if (process.stale) return 'stale';
  if (process.refused !== undefined) return `refused ${String(process.refused)}`;
  return process.revision >= latest ? 'current' : 'behind';
}

/** Pads the cells of `rows` into columns. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

async function withChannel<T>(
  flags: StoreFlags,
  io: ConfigCommandIo,
  body: (channel: ConfigChannel) => Promise<T>,
): Promise<T> {
  const url = flags.store ?? io.env['BATCHFLIGHT_CONFIG_STORE'];
  if (url === undefined) {
    throw usage('--store redis://…|postgres://… is required (or set BATCHFLIGHT_CONFIG_STORE)');
  }
  let opened;
  try {
    // A command must end: no endless reconnecting to a store that is down.
    opened = await openConfigChannel(url, {
      reconnect: false,
      ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    });
  } catch (error) {
    if (ConfigError.is(error)) throw usage(error.message);
    throw new CommandFailure(`error: cannot reach ${url}: ${(error as Error).message}`, 1);
  }
  try {
    return await body(opened.channel);
  } catch (error) {
    if (error instanceof CommandFailure || ConfigError.is(error)) throw error;
    if (error instanceof RangeError) throw new CommandFailure(`error: ${error.message}`, 2);
    throw new CommandFailure(
      `error: ${opened.channel.store.label} failed: ${(error as Error).message}`,
      1,
    );
  } finally {
    await opened.close();
  }
}

/** Waits until every live process has applied (or refused) `revision`, or `waitMs` passed. */
async function waitForFleet(
  channel: ConfigChannel,
  revision: number,
  waitMs: number,
  io: ConfigCommandIo,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const live = (await channel.processes()).filter((p) => !p.stale);
    const refused = live.filter((p) => p.refused !== undefined && p.refused >= revision);
    const pending = live.filter((p) => p.revision < revision && !refused.includes(p));
    const elapsed = Math.round(performance.now() - started);
    if (pending.length === 0 || elapsed >= waitMs) {
      const applied = live.length - pending.length - refused.length;
      io.writeOut(
        `applied by ${String(applied)}/${plural(live.length, 'live process', 'live processes')} in ${String(elapsed)} ms\n`,
      );
      for (const p of refused) io.writeErr(`  ${p.processId} refused it: ${p.error ?? ''}\n`);
      for (const p of pending) {
        io.writeErr(`  ${p.processId} still runs revision ${String(p.revision)}\n`);
      }
      return refused.length + pending.length === 0 ? 0 : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function validate(file: string, io: ConfigCommandIo): Promise<number> {
  const config = await loadConfigFile(file, fleetConfigSchema);
  const names = Object.keys(config.primitives);
  io.writeOut(
    `${file}: valid (${plural(names.length, 'primitive')}${names.length === 0 ? '' : `: ${names.join(', ')}`})\n`,
  );
  return 0;
}

async function diff(a: string, b: string, io: ConfigCommandIo): Promise<number> {
  const [before, after] = await Promise.all([
    loadConfigFile(a, fleetConfigSchema),
    loadConfigFile(b, fleetConfigSchema),
  ]);
  const changes = diffConfigs(before, after);
  io.writeOut(changes.length === 0 ? 'no differences\n' : formatChanges(changes, ''));
  return 0;
}

function waitOf(flags: PublishFlags): number | undefined {
  const waitMs = flags.wait === undefined ? undefined : Number(flags.wait);
  if (waitMs !== undefined && !(Number.isInteger(waitMs) && waitMs >= 0)) {
    throw usage(`--wait takes a number of ms (an integer >= 0), got ${JSON.stringify(flags.wait)}`);
  }
  return waitMs;
}

async function publish(file: string, flags: PublishFlags, io: ConfigCommandIo): Promise<number> {
  const waitMs = waitOf(flags);
  // Validated before the store is opened: a bad file never needs the coordinator.
  await loadConfigFile(file, fleetConfigSchema);
  const text = await readFile(file, 'utf8');
  return withChannel(flags, io, async (channel) => {
    const revision = await channel.publish(text, {
      source: file,
      ...(flags.author === undefined ? {} : { author: flags.author }),
    });
    const stored = await channel.revision(revision);
    io.writeOut(
      `published revision ${String(revision)} to ${channel.store.label} by ${stored?.author ?? '?'} (${plural(stored?.diff.length ?? 0, 'change')})\n`,
    );
    io.writeOut(formatChanges(stored?.diff ?? []));
    return waitMs === undefined ? 0 : waitForFleet(channel, revision, waitMs, io);
  });
}

async function rollback(n: string, flags: PublishFlags, io: ConfigCommandIo): Promise<number> {
  const target = Number(n);
  if (!(Number.isInteger(target) && target > 0)) {
    throw usage(`rollback takes a revision number (an integer >= 1), got ${JSON.stringify(n)}`);
  }
  const waitMs = waitOf(flags);
  return withChannel(flags, io, async (channel) => {
    const revision = await channel.rollback(
      target,
      flags.author === undefined ? {} : { author: flags.author },
    );
    const stored = await channel.revision(revision);
    io.writeOut(
      `rolled back to revision ${String(target)} as revision ${String(revision)} (${plural(stored?.diff.length ?? 0, 'change')})\n`,
    );
    io.writeOut(formatChanges(stored?.diff ?? []));
    return waitMs === undefined ? 0 : waitForFleet(channel, revision, waitMs, io);
  });
}

async function status(flags: StatusFlags, io: ConfigCommandIo): Promise<number> {
  return withChannel(flags, io, async (channel) => {
    const latest = await channel.latest();
    const processes = await channel.processes();
    if (flags.json === true) {
      io.writeOut(`${JSON.stringify({ latest, processes }, null, 2)}\n`);
      return 0;
    }
    const last = await channel.revision(latest);
    io.writeOut(
      latest === 0
        ? `${channel.store.label}: no revision published\n`
        : `${channel.store.label}: revision ${String(latest)}, by ${last?.author ?? '?'} at ${time(last?.at ?? 0)}\n`,
    );
    if (processes.length === 0) {
      io.writeOut('no process has reported\n');
      return 0;
    }
    const live = processes.filter((p) => !p.stale).length;
    io.writeOut(
      `${plural(live, 'live process', 'live processes')}, ${String(processes.length - live)} stale (no report for 3 heartbeats)\n`,
    );
    io.writeOut(
      table([
        ['PROCESS', 'HOST', 'PID', 'REVISION', 'STATE', 'LAST REPORT', 'ERROR'],
        ...processes.map((p) => [
          p.processId,
          p.host ?? '',
          p.pid === undefined ? '' : String(p.pid),
          String(p.revision),
          stateOf(p, latest),
          `${(p.ageMs / 1000).toFixed(1)} s ago`,
          (p.error ?? '').split('\n')[0] ?? '',
        ]),
      ]),
    );
    return 0;
  });
}

async function history(flags: StoreFlags, io: ConfigCommandIo): Promise<number> {
  return withChannel(flags, io, async (channel) => {
    const revisions = await channel.history();
    if (revisions.length === 0) {
      io.writeOut(`${channel.store.label}: no revision published\n`);
      return 0;
    }
    for (const r of revisions) {
      const restored = r.rollbackOf === undefined ? '' : `, rollback of ${String(r.rollbackOf)}`;
      io.writeOut(
        `revision ${String(r.revision)}  ${time(r.at)}  ${r.author}  (${plural(r.diff.length, 'change')}${restored})\n`,
      );
      io.writeOut(formatChanges(r.diff));
    }
    return 0;
  });
}

/** Runs one subcommand and turns its failures into a message and an exit code. */
async function run(io: ConfigCommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof CommandFailure) {
      io.writeErr(`${error.message}\n`);
      return error.exitCode;
    }
    if (ConfigError.is(error)) {
      io.writeErr(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * Adds `config` and its subcommands to `program`; `done(code)` receives each run's exit
 * code (commander's actions return nothing).
 */
export function registerConfigCommand(
  program: Command,
  io: ConfigCommandIo,
  done: (code: number) => void,
): void {
  const config = program
    .command('config')
    .description(
      'The fleet configuration: validate and diff files offline; publish, roll back and see ' +
        'which revision every process runs, in Redis or PostgreSQL (--store).',
    );
  const store = (command: Command): Command =>
    command
      .option('--store <url>', 'redis://… or postgres://… (default: BATCHFLIGHT_CONFIG_STORE)')
      .option(
        '--namespace <name>',
        'Redis key prefix (default batchflight:config) or PostgreSQL schema (default batchflight_config)',
      );
  const action =
    <A extends unknown[]>(body: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      done(await run(io, () => body(...args)));
    };

  config
    .command('validate')
    .description('Check a fleet configuration file against the schema (offline).')
    .argument('<file>', 'YAML or JSON')
    .action(action((file: string) => validate(file, io)));
  config
    .command('diff')
    .description('The settings that differ between two fleet configuration files (offline).')
    .argument('<a>', 'the file before')
    .argument('<b>', 'the file after')
    .action(action((a: string, b: string) => diff(a, b, io)));
  store(
    config
      .command('publish')
      .description(
        'Validate FILE and store it as the next revision; every following process applies it.',
      )
      .argument('<file>', 'YAML or JSON'),
  )
    .option('--author <who>', 'who publishes (default: user@host)')
    .option('--wait <ms>', 'wait until every live process has applied it, at most this long')
    .action(action((file: string, flags: PublishFlags) => publish(file, flags, io)));
  store(
    config
      .command('status')
      .description('The last revision, and which revision every process runs (stale ones marked).'),
  )
    .option('--json', 'print JSON')
    .action(action((flags: StatusFlags) => status(flags, io)));
  store(
    config.command('history').description('Every revision: who, when, and what it changed.'),
  ).action(action((flags: StoreFlags) => history(flags, io)));
  store(
    config
      .command('rollback')
      .description("Publish revision N's content again, as a new revision.")
      .argument('<revision>', 'the revision number to restore'),
  )
    .option('--author <who>', 'who rolls back (default: user@host)')
    .option('--wait <ms>', 'wait until every live process has applied it, at most this long')
    .action(action((n: string, flags: PublishFlags) => rollback(n, flags, io)));
}
