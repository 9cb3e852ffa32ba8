import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RawChunk, type RawHeader, rawCsvChunks } from './csv-chunks.js';

/** Every item the scanner yields for `text`, fed in pieces of `piece` bytes. */
async function scan(
  text: string | Buffer,
  options: { chunkSize?: number; header?: boolean; piece?: number; base?: number } = {},
): Promise<(RawChunk | RawHeader)[]> {
  const bytes = Buffer.from(text);
  const piece = options.piece ?? 64 * 1024;
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) pieces.push(bytes.subarray(i, i + piece));
  const out: (RawChunk | RawHeader)[] = [];
  for await (const item of rawCsvChunks(Readable.from(pieces), {
    base: { offset: options.base ?? 0, line: 0 },
    chunkSize: options.chunkSize ?? 1000,
    delimiter: ',',
    quote: '"',
    header: options.header ?? false,
  })) {
    out.push(item);
  }
  return out;
}

const chunksOf = (items: (RawChunk | RawHeader)[]): RawChunk[] =>
  items.filter((item): item is RawChunk => 'records' in item);

/** The records of the chunks, each parsed on its own. */
function recordsOf(items: (RawChunk | RawHeader)[]): string[][] {
  return chunksOf(items).flatMap((chunk) =>
    chunk.records.map((r) => {
      const rows: string[][] = parse(chunk.data.subarray(r.start, r.end));
      expect(rows).toHaveLength(1);
      return rows[0] ?? [];
    }),
  );
}

describe('rawCsvChunks', () => {
  it('cuts at newlines outside quotes: embedded newlines, doubled quotes, CRLF', async () => {
    const text = 'a,"x\ny",1\r\nb,"say ""hi""\r\nthere",2\r\nc,,3';
    const items = await scan(text, { piece: 3 });
    expect(recordsOf(items)).toEqual([
      ['a', 'x\ny', '1'],
      ['b', 'say "hi"\r\nthere', '2'],
      ['c', '', '3'],
    ]);
    const [chunk] = chunksOf(items);
    expect(chunk?.records.map((r) => r.line)).toEqual([1, 3, 5]);
    expect(chunk?.end).toBe(Buffer.byteLength(text));
    expect(chunk?.endLine).toBe(5);
  });

  it('yields the header first, drops a BOM and empty lines, and chunks by record count', async () => {
    const text = '\uFEFFid,name\n1,a\n\n2,b\r\n\r\n3,c\n4,d\n';
    const items = await scan(text, { header: true, chunkSize: 2, piece: 5 });
    expect(items[0]).toEqual({ fields: ['id', 'name'], end: 11, endLine: 1 });
    const chunks = chunksOf(items);
    expect(chunks.map((c) => c.records.length)).toEqual([2, 2]);
    expect(chunks.map((c) => c.records.map((r) => r.line))).toEqual([
      [2, 4],
      [6, 7],
    ]);
    // each chunk ends just past its last record: the checkpoint's offset and line
    expect(chunks[0]?.end).toBe(Buffer.byteLength('\uFEFFid,name\n1,a\n\n2,b\r\n'));
    expect(chunks[0]?.endLine).toBe(4);
    expect(chunks[1]?.end).toBe(Buffer.byteLength(text));
  });

  it('gives the last record a newline in the data when the input lacks one', async () => {
    const [chunk] = chunksOf(await scan('1,a\n2,b'));
    expect(chunk?.data.toString()).toBe('1,a\n2,b\n');
    expect(chunk?.end).toBe(7);
  });

  it('keeps an unterminated quote to the end as one record (the server refuses it)', async () => {
    const items = await scan('1,a\n2,"open\n3,c\n');
    const [chunk] = chunksOf(items);
    expect(chunk?.records).toHaveLength(2);
    expect(chunk?.data.subarray(chunk.records[1]?.start).toString()).toBe('2,"open\n3,c\n');
  });

  it('counts offsets from the base of a resumed input', async () => {
    const [chunk] = chunksOf(await scan('5,e\n6,f\n', { base: 100 }));
    expect(chunk?.end).toBe(108);
  });

  it('finds the records csv-parse finds, whatever the pieces', async () => {
    const field = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', '\r\n', 'é') }),
      fc.constant(''),
    );
    const records = fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), {
      minLength: 1,
      maxLength: 12,
    });
    await fc.assert(
      fc.asyncProperty(records, fc.integer({ min: 1, max: 9 }), async (rows, piece) => {
        const quoted = rows.map((row) =>
          row.map((f) => (f === '' ? '""' : `"${f.replaceAll('"', '""')}"`)).join(','),
        );
        const text = quoted.join('\n') + '\n';
        const expected: string[][] = parse(text, { relax_column_count: true });
        expect(recordsOf(await scan(text, { piece, chunkSize: 3 }))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
