/**
 * Jobs metrics from the Worker's channels: throughput and outcomes (`settled`), latency from
 * due to start and run time, and depth by queue, state and partition with the age of the
 * oldest ready job (`depth`, the store's `counts()` sampled every `depthSampleMs`).
 */
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import type { JobCounts, JobsDepthMessage, JobsSettledMessage } from 'batchflight';
import { ATTR } from '../catalog.js';
import type { ChannelHandlers } from '../channels.js';
import { base, seconds, type Recorder } from '../recorder.js';

/** The payloads of `enqueued`, `claimed`, `lease-lost` and `run-slice`, as far as read here. */
interface Counted {
  readonly queue?: string;
  readonly count?: number;
  readonly created?: number;
}

/** Every state count of one sample scope: `''` is a sample of every queue. */
interface DepthSample {
  readonly queue: string | undefined;
  readonly counts: JobCounts;
}

function observeStates(
  result: ObservableResult,
  states: Readonly<Record<string, number>>,
  attrs: Attributes,
): void {
  for (const [state, count] of Object.entries(states)) {
    result.observe(count, { ...attrs, [ATTR.state]: state });
  }
}

/** Handlers of the jobs channels, and the depth gauges they feed. */
export function jobsHandlers(r: Recorder): ChannelHandlers {
  // The last sample per scope (one queue, or '' for every queue). A later sample of every
  // queue does not erase a single-queue one: each is the freshest its worker knows.
  const samples = new Map<string, DepthSample>();
  const jobsAttrs = base(r, 'jobs', undefined);

  r.gauge('batchflight.jobs.depth', (result) => {
    // A queue reported by a single-queue sample wins over the same queue in an all-queue one.
    const seen = new Set<string>();
    for (const { queue, counts } of samples.values()) {
      if (queue === undefined) continue;
      seen.add(queue);
      observeStates(result, counts.byQueue[queue] ?? counts.byState, {
        ...jobsAttrs,
        [ATTR.queue]: queue,
      });
    }
    const all = samples.get('');
    if (all === undefined) return;
    for (const [queue, states] of Object.entries(all.counts.byQueue)) {
      if (!seen.has(queue)) observeStates(result, states, { ...jobsAttrs, [ATTR.queue]: queue });
    }
  });
  r.gauge('batchflight.jobs.partition.depth', (result) => {
    for (const { queue, counts } of samples.values()) {
      const attrs = queue === undefined ? jobsAttrs : { ...jobsAttrs, [ATTR.queue]: queue };
      for (const [partition, states] of Object.entries(counts.byPartition)) {
        observeStates(result, states, { ...attrs, [ATTR.partition]: partition });
      }
    }
  });
  r.gauge('batchflight.jobs.oldest_ready.age', (result) => {
    for (const { queue, counts } of samples.values()) {
      const attrs = queue === undefined ? jobsAttrs : { ...jobsAttrs, [ATTR.queue]: queue };
      result.observe(seconds(counts.oldestReadyAgeMs), attrs);
    }
  });

  return {
    'batchflight:jobs:enqueued': (e: Counted) => {
      const attrs = e.queue === undefined ? jobsAttrs : { ...jobsAttrs, [ATTR.queue]: e.queue };
      r.add('batchflight.jobs.enqueued', e.created ?? e.count ?? 0, attrs);
    },
    'batchflight:jobs:claimed': (e: Counted) => {
      r.add('batchflight.jobs.claimed', e.count ?? 0, jobsAttrs);
    },
    'batchflight:jobs:settled': (e: JobsSettledMessage) => {
      for (const job of e.jobs) {
        const attrs = { ...jobsAttrs, [ATTR.queue]: job.queue, [ATTR.jobName]: job.name };
        const withOutcome = { ...attrs, [ATTR.outcome]: job.outcome };
        r.add('batchflight.jobs.settled', 1, withOutcome);
        r.record('batchflight.jobs.queue.duration', seconds(job.enqueueToStartMs), attrs);
        r.record('batchflight.jobs.run.duration', seconds(job.runMs), withOutcome);
      }
    },
    'batchflight:jobs:depth': (e: JobsDepthMessage) => {
      samples.set(e.queue ?? '', { queue: e.queue, counts: e.counts });
    },
    'batchflight:jobs:lease-lost': () => {
      r.add('batchflight.jobs.lease_lost', 1, jobsAttrs);
    },
    'batchflight:jobs:run-slice': () => {
      r.add('batchflight.jobs.run_slices', 1, jobsAttrs);
    },
  };
}
