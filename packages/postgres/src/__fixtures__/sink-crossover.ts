/**
 * Measures the crossover of the PostgreSQL sink's two ways in: batches of
 * each size written through the multi-row INSERT and through COPY, into
 * fresh tables, best of several rounds. `npx tsx packages/postgres/src/__fixtures__/sink-crossover.ts`
 */
import { loadavg } from 'node:os';
import pg from 'pg';
import { postgresSink } from '../sink.js';
import { PG_URL, dropSchema, schemaName } from './pg.js';

const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
const schema = schemaName('crossover');
await pool.query(`CREATE SCHEMA ${schema}`);
const sizes = [10, 100, 300, 1_000, 3_000, 10_000];
const rounds = 5;
let next = 0;
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log('rows  insert µs/row  copy µs/row  copy/insert');
for (const size of sizes) {
  const best = { insert: Infinity, copy: Infinity };
  for (const via of ['insert', 'copy'] as const) {
    const table = `t_${via}_${String(size)}`;
    await pool.query(
      `CREATE TABLE ${schema}.${table} (id bigint PRIMARY KEY, user_id int NOT NULL, page text NOT NULL, at timestamptz NOT NULL)`,
    );
    const sink = postgresSink<number>({
      pool,
      schema,
      table,
      columns: ['id', 'user_id', 'page', 'at'],
      key: 'id',
      toRow: (i) => [i, i % 97, `/page/${String(i % 13)}`, new Date(1_700_000_000_000 + i)],
      copyFromRows: via === 'copy' ? 1 : Infinity,
    });
    // Enough batches per round that a round takes a few hundred milliseconds.
    const batches = Math.max(3, Math.ceil(20_000 / size));
    for (let r = 0; r < rounds; r++) {
      const started = performance.now();
      for (let b = 0; b < batches; b++) {
        await sink.writeMany(Array.from({ length: size }, () => next++));
      }
      best[via] = Math.min(best[via], ((performance.now() - started) * 1000) / (batches * size));
    }
  }
  console.log(
    `${String(size).padStart(5)}  ${best.insert.toFixed(2).padStart(12)}  ${best.copy.toFixed(2).padStart(11)}  ${(best.copy / best.insert).toFixed(2).padStart(11)}`,
  );
}
await pool.end();
await dropSchema(schema);
