/**
 * A process following the fleet's revisions, whatever the store: apply the current one,
 * then each new one on its notification or on the next poll, in order and never
 * backwards; report a heartbeat with the revision applied and the last error; keep the
 * last good revision when a revision is refused or the store cannot be reached.
 *
 * Every store call runs in one queue, so two notifications never apply out of order and
 * a heartbeat never overtakes the report of an apply; each call has a deadline, so a
 * store that stopped answering turns into "unreachable" instead of a queue that hangs.
 */
import { hostname } from 'node:os';
import { eventChannel, systemClock, type Clock, type Timer } from 'batchflight/core';
import type { FleetConfig } from './fleet-schema.js';
import type { ApplyReport, ConfigRegistry } from './registry.js';
import {
  parseRevision,
  type FleetStore,
  type FleetSubscription,
  type FollowerStatus,
} from './fleet-store.js';

/** Options of `follow()`. */
export interface FollowOptions {
  /** Identifies this process in `status()` and `processes()`. Default `host:pid`. */
  readonly processId?: string;
  /**
   * Poll for a newer revision this often, in ms, in case a notification was missed (or the
   * notification connection is down). Default 1 000.
   */
  readonly pollMs?: number;
  /** Report a heartbeat this often, in ms. Default 5 000; stale after 3 missed. */
  readonly heartbeatMs?: number;
  /** A store call that has not answered after this many ms counts as unreachable. Default 2 000. */
  readonly timeoutMs?: number;
  /** Timers and report times. Default the channel's clock. */
  readonly clock?: Clock;
  /** Called after each revision applied. */
  readonly onApplied?: (revision: number, report: ApplyReport, config: FleetConfig) => void;
  /**
   * Called when a revision is refused, and (with `revision` undefined) when the store
   * stops answering; the last good revision stays.
   */
  readonly onRefused?: (revision: number | undefined, error: unknown) => void;
}

/** What a follower knows of itself, for a health endpoint. */
export interface FollowerHealth {
  /** The revision this process runs (0: none). */
  readonly revision: number;
  /** The last revision it refused, when newer than the one it runs. */
  readonly refused?: number;
  /** False when the last store call failed: the process runs its last good revision. */
  readonly reachable: boolean;
  /** Why the last revision was refused, or why the store could not be read. */
  readonly error?: string;
  /** When the store last answered, epoch ms (undefined: never). */
  readonly lastContactAt?: number;
}

/** Payload of the `batchflight:config:revision` diagnostics channel. */
export interface ConfigRevisionEvent extends FollowerHealth {
  readonly processId: string;
  /**
   * What just happened: a revision applied or refused, the store unreachable (published
   * once per outage), or reachable again.
   */
  readonly outcome: 'applied' | 'refused' | 'unreachable' | 'reachable';
}

/** A process following the published revisions. */
export interface ConfigFollower extends AsyncDisposable {
  /** Resolves once the revision current at start was applied (or refused, or the store failed). */
  readonly ready: Promise<void>;
  /** The revision this process runs (0: none). */
  readonly revision: number;
  /** The process id it reports under. */
  readonly processId: string;
  /** The revision it runs, the last refusal and whether the store answered. */
  health(): FollowerHealth;
  /** Reads the store now (as a poll would); resolves once done. */
  poll(): Promise<void>;
  /** Stops following and closes the notification connection. Idempotent. */
  close(): Promise<void>;
}

/** `batchflight:config:revision`: every apply and refusal, and each outage and recovery of a follower. */
export const configChannels = {
  revision: eventChannel<ConfigRevisionEvent>('config', 'revision'),
} as const;

const message = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

class StoreTimeout extends Error {
  override readonly name = 'TimeoutError';
}

/** The positive integer option `name`, or `fallback`. */
function period(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(
      `follow(): ${name} must be a finite number of ms > 0, got ${String(value)}.`,
    );
  }
  return value;
}

