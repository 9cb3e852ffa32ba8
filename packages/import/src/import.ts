/**
 * The import loop: read the input as a stream (backpressure through async
 * iteration), convert each record to the target's column types, gather
 * `chunkSize` records, and commit them with their checkpoint in one
 * transaction of the target database.
 */
import { createReadStream, statSync, appendFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { InvalidOptionError } from 'batchflight/core';
import {
  booleanOption,
  describe,
  integerOption,
  knownOptions,
  oneOfOption,
  signalOption,
} from 'batchflight/kit';
import { type Column, type Converted, convert, ConvertError } from './convert.js';
import { ImportError, RowRejectedError } from './errors.js';
import { Ledger } from './ledger.js';
import { postgresTarget } from './postgres.js';
import { sqliteTarget } from './sqlite.js';
import { type RawChunk, rawCsvChunks, rawCsvSupported, recordFields } from './csv-chunks.js';
import type { Mode, Row, Staged, Target, TargetSpec } from './target.js';

/** Progress after each committed chunk. */
export interface ImportProgress {
  readonly rowsRead: number;
  readonly bytesRead: number;
  /** Input size in bytes, or undefined for stdin. */
  readonly totalBytes: number | undefined;
  readonly inserted: number;
  readonly updated: number;
  readonly skipped: number;
  readonly rejected: number;
  /** Seconds since this run started. */
  readonly seconds: number;
}

/** The result of {@link importFile}. Counts cover the whole input, across resumed runs. */
export interface ImportSummary extends ImportProgress {
  /** True when the run stopped at a chunk boundary because `signal` aborted; run again to resume. */
  readonly stopped: boolean;
  /** True when this run continued from a checkpoint. */
  readonly resumed: boolean;
  /** Rows this run read (the others were committed by earlier runs). */
  readonly rowsThisRun: number;
}

/** Options of {@link importFile}. */
export interface ImportOptions {
  /** Input path, or `'-'` for stdin. */
  input: string;
  /** `postgres://…` / `postgresql://…` URL, or `sqlite:<file>`. */
  into: string;
  /** Target table, optionally `schema.table` on PostgreSQL. */
  table: string;
  /** Input format; default from the extension (`.ndjson`/`.jsonl` → ndjson), else csv. */
  format?: 'csv' | 'ndjson';
  /** Key columns for `upsert` / `skip-existing` (they need a unique index on the target). */
  key?: readonly string[];
  /** How rows meet existing ones; default `'insert'`, which is the only mode without `key`. */
  mode?: Mode;
  /**
   * Records per transaction and checkpoint; default 25,000 (pgloader's batch size too): a
   * chunk's fixed cost (its transaction, COPY start and checkpoint) is spread over enough rows
   * to stay near COPY's speed, while a crash redoes at most two chunks and memory holds three.
   */
  chunkSize?: number;
  /** The input's field names in order (instead of the header row's). */
  columns?: readonly string[];
  /** CSV: whether the first record is a header; default true. */
  header?: boolean;
  /** CSV field delimiter; default `,`. */
  delimiter?: string;
  /** CSV quote character; default `"`. */
  quote?: string;
  /** Rejected rows tolerated; the next one stops the import. Default 0. */
  maxErrors?: number;
  /** File the rejected rows are appended to (CSV: line, reason, record). */
  rejectFile?: string;
  /** Ignore (and overwrite) an existing checkpoint: import the whole input again. */
  restart?: boolean;
  /** Identifies the import's checkpoint; default the table and the input's absolute path. */
  checkpointId?: string;
  /** Aborting stops the import after the chunk in flight commits. */
  signal?: AbortSignal;
  /** Called after every committed chunk. */
  onProgress?: (progress: ImportProgress) => void;
  /** Stream read for `input: '-'`; default `process.stdin`. */
  stdin?: Readable;
}

const KNOWN = [
  'input',
  'into',
  'table',
  'format',
  'key',
  'mode',
  'chunkSize',
  'columns',
  'header',
  'delimiter',
  'quote',
  'maxErrors',
  'rejectFile',
  'restart',
  'checkpointId',
  'signal',
  'onProgress',
  'stdin',
] as const;

function stringOption(option: string, value: unknown, contract: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError(
      option,
      `importFile(): option ${option} must be ${contract}, got ${describe(value)}.`,
    );
  }
  return value;
}

