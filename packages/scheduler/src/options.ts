/**
 * Validation of the scheduler's options and of `every()`, with the house
 * messages: where, the option path, the contract and the bad value.
 */
import { InvalidOptionError } from 'batchflight';
import { describe, integerOption, knownOptions } from 'batchflight/kit';
import type { Backfill, EveryOptions, ScheduleDefinition, ScheduleSpec } from './types.js';
import { slotsOf } from './slots.js';

const EVERY_OPTIONS = ['queue', 'jobName', 'payload', 'timezone', 'backfill'];

function invalid(where: string, option: string, contract: string, value: unknown): never {
  throw new InvalidOptionError(
    option,
    `${where}: option ${option} must be ${contract}, got ${describe(value)}.`,
  );
}

function nonEmpty(where: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '')
    invalid(where, option, 'a non-empty string', value);
  return value;
}

function backfillOf(where: string, value: unknown): Backfill {
  if (value === undefined || value === 'skip') return 'skip';
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    knownOptions(where, value, ['catchUp']);
    const catchUp = integerOption(
      where,
      'backfill.catchUp',
      (value as { catchUp?: unknown }).catchUp,
    );
    return { catchUp };
  }
  return invalid(where, 'backfill', "'skip' or { catchUp: N } (N an integer >= 1)", value);
}

function payloadOf(where: string, value: unknown): unknown {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined)
    invalid(where, 'payload', 'a JSON value (it is stored with the schedule)', value);
  return JSON.parse(text) as unknown;
}

/** Checks `every(name, when, options)` and returns the definition to store. */
export function definitionOf(
  name: unknown,
  when: unknown,
  options: unknown,
): { name: string; definition: ScheduleDefinition } {
  const where = `scheduler.every(${typeof name === 'string' ? JSON.stringify(name) : '…'})`;
  const scheduleName = nonEmpty(where, 'name', name);
  if (typeof options !== 'object' || options === null) {
    invalid(
      where,
      'options',
      'an object { queue, jobName?, payload?, timezone?, backfill? }',
      options,
    );
  }
  knownOptions(where, options, EVERY_OPTIONS);
  const o = options as EveryOptions;
  const queue = nonEmpty(where, 'queue', o.queue);
  const jobName = o.jobName === undefined ? scheduleName : nonEmpty(where, 'jobName', o.jobName);
  let spec: ScheduleSpec;
  if (typeof when === 'string') {
    const timezone = o.timezone === undefined ? undefined : nonEmpty(where, 'timezone', o.timezone);
    spec = timezone === undefined ? { cron: when } : { cron: when, timezone };
    try {
      // Parses the pattern and, by computing a slot, the timezone (croner checks it lazily).
      slotsOf(spec).next(0);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InvalidOptionError(
        timezone === undefined || message.includes('CronPattern') ? 'cron' : 'timezone',
        `${where}: the cron pattern ${JSON.stringify(when)}${timezone === undefined ? '' : ` in timezone ${JSON.stringify(timezone)}`} must be a valid croner pattern and IANA timezone: ${message}`,
      );
    }
  } else if (typeof when === 'object' && when !== null && 'everyMs' in when) {
    knownOptions(where, when, ['everyMs']);
    const everyMs = integerOption(where, 'everyMs', when.everyMs);
    if (o.timezone !== undefined) {
      invalid(
        where,
        'timezone',
        'absent with { everyMs } (interval slots are UTC instants)',
        o.timezone,
      );
    }
    spec = { everyMs };
  } else {
    return invalid(where, 'when', "a cron pattern ('0 3 * * *') or { everyMs: N }", when);
  }
  return {
    name: scheduleName,
    definition: {
      spec,
      queue,
      jobName,
      payload: payloadOf(where, o.payload),
      backfill: backfillOf(where, o.backfill),
    },
  };
}

/** Checks the name argument of pause/resume/remove. */
export function scheduleName(where: string, name: unknown): string {
  return nonEmpty(where, 'name', name);
}
