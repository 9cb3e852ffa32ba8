/**
 * @packageDocumentation
 * Recurring schedules for batchflight jobs (being built).
 */
export {};