function namesOption(option: string, value: unknown): readonly string[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((v) => typeof v === 'string' && v !== '')
  ) {
    throw new InvalidOptionError(
      option,
      `importFile(): option ${option} must be a non-empty array of column names, got ${describe(value)}.`,
    );
  }
  return value as readonly string[];
}

interface Record_ {
  fields: unknown[] | Record<string, unknown>;
  /** Line where the record starts. */
  line: number;
  /** Last line of the record. */
  endLine: number;
  /** Absolute byte offset just past the record. */
  end: number;
  /** A parse error: the record is rejected with this reason. */
  error?: string;
}

async function* csvRecords(
  bytes: Readable,
  base: { offset: number; line: number },
  opts: { delimiter: string; quote: string; bom: boolean },
): AsyncGenerator<Record_> {
  const parser = parse({
    info: true,
    bom: opts.bom,
    delimiter: opts.delimiter,
    quote: opts.quote,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
  });
  const skipped: Record_[] = [];
  let lastLine = base.line;
  parser.on('skip', (error: Error & { lines?: number; bytes?: number }) => {
    const endLine = base.line + (error.lines ?? 0);
    skipped.push({
      fields: [],
      line: lastLine + 1,
      endLine,
      end: base.offset + (error.bytes ?? 0),
      error: `CSV parse error: ${error.message}`,
    });
  });
  bytes.pipe(parser);
  bytes.on('error', (e) => parser.destroy(e));
  for await (const item of parser as AsyncIterable<{
    record: string[];
    info: { bytes: number; lines: number };
  }>) {
    while (skipped.length > 0) {
      const s = skipped.shift();
      if (s !== undefined) {
        lastLine = s.endLine;
        yield s;
      }
    }
    const endLine = base.line + item.info.lines;
    const rec: Record_ = {
      fields: item.record,
      line: lastLine + 1,
      endLine,
      end: base.offset + item.info.bytes,
    };
    lastLine = endLine;
    yield rec;
  }
  for (const s of skipped) yield s;
}

async function* ndjsonRecords(
  bytes: Readable,
  base: { offset: number; line: number },
): AsyncGenerator<Record_> {
  let offset = base.offset;
  let line = base.line;
  let rest = Buffer.alloc(0);
  const one = (buf: Buffer): Record_ | undefined => {
    line++;
    offset += buf.length;
    const text = buf.toString('utf8').trim();
    if (text === '') return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return {
          fields: {},
          line,
          endLine: line,
          end: offset,
          error: 'NDJSON line is not an object',
        };
      }
      return { fields: value as Record<string, unknown>, line, endLine: line, end: offset };
    } catch (error) {
      return {
        fields: {},
        line,
        endLine: line,
        end: offset,
        error: `NDJSON parse error: ${(error as Error).message}`,
      };
    }
  };
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let nl = data.indexOf(10);
    while (nl !== -1) {
      const r = one(data.subarray(0, nl + 1));
      if (r !== undefined) yield r;
      data = data.subarray(nl + 1);
      nl = data.indexOf(10);
    }
    rest = Buffer.from(data);
  }
  if (rest.length > 0) {
    const r = one(rest);
    if (r !== undefined) yield r;
  }
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Imports a CSV or NDJSON input into a PostgreSQL or SQLite table, exactly
 * once across crashes: every chunk commits with its checkpoint, and running
 * the same import again continues after the last committed chunk.
 *
 * @example
 * ```ts
 * const summary = await importFile({ input: 'users.csv', into: 'sqlite:app.db', table: 'users' });
 * console.log(summary.inserted);
 * ```
 */