/** The follower of `store`'s revisions; see `ConfigChannel#follow`. */
export function followRevisions(
  store: FleetStore,
  registry: ConfigRegistry,
  options: FollowOptions,
): ConfigFollower {
  const clock = options.clock ?? systemClock;
  const processId = options.processId ?? `${hostname()}:${String(process.pid)}`;
  const pollMs = period('pollMs', options.pollMs, 1_000);
  const heartbeatMs = period('heartbeatMs', options.heartbeatMs, 5_000);
  const timeoutMs = period('timeoutMs', options.timeoutMs, 2_000);
  const startedAt = clock.now();
  let applied = 0;
  let refused = 0;
  let reachable = true;
  let lastError: string | undefined;
  let lastContactAt: number | undefined;
  let closed = false;

  const health = (): FollowerHealth => ({
    revision: applied,
    ...(refused > applied ? { refused } : {}),
    reachable,
    ...(lastError === undefined ? {} : { error: lastError }),
    ...(lastContactAt === undefined ? {} : { lastContactAt }),
  });
  const publish = (outcome: ConfigRevisionEvent['outcome']): void => {
    if (configChannels.revision.hasSubscribers) {
      configChannels.revision.publish({ processId, outcome, ...health() });
    }
  };

  /** A store call with a deadline on the follower's clock. */
  const call = <T>(what: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = clock.setTimer(() => {
        reject(new StoreTimeout(`${store.label} did not answer within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      what.then(
        (value) => {
          timer.cancel();
          resolve(value);
        },
        (error: unknown) => {
          timer.cancel();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  const answered = (): void => {
    lastContactAt = clock.now();
    if (reachable) return;
    reachable = true;
    // The outage's error is history once the store answers; a refusal's error stays.
    if (!(refused > applied)) lastError = undefined;
    publish('reachable');
  };
  const unreachable = (error: unknown): void => {
    lastError = `${store.label} unreachable, running revision ${String(applied)}: ${message(error)}`;
    if (!reachable) return; // once per outage
    reachable = false;
    publish('unreachable');
    options.onRefused?.(undefined, error);
  };

  const report = async (): Promise<void> => {
    const status: FollowerStatus = {
      revision: applied,
      ...(refused > applied ? { refused } : {}),
      ...(lastError === undefined ? {} : { error: lastError }),
      at: clock.now(),
      host: hostname(),
      pid: process.pid,
      startedAt,
      heartbeatMs,
    };
    await call(store.report(processId, status));
    answered();
  };

  const catchUp = async (): Promise<void> => {
    const latest = await call(store.latest());
    answered();
    if (latest <= applied || latest <= refused) return;
    const record = await call(store.read(latest));
    if (record === undefined) return; // appended between the two reads' views; the next poll sees it
    const source = `${store.label} revision ${String(latest)}`;
    let result: ApplyReport;
    let config: FleetConfig;
    try {
      config = parseRevision(record.text, source, record.format);
      result = registry.apply(config, source);
    } catch (error) {
      refused = latest;
      lastError = message(error);
      publish('refused');
      options.onRefused?.(latest, error);
      await report();
      return;
    }
    applied = latest;
    lastError = undefined;
    publish('applied');
    options.onApplied?.(latest, result, config);
    await report();
  };

  // Serialized: one store conversation at a time, in the order asked.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (step: () => Promise<void>): Promise<void> => {
    queue = queue.then(step).catch(unreachable);
    return queue;
  };

  const subscription: FleetSubscription = store.listen(
    () => {
      if (!closed) void enqueue(catchUp);
    },
    (error) => {
      // The notification connection's errors: polling carries on; the poll's own calls
      // say whether the store itself answers.
      lastError = message(error);
    },
  );
  // Read the current revision once listening (or once listening failed): a revision
  // published in between is seen by this read or by its notification. A store that does
  // not answer at all must not hold `ready`: wait for it at most timeoutMs.
  const ready = new Promise<void>((resolve) => {
    const timer = clock.setTimer(resolve, timeoutMs);
    void subscription.listening.then(() => {
      timer.cancel();
      resolve();
    });
  })
    .then(() => enqueue(catchUp))
    .then(() => enqueue(report));

  // Repeating timers on the clock: each tick schedules the next.
  let pollTimer: Timer | undefined;
  let beatTimer: Timer | undefined;
  const schedulePoll = (): void => {
    if (closed) return;
    pollTimer = clock.setTimer(() => {
      if (closed) return;
      void enqueue(async () => {
        // Re-listen after a lost notification connection; a failure here is not the
        // store's (the read below says whether it answers), and polling goes on meanwhile.
        const ensure = subscription.ensure?.();
        if (ensure !== undefined) await call(ensure).catch(() => undefined);
        await catchUp();
      }).finally(schedulePoll);
    }, pollMs);
  };
  const scheduleBeat = (): void => {
    if (closed) return;
    beatTimer = clock.setTimer(() => {
      if (closed) return;
      void enqueue(report).finally(scheduleBeat);
    }, heartbeatMs);
  };
  void ready.then(() => {
    if (closed) return;
    schedulePoll();
    scheduleBeat();
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true;
      pollTimer?.cancel();
      beatTimer?.cancel();
      await ready;
      await queue;
      await subscription.close().catch(() => undefined);
    })());
  return {
    ready,
    get revision() {
      return applied;
    },
    processId,
    health,
    poll: () => enqueue(catchUp),
    close,
    [Symbol.asyncDispose]: close,
  };
}
