/**
 * The memoized steps of a `SqliteJobStore` (`StepStore`): a value per job and
 * step name, written under the job's lease.
 */
import { type PutStepInput, type StepValue } from 'batchflight/jobs';
import { type SqliteConnection } from './connection.js';
import { toSeq } from './rows.js';
import { GET_STEP_SELECT_STEPS, PUT_STEP_INSERT_STEPS } from './sql/generated.js';

/** The `StepStore` of one store, on its connection. */
export class SqliteSteps {
  readonly #c: SqliteConnection;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
  }

  getStep(jobId: string, step: string): Promise<StepValue> {
    return this.#c.read(() => {
      const row = this.#c.stmt(GET_STEP_SELECT_STEPS).get(toSeq(jobId), step) as
        { value: string } | undefined;
      return row === undefined
        ? { found: false, value: undefined }
        : { found: true, value: JSON.parse(row.value) as unknown };
    });
  }

  putStep(input: PutStepInput): Promise<boolean> {
    return this.#c.write(
      () =>
        this.#c
          .stmt(PUT_STEP_INSERT_STEPS)
          .run(input.step, JSON.stringify(input.value ?? null), toSeq(input.id), input.epoch)
          .changes === 1,
    );
  }
}
