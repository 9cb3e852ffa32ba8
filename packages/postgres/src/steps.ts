/** Memoized steps of the PostgreSQL store (`sql/steps.sql`). */
import type { PutStepInput, StepValue } from 'batchflight/jobs';
import { json, toSeq, type StoreContext } from './context.js';
import { GET_STEP, PUT_STEP } from './sql/generated.js';

/** The step statements of one store. */
export class PgSteps {
  readonly #ctx: StoreContext;

  /** The step statements of the store `ctx` belongs to. */
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** `JobStore.getStep`. */
  async getStep(jobId: string, step: string): Promise<StepValue> {
    await this.#ctx.ready();
    const [row] = await this.#ctx.conn.q<{ value: unknown }>(GET_STEP, [toSeq(jobId), step]);
    return row === undefined
      ? { found: false, value: undefined }
      : { found: true, value: row.value };
  }

  /** `JobStore.putStep`: written only while the caller's epoch holds the job's lease. */
  async putStep(input: PutStepInput): Promise<boolean> {
    await this.#ctx.ready();
    const rows = await this.#ctx.conn.q(PUT_STEP, [
      toSeq(input.id),
      input.step,
      json(input.value),
      input.epoch,
    ]);
    return rows.length === 1;
  }
}
