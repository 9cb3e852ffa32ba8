/**
 * CSV records found without parsing them: the fast path into PostgreSQL hands the input's own
 * bytes to `COPY … (FORMAT csv)`, so the server parses and converts them, and this module only
 * needs to know where each record ends (to cut chunks and checkpoint at record boundaries) and
 * on which line it starts (to report a refused one).
 *
 * A record ends at a newline outside quotes. Quotes are tracked by toggling on every quote
 * byte, as PostgreSQL's own CSV line reader does when the escape is the quote: a doubled quote
 * inside a quoted field toggles twice, so both agree on every boundary, embedded newlines and
 * malformed quoting included.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** One record of a chunk: where its bytes are in the chunk's data, and its first line in the input. */
export interface RawRecord {
  /** Offset of the record's first byte in {@link RawChunk.data}. */
  readonly start: number;
  /** Offset just past the record's newline in {@link RawChunk.data}. */
  readonly end: number;
  /** 1-based line of the input where the record starts. */
  readonly line: number;
}

/** Up to `chunkSize` consecutive records of the input, as one buffer of their bytes. */
export interface RawChunk {
  /** The records' bytes, each ending with a newline, empty lines left out. */
  readonly data: Buffer;
  readonly records: readonly RawRecord[];
  /** Absolute input offset just past the chunk's last record: the checkpoint's offset. */
  readonly end: number;
  /** The input line the chunk's last record ends on. */
  readonly endLine: number;
}

/** The header row of the input, when the caller asked for one. */
export interface RawHeader {
  readonly fields: readonly string[];
  readonly end: number;
  readonly endLine: number;
}

/** Options of {@link rawCsvChunks}. */
export interface RawCsvOptions {
  /** Absolute offset and line the bytes start at (a resumed import starts past a checkpoint). */
  readonly base: { readonly offset: number; readonly line: number };
  /** Records per chunk. */
  readonly chunkSize: number;
  /** One byte. */
  readonly delimiter: string;
  /** One byte. */
  readonly quote: string;
  /** True when the first record is the header (yielded as a {@link RawHeader}). */
  readonly header: boolean;
}

/** True when `delimiter` and `quote` are single bytes, which COPY requires. */
export function rawCsvSupported(delimiter: string, quote: string): boolean {
  return (
    Buffer.byteLength(delimiter) === 1 && Buffer.byteLength(quote) === 1 && delimiter !== quote
  );
}

/**
 * Splits the bytes into chunks of `chunkSize` non-empty records (a leading BOM at offset 0
 * dropped), yielding the header first when asked. The last record may lack its newline; it
 * gets one in the chunk's data (not in the offsets).
 */
export async function* rawCsvChunks(
  bytes: Readable,
  options: RawCsvOptions,
): AsyncGenerator<RawChunk | RawHeader> {
  const quote = options.quote.charCodeAt(0);
  let wantHeader = options.header;
  let offset = options.base.offset; // absolute offset of the next byte to scan
  let line = options.base.line + 1; // line of the next byte
  let inQuote = false;
  let recordLine = line;
  // The bytes of the record being scanned, across input buffers.
  let partial: Buffer[] = [];
  let pieces: Buffer[] = [];
  let records: RawRecord[] = [];
  let size = 0;
  let atStart = options.base.offset === 0;

  const take = (record: Buffer, end: number, endLine: number): RawChunk | RawHeader | undefined => {
    if (isEmpty(record)) return undefined;
    if (wantHeader) {
      wantHeader = false;
      const rows: string[][] = parse(record, {
        delimiter: options.delimiter,
        quote: options.quote,
      });
      const fields = rows[0];
      return { fields: fields ?? [], end, endLine };
    }
    const data = record[record.length - 1] === NEWLINE ? record : Buffer.concat([record, NL]);
    records.push({ start: size, end: size + data.length, line: recordLine });
    pieces.push(data);
    size += data.length;
    if (records.length < options.chunkSize) return undefined;
    return cut(end, endLine);
  };
  const cut = (end: number, endLine: number): RawChunk => {
    const chunk = { data: Buffer.concat(pieces, size), records, end, endLine };
    pieces = [];
    records = [];
    size = 0;
    return chunk;
  };

  for await (const input of bytes as AsyncIterable<Buffer>) {
    let buffer = input;
    if (atStart) {
      atStart = false;
      if (buffer.subarray(0, 3).equals(BOM)) {
        buffer = buffer.subarray(3);
        offset += 3;
      }
    }
    let from = 0; // start, in `buffer`, of the record being scanned
    for (let i = 0; i < buffer.length; i++) {
      const byte = buffer[i];
      if (byte === quote) inQuote = !inQuote;
      else if (byte === NEWLINE) {
        line++;
        if (inQuote) continue;
        const piece = buffer.subarray(from, i + 1);
        const record = partial.length === 0 ? piece : Buffer.concat([...partial, piece]);
        partial = [];
        from = i + 1;
        const out = take(record, offset + from, line - 1);
        recordLine = line;
        if (out !== undefined) yield out;
      }
    }
    if (from < buffer.length) partial.push(buffer.subarray(from));
    offset += buffer.length;
  }
  if (partial.length > 0) {
    const out = take(Buffer.concat(partial), offset, line);
    if (out !== undefined) yield out;
  }
  if (records.length > 0) yield cut(offset, line);
}

const NL = Buffer.from([NEWLINE]);

function isEmpty(record: Buffer): boolean {
  for (const byte of record) {
    if (byte !== NEWLINE && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}

/** The fields of one record's bytes, for the reject file (as the parsing path records them). */
export function recordFields(record: Buffer, delimiter: string, quote: string): unknown {
  try {
    const rows: string[][] = parse(record, { delimiter, quote, relax_column_count: true });
    return rows[0] ?? [];
  } catch {
    return record.toString('utf8').replace(/\r?\n$/, '');
  }
}
