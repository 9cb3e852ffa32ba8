/**
 * Metrics of the fleet configuration follower (`@batchflight/config`, Redis or PostgreSQL): the revision a
 * process runs, whether its coordinator answers, and its refusals. Declared locally so this
 * package does not depend on `@batchflight/config` to observe it.
 */
import { ATTR } from '../catalog.js';
import type { ChannelHandlers } from '../channels.js';
import { base, type Recorder } from '../recorder.js';

/** The fields of `batchflight:config:revision` read here. */
interface RevisionEvent {
  readonly outcome: 'applied' | 'refused' | 'unreachable' | 'reachable';
  readonly revision: number;
  readonly reachable: boolean;
}

/** Handlers of the config channel, and the gauges they feed. */
export function configHandlers(r: Recorder): ChannelHandlers {
  const attrs = base(r, 'config', undefined);
  let last: RevisionEvent | undefined;
  r.gauge('batchflight.config.revision', (result) => {
    if (last !== undefined) result.observe(last.revision, attrs);
  });
  r.gauge('batchflight.config.reachable', (result) => {
    if (last !== undefined) result.observe(last.reachable ? 1 : 0, attrs);
  });
  return {
    'batchflight:config:revision': (e: RevisionEvent) => {
      last = e;
      // An outage counts once, when it starts; its end ('reachable') is no refusal.
      if (e.outcome === 'refused' || e.outcome === 'unreachable') {
        r.add('batchflight.config.refusals', 1, { ...attrs, [ATTR.reason]: e.outcome });
      }
    },
  };
}
