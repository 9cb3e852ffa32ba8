/** Child process for the SIGKILL tests: runs one import and prints a line per committed chunk. */
import { importFile } from '../index.js';

const [input, into, table, chunk] = process.argv.slice(2);
await importFile({
  input: input ?? '',
  into: into ?? '',
  table: table ?? '',
  chunkSize: Number(chunk ?? '100'),
  onProgress: (p) => {
    process.stdout.write(`chunk ${String(p.rowsRead)}\n`);
  },
});
process.stdout.write('done\n');