export async function importFile(options: ImportOptions): Promise<ImportSummary> {
  const where = 'importFile()';
  knownOptions(where, options, KNOWN);
  const input = stringOption('input', options.input, "a file path or '-' for stdin");
  const into = stringOption('into', options.into, 'a postgres:// URL or sqlite:<file>');
  const table = stringOption('table', options.table, 'a table name');
  const format =
    options.format === undefined
      ? /\.(nd)?jsonl?$/i.test(input) || /\.ndjson$/i.test(input)
        ? 'ndjson'
        : 'csv'
      : oneOfOption(where, 'format', options.format, ['csv', 'ndjson']);
  const key = options.key === undefined ? [] : namesOption('key', options.key);
  const mode =
    options.mode === undefined
      ? key.length > 0
        ? 'upsert'
        : 'insert'
      : oneOfOption(where, 'mode', options.mode, ['insert', 'upsert', 'skip-existing']);
  if (mode !== 'insert' && key.length === 0) {
    throw new InvalidOptionError(
      'key',
      `${where}: option key must name the key columns when mode is '${mode}', got ${describe(options.key)}.`,
    );
  }
  const chunkSize = integerOption(where, 'chunkSize', options.chunkSize ?? 25_000);
  const maxErrors = integerOption(where, 'maxErrors', options.maxErrors ?? 0, { min: 0 });
  const header = booleanOption(where, 'header', options.header ?? true);
  const restart = booleanOption(where, 'restart', options.restart ?? false);
  const delimiter = stringOption('delimiter', options.delimiter ?? ',', 'a non-empty string');
  const quote = stringOption('quote', options.quote ?? '"', 'a non-empty string');
  const signal =
    options.signal === undefined ? undefined : signalOption(where, 'signal', options.signal);
  const namedFields =
    options.columns === undefined ? undefined : namesOption('columns', options.columns);
  if (!header && namedFields === undefined && format === 'csv') {
    throw new InvalidOptionError(
      'columns',
      `${where}: option columns must name the fields when header is false.`,
    );
  }

  const stdin = input === '-';
  const path = stdin ? '-' : resolve(input);
  const size = stdin ? -1 : statSync(path).size;
  const id = options.checkpointId ?? `${table} ${path}`;
  const spec: TargetSpec = { table, key, mode };
  const target: Target = into.startsWith('sqlite:')
    ? sqliteTarget(into.slice('sqlite:'.length), spec)
    : /^postgres(ql)?:\/\//.test(into)
      ? await postgresTarget(into, spec)
      : (() => {
          throw new InvalidOptionError(
            'into',
            `${where}: option into must be a postgres:// or postgresql:// URL or sqlite:<file>, got ${JSON.stringify(into)}.`,
          );
        })();
  const started = performance.now();
  let inflightCommit: (() => Promise<void>) | undefined;
  try {
    const tableColumns = await target.columns();
    for (const k of key) {
      if (!tableColumns.some((c) => c.name === k)) {
        throw new InvalidOptionError(
          'key',
          `${where}: key column ${JSON.stringify(k)} is not a column of ${table} (${tableColumns.map((c) => c.name).join(', ')}).`,
        );
      }
    }
    const previous = restart ? undefined : await target.readCheckpoint(id);
    if (previous !== undefined && !stdin && previous.size !== size) {
      const { InputChangedError } = await import('./errors.js');
      throw new InputChangedError(
        `import: ${input} is ${String(size)} bytes but was ${String(previous.size)} when its checkpoint was written (${String(previous.rows)} rows committed); it changed since the last run. Pass restart to import it from the start.`,
      );
    }
    const resumed = previous !== undefined;
    const ledger = new Ledger(previous?.offset ?? 0, previous?.sha256, input);
    const source: Readable = stdin ? (options.stdin ?? process.stdin) : createReadStream(path);
    source.on('error', (e) => ledger.destroy(e));
    source.pipe(ledger);

    const counts = {
      inserted: previous?.inserted ?? 0,
      updated: previous?.updated ?? 0,
      skipped: previous?.skipped ?? 0,
      rejected: previous?.rejected ?? 0,
      rows: previous?.rows ?? 0,
    };
    let rowsThisRun = 0;
    let fields: readonly string[] | undefined = namedFields ?? previous?.fields;
    let mapping: { index: number | string; column: Column }[] = [];
    let expectedCount = 0;
    const base = { offset: previous?.offset ?? 0, line: previous?.line ?? 0 };
    let reached = { offset: base.offset, line: base.line };
    if (previous?.done) {
      // Verify the whole input is still the one imported, then report it as complete.
      for await (const _ of ledger) {
        // drain: the ledger verifies the hash when it reaches the offset
      }
      return { ...summary(), stopped: false, resumed, rowsThisRun: 0 };
    }

    if (rejectFileNeedsHeader(options.rejectFile, resumed)) {
      writeFileSync(options.rejectFile ?? '', 'line,reason,record\n');
    }

    const setFields = (names: readonly string[]): void => {
      fields = names;
      expectedCount = names.length;
      mapping = names.map((name, i) => {
        const column = tableColumns.find((c) => c.name === name);
        if (column === undefined) {
          throw new ImportError(
            `import: input field ${JSON.stringify(name)} is not a column of ${table}; its columns are ${tableColumns.map((c) => c.name).join(', ')}. Rename the field or pass columns.`,
          );
        }
        return { index: format === 'csv' ? i : name, column };
      });
      spec.columns = mapping.map((m) => m.column);
    };
    if (fields !== undefined) setFields(fields);

    const reject = (line: number, reason: string, record: unknown): void => {
      counts.rejected++;
      if (options.rejectFile !== undefined) {
        appendFileSync(
          options.rejectFile,
          `${String(line)},${csvField(reason)},${csvField(JSON.stringify(record))}\n`,
        );
      }
      if (counts.rejected > maxErrors) {
        throw new RowRejectedError(
          line,
          reason,
          `import: line ${String(line)} rejected: ${reason}. Stopped (max errors ${String(maxErrors)}); nothing of its chunk was committed, earlier chunks were.`,
        );
      }
    };

    let chunk: Row[] = [];
    let records = 0;
    const raw = new Map<number, unknown>();
    // Rejected while parsing the chunk being read; its database rejects come when it is staged.
    let parsedRejects = 0;
    const rejectParsed = (line: number, reason: string, record: unknown): void => {
      parsedRejects++;
      reject(line, reason, record);
    };

    // Rejected in committed chunks: what a checkpoint counts before its own chunk.
    let committedRejects = previous?.rejected ?? 0;
    // The pipeline of chunks (see Target): a chunk is staged in its own transaction on lane
    // `index % lanes` once the previous chunk's statements finished, and commits once the
    // previous chunk committed. Meanwhile the next chunk is read, so PostgreSQL works on one
    // chunk's COPY while the other's commit round trip and the input's parsing go on.
    let index = 0;
    let statements: Promise<unknown> = Promise.resolve();
    let lastCommit: Promise<void> = Promise.resolve();
    const laneCommits: Promise<void>[] = [];
    inflightCommit = () => lastCommit;
    const flush = async (done: boolean, csvChunk?: RawChunk): Promise<void> => {
      const rows = chunk;
      const at = reached;
      const rowsAt = counts.rows;
      const parsedHere = parsedRejects;
      chunk = [];
      records = 0;
      parsedRejects = 0;
      const lane = index++ % target.lanes;
      // The lane's previous chunk must be over (memory stays at `lanes` chunks plus the one
      // being read); its failure, or an earlier one it waited for, ends the import here.
      await laneCommits[lane];
      const previousStatements = statements;
      const previousCommit = lastCommit;
      let rejectedHere = 0;
      const staging = (async () => {
        // A chunk whose predecessor failed is not staged at all: its rows must not be applied
        // and its rejects not reported.
        await previousStatements;
        return csvChunk === undefined || target.stageRawCsv === undefined
          ? target.stage(lane, rows, (row, reason) => {
              rejectedHere++;
              reject(row.line, reason, raw.get(row.line));
            })
          : target.stageRawCsv(lane, csvChunk, csv, (record, reason) => {
              rejectedHere++;
              const bytes = csvChunk.data.subarray(record.start, record.end);
              reject(record.line, reason, recordFields(bytes, delimiter, quote));
            });
      })();
      statements = staging;
      const commit = (async () => {
        let staged: Staged;
        try {
          staged = await staging;
        } catch (error) {
          // An earlier chunk's failure wins: it is the one the import stopped at.
          await previousCommit;
          throw error;
        }
        try {
          await previousCommit;
        } catch (error) {
          await staged.rollback().catch(() => undefined);
          throw error;
        }
        const a = staged.applied;
        const rejected = committedRejects + parsedHere + rejectedHere;
        await staged.commit({
          id,
          size,
          sha256: ledger.digestAt(at.offset),
          offset: at.offset,
          line: at.line,
          rows: rowsAt,
          fields: fields ?? [],
          inserted: counts.inserted + a.inserted,
          updated: counts.updated + a.updated,
          skipped: counts.skipped + a.skipped,
          rejected,
          done,
        });
        committedRejects = rejected;
        for (const row of rows) raw.delete(row.line);
        counts.inserted += a.inserted;
        counts.updated += a.updated;
        counts.skipped += a.skipped;
        options.onProgress?.(summary());
      })();
      // Handled here so a failure is not reported as unhandled before a later flush awaits it.
      commit.catch(() => undefined);
      statements.catch(() => undefined);
      laneCommits[lane] = commit;
      lastCommit = commit;
      if (done) await commit;
    };

    function summary(): ImportProgress {
      return {
        rowsRead: counts.rows,
        bytesRead: reached.offset,
        totalBytes: stdin ? undefined : size,
        inserted: counts.inserted,
        updated: counts.updated,
        skipped: counts.skipped,
        rejected: counts.rejected,
        seconds: (performance.now() - started) / 1000,
      };
    }

    const csv = { delimiter, quote };
    let stopped = false;
    if (format === 'csv' && target.stageRawCsv !== undefined && rawCsvSupported(delimiter, quote)) {
      // The fast path: the server parses and converts the input's own bytes.
      const chunks = rawCsvChunks(ledger, {
        base,
        chunkSize,
        delimiter,
        quote,
        header: fields === undefined,
      });
      // One chunk is held back so that the last one commits as done.
      let last: RawChunk | undefined;
      const flushRaw = async (part: RawChunk | undefined, done: boolean): Promise<void> => {
        if (part !== undefined) {
          reached = { offset: part.end, line: part.endLine };
          counts.rows += part.records.length;
          rowsThisRun += part.records.length;
        }
        await flush(done, part);
      };
      for await (const part of chunks) {
        if ('fields' in part) {
          reached = { offset: part.end, line: part.endLine };
          setFields(part.fields);
          continue;
        }
        if (last !== undefined) {
          await flushRaw(last, false);
          if (signal?.aborted === true) {
            stopped = true;
            break;
          }
        }
        last = part;
      }
      if (!stopped) await flushRaw(last, true);
    } else {
      const stream =
        format === 'csv'
          ? csvRecords(ledger, base, { delimiter, quote, bom: !resumed })
          : ndjsonRecords(ledger, base);
      for await (const rec of stream) {
        reached = { offset: rec.end, line: rec.endLine };
        if (fields === undefined && format === 'csv') {
          setFields((rec.fields as unknown[]).map(String));
          continue;
        }
        // NDJSON has no header: a line's missing keys are NULL, so every table column is a field.
        if (fields === undefined) setFields(tableColumns.map((c) => c.name));
        counts.rows++;
        rowsThisRun++;
        records++;
        if (rec.error !== undefined) {
          rejectParsed(rec.line, rec.error, rec.fields);
        } else if (format === 'csv' && (rec.fields as unknown[]).length !== expectedCount) {
          rejectParsed(
            rec.line,
            `expected ${String(expectedCount)} fields, got ${String((rec.fields as unknown[]).length)}`,
            rec.fields,
          );
        } else {
          try {
            const values: Converted[] = mapping.map((m) =>
              convert(m.column, (rec.fields as Record<string | number, unknown>)[m.index]),
            );
            chunk.push({ line: rec.line, values });
            if (maxErrors > 0) raw.set(rec.line, rec.fields);
          } catch (reason) {
            if (!(reason instanceof ConvertError)) throw reason;
            rejectParsed(rec.line, reason.message, rec.fields);
          }
        }
        if (records >= chunkSize) {
          await flush(false);
          if (signal?.aborted === true) {
            stopped = true;
            break;
          }
        }
      }
      if (!stopped) await flush(true);
    }
    if (stopped) {
      await lastCommit;
      ledger.destroy();
    }
    return { ...summary(), stopped, resumed, rowsThisRun };
  } finally {
    await inflightCommit?.().catch(() => undefined);
    await target.close();
  }
}

function rejectFileNeedsHeader(file: string | undefined, resumed: boolean): boolean {
  if (file === undefined) return false;
  if (!resumed) return true;
  try {
    statSync(file);
    return false;
  } catch {
    return true;
  }
}
