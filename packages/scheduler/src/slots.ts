/**
 * Slots: the instants a schedule fires at. A cron schedule's slots come from
 * croner in the schedule's timezone (never hand-written cron parsing); an
 * interval schedule's slots are the multiples of `everyMs` since the Unix
 * epoch, so every process computes the same instants without agreeing on a
 * start time.
 *
 * DST (croner's semantics, kept as they are): a fixed-time pattern
 * (`30 2 * * *`) whose local time does not exist on a spring-forward day
 * fires once when the clock has jumped (03:00 local), and on a fall-back day
 * fires once, at the first occurrence of the repeated time. An interval-like
 * pattern (`30 * * * *`) skips the missing local times and fires on both
 * occurrences of a repeated one. Either way a slot is a UTC instant, and the
 * idempotency key is made of that instant, so a repeated local time is two
 * distinct slots only when croner yields two instants.
 */
import { Cron } from 'croner';
import type { ScheduleSpec } from './types.js';

/** The slot computation of one schedule. */
export interface Slots {
  /** The first slot strictly after `afterMs`, or undefined when none. */
  next(afterMs: number): number | undefined;
  /** Up to `n` slots `<= atMs` and `> afterMs`, most recent first. */
  latest(n: number, atMs: number, afterMs: number): number[];
}

/** The slots of `spec`; throws croner's error for a bad pattern or timezone. */
export function slotsOf(spec: ScheduleSpec): Slots {
  if (spec.everyMs !== undefined) return intervalSlots(spec.everyMs);
  const cron = new Cron(spec.cron, {
    paused: true,
    ...(spec.timezone === undefined ? {} : { timezone: spec.timezone }),
  });
  return {
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime();
    },
    latest(n, atMs, afterMs) {
      // previousRuns excludes a run at the reference itself; start 1 ms later so it counts.
      return cron
        .previousRuns(n, new Date(atMs + 1))
        .map((d) => d.getTime())
        .filter((t) => t > afterMs && t <= atMs);
    },
  };
}

function intervalSlots(everyMs: number): Slots {
  return {
    next(afterMs) {
      return (Math.floor(afterMs / everyMs) + 1) * everyMs;
    },
    latest(n, atMs, afterMs) {
      const out: number[] = [];
      for (
        let t = Math.floor(atMs / everyMs) * everyMs;
        out.length < n && t > afterMs;
        t -= everyMs
      ) {
        out.push(t);
      }
      return out;
    },
  };
}
