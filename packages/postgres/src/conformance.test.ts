import pg from 'pg';
import { afterAll, describe, it } from 'vitest';
import { fullJobStoreConformance } from '@batchflight/testing/conformance';
import { PostgresJobStore } from './store.js';
import { PG_URL, dropSchema, pgUnavailable, schemaName } from './__fixtures__/pg.js';

const unavailable = await pgUnavailable();
const schema = schemaName('conf');

if (unavailable === undefined) {
  afterAll(() => dropSchema(schema));

  fullJobStoreConformance('postgres', (clock, options) =>
    Promise.resolve({
      store: new PostgresJobStore({
        connectionString: PG_URL,
        schema,
        clock,
        poolSize: 4,
        ...(options?.attemptPayloads === undefined
          ? {}
          : { attemptPayloads: options.attemptPayloads }),
        ...(options?.onCheckpoint === undefined
          ? {}
          : { onCheckpoint: (_client, checkpoint) => options.onCheckpoint?.(checkpoint) }),
      }),
      // Another pool on the same schema, as another worker process would have.
      open: async () => {
        const other = new PostgresJobStore({
          connectionString: PG_URL,
          schema,
          clock,
          poolSize: 4,
        });
        await other.init();
        return other;
      },
      // One schema per file: each test starts from empty tables.
      cleanup: async () => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(
            `TRUNCATE "${schema}".jobs, "${schema}".job_deps, "${schema}".ledger, "${schema}".attempts,
               "${schema}".steps, "${schema}".runs, "${schema}".chunks RESTART IDENTITY`,
          );
        } finally {
          await client.end();
        }
      },
    }),
  );
} else {
  describe('JobStore conformance: postgres', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
}
