/**
 * The A/B run of the stream sink, shared by `bench/stream-ab.bench.ts`
 * (PostgreSQL, the full profile) and the demo's `stream-ab` scenario (SQLite,
 * the profile compressed): one load profile of phases, generated from a seed
 * so every configuration sees the same events at the same offsets, replayed
 * against three static windows and the adaptive one, and the figures of each
 * phase.
 *
 * The source is an in-process broker: the publisher appends each event at its
 * scheduled time (on the real clock) and the sink consumes what has been
 * published, so a sink that falls behind leaves events waiting in the broker,
 * as a real one would, and that wait is in their latency. Latency runs from an
 * event's scheduled publish time (publisher lag included) to the moment its
 * write resolved, i.e. committed.
 */
import { stream, type StreamOptions } from 'batchflight/stream';

/** One phase of the load profile. */
export interface AbPhase {
  readonly name: string;
  readonly durationMs: number;
  /** Poisson arrivals, events per second. */
  readonly ratePerS: number;
  /** On top of the arrivals: `size` events published at once every `everyMs`. */
  readonly burst?: { readonly everyMs: number; readonly size: number };
}

/** The profile of the issue: 1,000 → 20,000 → 2,000 events/s, then bursts. */
export const AB_PROFILE: readonly AbPhase[] = [
  { name: 'steady 1,000/s', durationMs: 4_000, ratePerS: 1_000 },
  { name: 'peak 20,000/s', durationMs: 4_000, ratePerS: 20_000 },
  { name: 'cool 2,000/s', durationMs: 3_000, ratePerS: 2_000 },
  {
    name: 'bursts 2,000/s + 5,000 at once every 1 s',
    durationMs: 4_000,
    ratePerS: 2_000,
    burst: { everyMs: 1_000, size: 5_000 },
  },
];

/**
 * The same profile `factor` times as long (0.125: an eighth): durations and
 * burst periods scale, rates stay, bursts shrink with their period so each
 * phase keeps its mean rate.
 */
export function compressProfile(profile: readonly AbPhase[], factor: number): AbPhase[] {
  return profile.map((phase) => ({
    ...phase,
    durationMs: phase.durationMs * factor,
    ...(phase.burst === undefined
      ? {}
      : {
          burst: {
            everyMs: phase.burst.everyMs * factor,
            size: Math.round(phase.burst.size * factor),
          },
        }),
  }));
}

/** When each event is published, and in which phase. */
export interface AbSchedule {
  readonly phases: readonly AbPhase[];
  /** Publish offset of event i, in milliseconds from the start, ascending. */
  readonly at: Float64Array;
  /** Phase index of event i. */
  readonly phase: Uint8Array;
  /** Start offset of each phase, in milliseconds. */
  readonly phaseStart: readonly number[];
  readonly totalMs: number;
}

/** A seeded PRNG (mulberry32): the same seed, the same profile. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The publish times of `phases`, from `seed`. */
export function abSchedule(phases: readonly AbPhase[], seed = 1): AbSchedule {
  const next = random(seed);
  const times: number[] = [];
  const phaseOf: number[] = [];
  const phaseStart: number[] = [];
  let start = 0;
  phases.forEach((phase, p) => {
    phaseStart.push(start);
    const end = start + phase.durationMs;
    const events: number[] = [];
    for (let t = start; ;) {
      t += (-Math.log(1 - next()) * 1000) / phase.ratePerS;
      if (t >= end) break;
      events.push(t);
    }
    if (phase.burst !== undefined) {
      // Mid-period, so a burst never falls on a phase boundary.
      for (let t = start + phase.burst.everyMs / 2; t < end; t += phase.burst.everyMs) {
        for (let k = 0; k < phase.burst.size; k++) events.push(t);
      }
    }
    events.sort((a, b) => a - b);
    for (const t of events) {
      times.push(t);
      phaseOf.push(p);
    }
    start = end;
  });
  return {
    phases,
    at: Float64Array.from(times),
    phase: Uint8Array.from(phaseOf),
    phaseStart,
    totalMs: start,
  };
}

/** One event of the profile, as the sink carries it. */
export interface AbEvent {
  /** Index in the schedule. */
  readonly i: number;
  /** The idempotency key (primary key of the row). */
  readonly id: number;
  readonly user: number;
  readonly page: string;
}

/** Event i of every trial: the same fields whatever the configuration. */
export function abEvent(i: number): AbEvent {
  return { i, id: i + 1, user: (i * 7919) % 10_000, page: `/p/${String(i % 50)}` };
}

/** A window under test. */
export interface AbConfig {
  /** Short label: small, medium, large, adaptive. */
  readonly label: string;
  /** What it is, for the table. */
  readonly description: string;
  /** The window options given to `stream()`, nothing else. */
  readonly options: Pick<StreamOptions<AbEvent>, 'window' | 'maxItems' | 'lingerMs'>;
}

