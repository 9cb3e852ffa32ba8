import { describe, expectTypeOf, it } from 'vitest';

import { MemoryJobStore } from './memory-store.js';
import { RunWorker, type RunHandler, type RunHandlers, type RunSlice } from './run-worker.js';

// Type-level tests: `npx tsc -p tsconfig.typecheck.json` checks them; the bodies
// build workers on a memory store and close them at once.
const importRows = (file: string, from: number, to: number): number => file.length + to - from;

describe('RunWorker types', () => {
  it("a slice's input is unknown without a type, typed through the slice parameter or the worker's type argument", async () => {
    const store = new MemoryJobStore();
    expectTypeOf<RunHandler['processSlice']>().parameter(0).toEqualTypeOf<RunSlice>();
    expectTypeOf<RunSlice['input']>().toBeUnknown();

    // The docs sample: typed through the slice parameter.
    const annotated = new RunWorker(store, {
      import: {
        sliceSize: 500,
        processSlice: ({ input, from, to }: RunSlice<{ file: string }>) =>
          importRows(input.file, from, to),
      },
    });
    // Typed through the worker's type argument: no annotation needed.
    const typed = new RunWorker<{ import: { file: string } }>(store, {
      import: {
        processSlice: ({ input, from, to }) => {
          expectTypeOf(input).toEqualTypeOf<{ file: string }>();
          return importRows(input.file, from, to);
        },
      },
    });
    const untyped = new RunWorker(store, {
      import: {
        processSlice: ({ input }) => {
          expectTypeOf(input).toBeUnknown();
          // @ts-expect-error -- unknown until the caller says what the input is
          const file: unknown = input.file;
          return file;
        },
      },
    });
    // Workers of any input types share one type.
    const workers: RunWorker[] = [annotated, typed, untyped];
    const handlers: RunHandlers<{ a: number; b: string }> = {
      a: { processSlice: ({ input }) => input + 1 },
      b: { processSlice: ({ input }) => input.toUpperCase() },
    };
    workers.push(new RunWorker(store, handlers));
    await Promise.all(workers.map((w) => w.close()));
  });
});
