/** The one row shape the SQL stores share, and its mapping to a {@link ScheduleInfo}. */
import type { ScheduleDefinition, ScheduleInfo } from '../types.js';

/** A schedule row as both SQL stores select it (numbers may come back as strings from pg). */
export interface ScheduleRow {
  readonly name: string;
  readonly definition: string;
  readonly paused: number | boolean;
  readonly cursor: number | string;
  readonly last_fired: number | string | null;
  readonly created_at: number | string;
  readonly updated_at: number | string;
}

/** The columns, in the order every select names them. */
export const COLUMNS = 'name, definition, paused, cursor, last_fired, created_at, updated_at';

/** The row as a {@link ScheduleInfo}. */
export function toInfo(row: ScheduleRow): ScheduleInfo {
  const definition = JSON.parse(row.definition) as ScheduleDefinition;
  return {
    name: row.name,
    ...definition,
    paused: row.paused === true || row.paused === 1,
    cursor: Number(row.cursor),
    lastFiredSlot: row.last_fired === null ? null : Number(row.last_fired),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