/** The three static windows of the issue and the adaptive one with its defaults (no tuning). */
export const AB_CONFIGS: readonly AbConfig[] = [
  { label: 'small', description: 'static 10 ms / 100', options: { maxItems: 100, lingerMs: 10 } },
  {
    label: 'medium',
    description: 'static 100 ms / 1,000',
    options: { maxItems: 1_000, lingerMs: 100 },
  },
  {
    label: 'large',
    description: 'static 1 s tumbling',
    // No count bound below what 1 s of the peak brings: the window closes on time.
    options: { maxItems: 1_000_000, lingerMs: 1_000 },
  },
  { label: 'adaptive', description: 'adaptive, defaults', options: { window: 'adaptive' } },
];

/**
 * Writes one batch and resolves once it committed, with the measured time of
 * the statement (and its commit) in milliseconds.
 */
export type AbWrite = (events: readonly AbEvent[], signal: AbortSignal) => Promise<number> | number;

/** One committed write of a trial. */
export interface AbWriteRecord {
  /** Commit time, in milliseconds from the start of the trial. */
  readonly at: number;
  readonly size: number;
  /** Measured statement time, in milliseconds. */
  readonly dbMs: number;
  /** Schedule index of its oldest event. */
  readonly first: number;
  /** Latency of its oldest event (publish to commit), in milliseconds. */
  readonly oldestMs: number;
  /** The sink's size limit and limit on writes in flight at the commit (adaptive: L and C). */
  readonly sizeLimit: number;
  readonly concurrencyLimit: number;
  /** Writes in flight at the commit, this one included. */
  readonly inFlight: number;
}

/** What one trial left. */
export interface AbTrial {
  readonly config: AbConfig;
  readonly writes: readonly AbWriteRecord[];
  /** Publish-to-commit latency of event i in milliseconds; NaN if never committed. */
  readonly latency: Float64Array;
  /** Events acknowledged (once each, if `duplicates` is 0). */
  readonly acked: number;
  /** Acknowledgements of an event already acknowledged. */
  readonly duplicates: number;
  readonly dead: number;
  /** Events still unwritten when the trial gave up. */
  readonly unwritten: number;
}

