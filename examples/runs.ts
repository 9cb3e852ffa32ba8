/** docs/jobs/runs.md: a large input as leased chunks with checkpoints, on the in-memory store. */
import { MemoryJobStore, RunWorker, type RunSlice } from 'batchflight/jobs';

const store = new MemoryJobStore();
/** Stand-in import: the ranges of rows it was asked for. */
export const imported: [file: string, from: number, to: number][] = [];
const importRows = async (file: string, from: number, to: number) => {
  imported.push([file, from, to]);
  await Promise.resolve();
};

// #region usage
const run = await store.createRun({
  name: 'import',
  input: { file: 'rows.csv' },
  total: 100_000,
  chunkSize: 5_000,
});
const runs = new RunWorker(store, {
  import: {
    sliceSize: 500,
    processSlice: ({ input, from, to }: RunSlice<{ file: string }>) =>
      importRows(input.file, from, to),
  },
});
await store.pauseRun(run.id);
await store.resumeRun(run.id); // or cancelRun
const progress = (await store.getRun(run.id))?.processed; // items checkpointed so far
// #endregion

await runs.drain();
export const results = { run: await store.getRun(run.id), progress };
await runs.close();
await store.close();
