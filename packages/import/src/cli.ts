/**
 * `batchflight import`: the command's options and logic, kept here so the CLI
 * package only registers them. The progress line is written by hand rather
 * than with a progress-bar library: it is one `\r`-rewritten line on a TTY and
 * a periodic plain line otherwise, nothing a dependency would do better.
 */
import { InvalidOptionError } from 'batchflight/core';
import { importFile, type ImportOptions, type ImportProgress } from './import.js';

/** The flags of `batchflight import`, as commander parses them. */
export interface ImportFlags {
  readonly into?: string;
  readonly table?: string;
  readonly key?: string;
  readonly upsert?: boolean;
  readonly skipExisting?: boolean;
  readonly chunk?: string;
  readonly columns?: string;
  readonly maxErrors?: string;
  readonly rejectFile?: string;
  readonly format?: string;
  readonly delimiter?: string;
  readonly quote?: string;
  readonly json?: boolean;
  readonly restart?: boolean;
}

/** Option specs of `batchflight import` (commander flag syntax, description). */
export const importOptions: readonly (readonly [flags: string, description: string])[] = [
  ['--into <target>', 'postgres://… URL or sqlite:<file> (required)'],
  ['--table <name>', 'target table, optionally schema.table (required)'],
  ['--key <columns>', 'key columns (comma-separated) for --upsert / --skip-existing'],
  ['--upsert', 'insert or update on the key (the default when --key is given)'],
  ['--skip-existing', 'keep rows whose key already exists'],
  ['--chunk <rows>', 'records per transaction and checkpoint (default 25000)'],
  ['--columns <names>', "the input's field names in order, instead of its header"],
  ['--max-errors <n>', 'rejected rows tolerated before stopping (default 0)'],
  ['--reject-file <path>', 'append rejected rows here (line, reason, record)'],
  ['--format <format>', 'csv or ndjson (default from the extension)'],
  ['--delimiter <char>', 'CSV delimiter (default ,)'],
  ['--quote <char>', 'CSV quote (default ")'],
  ['--json', 'print a machine-readable summary on stdout'],
  ['--restart', 'ignore the checkpoint and import the whole input again'],
];

/** Where the command writes, and the process facts it needs. */
export interface ImportIo {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
  /** Whether stderr is a terminal (progress bar) or not (periodic lines). */
  readonly isTTY?: boolean;
  /** Registers a SIGINT handler; returns its removal. Default process.once('SIGINT'). */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

function count(option: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new InvalidOptionError(
      option,
      `${option} must be an integer >= ${String(min)}, got ${JSON.stringify(value)}.`,
    );
  }
  return n;
}

const list = (value: string | undefined): string[] | undefined =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function line(p: ImportProgress, tty: boolean): string {
  const rate = p.seconds > 0 ? p.rowsRead / p.seconds : 0;
  const total = p.totalBytes;
  const frac = total !== undefined && total > 0 ? Math.min(1, p.bytesRead / total) : undefined;
  const eta =
    frac !== undefined && frac > 0 ? `ETA ${((p.seconds / frac) * (1 - frac)).toFixed(0)}s` : '';
  const pct = frac === undefined ? '' : `${(frac * 100).toFixed(1)}%`;
  const bar =
    tty && frac !== undefined ? `[${'#'.repeat(Math.round(frac * 30)).padEnd(30, '.')}] ` : '';
  return `${bar}${pct} ${String(p.rowsRead)} rows, ${Math.round(rate).toLocaleString('en-US')} rows/s, ${String(p.rejected)} rejected ${eta}`.trim();
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/**
 * Runs `batchflight import <input>` with parsed flags; resolves to the exit
 * code (0 done or stopped by Ctrl-C, 1 the import failed, 2 a usage error).
 */
export async function runImportCommand(
  input: string,
  flags: ImportFlags,
  io: ImportIo,
  argv: readonly string[] = [],
): Promise<number> {
  const tty = io.isTTY ?? false;
  const controller = new AbortController();
  const remove = (
    io.onInterrupt ??
    ((h) => {
      process.once('SIGINT', h);
      return () => process.off('SIGINT', h);
    })
  )(() => {
    controller.abort();
  });
  let lastPrint = 0;
  try {
    if (flags.into === undefined)
      throw new InvalidOptionError(
        '--into',
        '--into is required: a postgres:// URL or sqlite:<file>.',
      );
    if (flags.table === undefined)
      throw new InvalidOptionError('--table', '--table is required: the target table.');
    if (flags.upsert === true && flags.skipExisting === true) {
      throw new InvalidOptionError(
        '--upsert',
        '--upsert and --skip-existing exclude each other; give one.',
      );
    }
    const options: ImportOptions = {
      input,
      into: flags.into,
      table: flags.table,
      signal: controller.signal,
      onProgress: (p) => {
        if (flags.json === true && !tty) return;
        if (tty) io.writeErr(`\r${line(p, true)}\x1b[K`);
        else if (p.seconds - lastPrint >= 2) {
          lastPrint = p.seconds;
          io.writeErr(`${line(p, false)}\n`);
        }
      },
    };
    const key = list(flags.key);
    if (key !== undefined) options.key = key;
    if (flags.upsert === true) options.mode = 'upsert';
    if (flags.skipExisting === true) options.mode = 'skip-existing';
    const chunk = count('--chunk', flags.chunk, 1);
    if (chunk !== undefined) options.chunkSize = chunk;
    const maxErrors = count('--max-errors', flags.maxErrors, 0);
    if (maxErrors !== undefined) options.maxErrors = maxErrors;
    const columns = list(flags.columns);
    if (columns !== undefined) options.columns = columns;
    if (flags.rejectFile !== undefined) options.rejectFile = flags.rejectFile;
    if (flags.format !== undefined) options.format = flags.format as 'csv';
    if (flags.delimiter !== undefined) options.delimiter = flags.delimiter;
    if (flags.quote !== undefined) options.quote = flags.quote;
    if (flags.restart === true) options.restart = true;
    const s = await importFile(options);
    if (tty) io.writeErr('\n');
    if (flags.json === true) {
      io.writeOut(
        `${JSON.stringify({
          rowsRead: s.rowsRead,
          inserted: s.inserted,
          updated: s.updated,
          skipped: s.skipped,
          rejected: s.rejected,
          seconds: Number(s.seconds.toFixed(3)),
          stopped: s.stopped,
          resumed: s.resumed,
        })}\n`,
      );
    } else {
      io.writeErr(
        `${s.stopped ? 'stopped' : 'done'}: ${String(s.rowsRead)} rows read, ${String(s.inserted)} inserted, ${String(s.updated)} updated, ${String(s.skipped)} skipped, ${String(s.rejected)} rejected in ${s.seconds.toFixed(1)} s${s.resumed ? ' (resumed)' : ''}\n`,
      );
    }
    if (s.stopped) {
      const resume = argv
        .filter((a) => a !== '--restart')
        .map(quoteArg)
        .join(' ');
      io.writeErr(`interrupted at a chunk boundary; resume with:\n  batchflight ${resume}\n`);
    }
    return 0;
  } catch (error) {
    if (tty) io.writeErr('\n');
    if (error instanceof InvalidOptionError) {
      io.writeErr(`error: ${error.message}\n`);
      return 2;
    }
    // Any other failure (a refused row, a changed input, a missing file or table) is
    // reported by its message: the command line shows no stack traces.
    io.writeErr(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    remove();
  }
}