/** Options of {@link runAbTrial}. */
export interface AbTrialOptions {
  /** The bound of the sink (the same for every configuration). Default 100,000. */
  readonly maxBuffered?: number;
  /** After the last publish, how long the sink has to write what it holds. Default 5 s. */
  readonly drainMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Replays `schedule` against one configuration, writing through `write`. */
export async function runAbTrial(
  schedule: AbSchedule,
  config: AbConfig,
  write: AbWrite,
  options: AbTrialOptions = {},
): Promise<AbTrial> {
  const n = schedule.at.length;
  const latency = new Float64Array(n).fill(Number.NaN);
  const ackedAt = new Uint8Array(n);
  const writes: AbWriteRecord[] = [];
  let acked = 0;
  let duplicates = 0;
  let dead = 0;
  let start = 0;
  const sink = stream<AbEvent>({
    name: `stream-ab-${config.label}`,
    ...config.options,
    maxBuffered: options.maxBuffered ?? 100_000,
    writeMany: async (events, ctx) => {
      const dbMs = await write(events, ctx.signal);
      const now = performance.now() - start;
      for (const event of events) latency[event.i] = now - (schedule.at[event.i] as number);
      const first = (events[0] as AbEvent).i;
      const stats = sink.stats();
      writes.push({
        sizeLimit: stats.sizeLimit,
        concurrencyLimit: stats.concurrencyLimit,
        inFlight: stats.inFlightWrites,
        at: now,
        size: events.length,
        dbMs,
        first,
        oldestMs: now - (schedule.at[first] as number),
      });
    },
    ack: (event) => {
      if (ackedAt[event.i] === 1) duplicates++;
      else {
        ackedAt[event.i] = 1;
        acked++;
      }
    },
    onDeadLetter: () => {
      dead++;
    },
  });

  // The broker: events up to `published` are out; the sink takes them in order.
  let published = 0;
  let taken = 0;
  let wake: (() => void) | undefined;
  async function* broker(): AsyncGenerator<AbEvent> {
    for (;;) {
      while (taken < published) yield abEvent(taken++);
      if (published === n) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  start = performance.now();
  const consuming = sink.consume(broker());
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - start;
      while (published < n && (schedule.at[published] as number) <= now) published++;
      const woken = wake;
      wake = undefined;
      woken?.();
      if (published === n) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await consuming;
  // Let the windows close on their own (a 1 s window is not cut short), then close.
  const drainUntil = performance.now() + (options.drainMs ?? 5_000);
  while (acked + dead < n && performance.now() < drainUntil) await sleep(5);
  const report = await sink.close({ timeoutMs: 1_000 });
  return {
    config,
    writes,
    latency,
    acked,
    duplicates,
    dead,
    unwritten: report.unwritten.length,
  };
}

/** The figures of one configuration in one phase. */
export interface AbPhaseFigures {
  /** Committed writes whose oldest event was published in the phase. */
  readonly writes: number;
  readonly writesPerS: number;
  readonly rowsPerWrite: number;
  /** Measured statement time per row of those writes, in microseconds. */
  readonly dbUsPerRow: number;
  /** Latency of the events published in the phase (an unwritten one counts as infinite). */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Nearest-rank percentile of a sorted array. */
function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Per phase of `schedule`, the figures of `trial`. */
export function abFigures(schedule: AbSchedule, trial: AbTrial): AbPhaseFigures[] {
  return schedule.phases.map((phase, p) => {
    let writes = 0;
    let rows = 0;
    let dbMs = 0;
    for (const w of trial.writes) {
      if (schedule.phase[w.first] !== p) continue;
      writes++;
      rows += w.size;
      dbMs += w.dbMs;
    }
    const latencies: number[] = [];
    for (let i = 0; i < schedule.at.length; i++) {
      if (schedule.phase[i] !== p) continue;
      const l = trial.latency[i] as number;
      latencies.push(Number.isNaN(l) ? Infinity : l);
    }
    const sorted = Float64Array.from(latencies).sort();
    return {
      writes,
      writesPerS: (writes / phase.durationMs) * 1000,
      rowsPerWrite: writes === 0 ? 0 : rows / writes,
      dbUsPerRow: rows === 0 ? 0 : (dbMs / rows) * 1000,
      p50Ms: rank(sorted, 50),
      p99Ms: rank(sorted, 99),
    };
  });
}

/** The targets of one phase: the adaptive window against the best static window per figure. */
export interface AbVerdict {
  readonly phase: string;
  /** The static configuration with the least database time per row, and that time. */
  readonly bestCost: { readonly label: string; readonly dbUsPerRow: number };
  /** Adaptive database time per row / the best static's. */
  readonly costRatio: number;
  /** The static configuration with the lowest p99, and that p99. */
  readonly bestP99: { readonly label: string; readonly p99Ms: number };
  /** Adaptive p99 / the best static's. */
  readonly p99Ratio: number;
  /**
   * The static configuration with the least database time per row among those
   * whose p99 met the adaptive window's latency target (none: undefined), and
   * the adaptive window's database time per row over its.
   */
  readonly withinTarget:
    { readonly label: string; readonly dbUsPerRow: number; readonly costRatio: number } | undefined;
}

/** The target: within 10 % of the best static configuration. */
export const AB_TOLERANCE = 1.1;
/** The adaptive window's default `latencyTargetMs`, which the A/B run gives it. */
export const AB_LATENCY_TARGET_MS = 100;
/** The static configurations the adaptive window is measured against. */
export const AB_STATICS: readonly string[] = ['small', 'medium', 'large'];

/** Per phase, the adaptive window against the best static window of each figure. */
export function abVerdicts(
  phases: readonly AbPhase[],
  figures: ReadonlyMap<string, readonly AbPhaseFigures[]>,
): AbVerdict[] {
  const statics = [...figures].filter(([label]) => AB_STATICS.includes(label));
  const adaptive = figures.get('adaptive');
  if (adaptive === undefined || statics.length === 0) {
    throw new Error('abVerdicts: needs the adaptive figures and at least one static');
  }
  return phases.map((phase, p) => {
    const at = (list: readonly AbPhaseFigures[]): AbPhaseFigures => list[p] as AbPhaseFigures;
    const least = (
      entries: (readonly [string, readonly AbPhaseFigures[]])[],
      of: (f: AbPhaseFigures) => number,
    ): readonly [string, AbPhaseFigures] | undefined =>
      entries
        .map(([label, list]) => [label, at(list)] as const)
        .reduce<readonly [string, AbPhaseFigures] | undefined>(
          (best, entry) => (best === undefined || of(entry[1]) < of(best[1]) ? entry : best),
          undefined,
        );
    const [costLabel, cost] = least(statics, (f) => f.dbUsPerRow) as [string, AbPhaseFigures];
    const [p99Label, p99] = least(statics, (f) => f.p99Ms) as [string, AbPhaseFigures];
    const meeting = least(
      statics.filter(([, list]) => at(list).p99Ms <= AB_LATENCY_TARGET_MS),
      (f) => f.dbUsPerRow,
    );
    const mine = at(adaptive);
    return {
      phase: phase.name,
      bestCost: { label: costLabel, dbUsPerRow: cost.dbUsPerRow },
      costRatio: mine.dbUsPerRow / cost.dbUsPerRow,
      bestP99: { label: p99Label, p99Ms: p99.p99Ms },
      p99Ratio: mine.p99Ms / p99.p99Ms,
      withinTarget:
        meeting === undefined
          ? undefined
          : {
              label: meeting[0],
              dbUsPerRow: meeting[1].dbUsPerRow,
              costRatio: mine.dbUsPerRow / meeting[1].dbUsPerRow,
            },
    };
  });
}
