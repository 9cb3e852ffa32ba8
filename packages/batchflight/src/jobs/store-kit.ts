/**
 * Helpers shared by every `JobStore` implementation, so that the memory,
 * SQLite and PostgreSQL stores agree byte for byte on defaults, validation,
 * partition numbers and idempotency fingerprints.
 */
import { createHash } from 'node:crypto';
import { InvalidOptionError, describe } from '../core/index.js';
import { constantBackoff, exponentialBackoff, type Backoff } from '../core/backoff.js';
import { storableJson, storableText } from './store-json.js';
import { TERMINAL_STATES } from './store.js';
import type {
  BackoffSpec,
  CreateRunSpec,
  EnqueueSpec,
  EnqueuedEvent,
  JobRecord,
  JobState,
  PurgeOptions,
  ReplayOptions,
} from './store.js';

/** Number of partitions `partitionOf` maps keys onto. Part of the stored format: never change it. */
export const PARTITION_COUNT = 64;

/** Default `maxAttempts` of a job. */
export const DEFAULT_MAX_ATTEMPTS = 25;

/** Default `agingMs` of a claim: +1 effective priority per minute waited. */
export const DEFAULT_AGING_MS = 60_000;

/** Default queue name. */
export const DEFAULT_QUEUE = 'default';

/** Default `maxChunkAttempts` of a run. */
export const DEFAULT_MAX_CHUNK_ATTEMPTS = 10;

/**
 * The partition of a key: FNV-1a (32-bit) over the key's UTF-8 bytes, modulo
 * {@link PARTITION_COUNT}. Deterministic across processes, machines and
 * stores, so a partition can be replayed by number.
 *
 * @example
 * ```ts
 * partitionOf('tenant-42'); // always the same number in [0, 64)
 * ```
 */
export function partitionOf(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % PARTITION_COUNT;
}

/** JSON with object keys sorted, so equal values always serialise equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(JSON.parse(JSON.stringify(value ?? null)) as unknown));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

/**
 * The idempotency fingerprint of a job: SHA-256 of its name and canonical
 * JSON payload. Two enqueues with one key must have equal fingerprints.
 */
export function fingerprintOf(name: string, payload: unknown): string {
  return createHash('sha256')
    .update(name)
    .update('\0')
    .update(canonicalJson(payload))
    .digest('hex');
}

/** An {@link EnqueueSpec} with every default applied and validated. */
export interface NormalizedEnqueue {
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  /** `JSON.stringify(payload)` (null for undefined). */
  readonly payloadJson: string;
  /** `fingerprintOf(name, payload)` when there is an idempotency key, else ''. */
  readonly fingerprint: string;
  readonly idempotencyKey: string | null;
  readonly partitionKey: string | null;
  readonly partition: number | null;
  readonly ordered: boolean;
  readonly priority: number;
  readonly runAt: number;
  readonly dependsOn: readonly string[];
  readonly maxAttempts: number;
  readonly backoff: BackoffSpec | null;
}

/**
 * A value as an error message shows it: JSON for the JSON values these
 * options are (a spec is stored as JSON, so its JSON is what was wrong),
 * else (or when long) `describe`.
 */
function echo(value: unknown): string {
  if (value === undefined || typeof value === 'function') return describe(value);
  try {
    const json = JSON.stringify(value);
    return json.length <= 200 ? json : describe(value);
  } catch {
    return describe(value);
  }
}

function fail(option: string, contract: string, value: unknown): never {
  throw new InvalidOptionError(
    option,
    `enqueue(): ${option} must be ${contract}, got ${echo(value)}.`,
  );
}

function optionalString(option: string, value: unknown): string | null {
  if (value === undefined) return null;
  // U+0000: PostgreSQL's text columns refuse it, so no store takes it.
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    fail(option, 'a non-empty string without U+0000', value);
  }
  return value;
}

/** Validates a spec and applies the defaults; `nowMs` is the store clock's now. */
export function normalizeEnqueue(spec: EnqueueSpec, nowMs: number): NormalizedEnqueue {
  // Callers in plain JavaScript may pass anything.
  if (typeof (spec as unknown) !== 'object' || (spec as unknown) === null)
    fail('spec', 'an object', spec);
  const queue = optionalString('queue', spec.queue) ?? DEFAULT_QUEUE;
  const name = optionalString('name', spec.name);
  if (name === null) fail('name', 'a non-empty string', spec.name);
  const payloadJson = storableJson(spec.payload, 'payload', 'enqueue(): ');
  const payload = JSON.parse(payloadJson) as unknown;
  const idempotencyKey = optionalString('idempotencyKey', spec.idempotencyKey);
  const partitionKey = optionalString('partitionKey', spec.partitionKey);
  const ordered = spec.ordered ?? false;
  if (typeof ordered !== 'boolean') fail('ordered', 'a boolean', ordered);
  if (ordered && partitionKey === null) fail('partitionKey', 'set when ordered is true', null);
  const priority = spec.priority ?? 0;
  if (!Number.isSafeInteger(priority)) fail('priority', 'a safe integer', priority);
  const runAt = spec.runAt ?? nowMs;
  if (typeof runAt !== 'number' || !Number.isFinite(runAt)) {
    fail('runAt', 'a finite number of epoch milliseconds', runAt);
  }
  const dependsOn = spec.dependsOn ?? [];
  if (
    !Array.isArray(dependsOn) ||
    dependsOn.some((d) => typeof d !== 'string' || d.includes('\0'))
  ) {
    fail('dependsOn', 'an array of job ids', dependsOn);
  }
  const maxAttempts = spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    fail('maxAttempts', 'an integer >= 1', maxAttempts);
  }
  const backoff = spec.backoff ?? null;
  if (backoff !== null) validateBackoffSpec(backoff);
  return {
    queue,
    name,
    payload,
    payloadJson,
    // Hashing costs more than the insert itself; only keyed jobs need it.
    fingerprint: idempotencyKey === null ? '' : fingerprintOf(name, payload),
    idempotencyKey,
    partitionKey,
    partition: partitionKey === null ? null : partitionOf(partitionKey),
    ordered,
    priority,
    runAt: Math.floor(runAt),
    dependsOn: [...new Set(dependsOn)],
    maxAttempts,
    backoff,
  };
}

/**
 * The {@link Backoff} a stored spec describes: what a worker computes a
 * failed job's retry delay with. Throws `InvalidOptionError` for a spec it
 * cannot build; `normalizeEnqueue` builds every spec once at enqueue, so a
 * stored spec always builds.
 *
 * @example
 * ```ts
 * backoffFromSpec({ type: 'exponential', initialDelayMs: 500 }).delayMs(3, 0); // up to 2 000 ms
 * ```
 */
export function backoffFromSpec(spec: BackoffSpec): Backoff {
  if (typeof spec === 'number') return constantBackoff(spec);
  if (spec.type === 'constant') return constantBackoff(spec.delayMs);
  const { type: _type, ...rest } = spec;
  return exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 300_000, ...rest });
}

function validateBackoffSpec(spec: BackoffSpec): void {
  const type = typeof spec === 'number' ? 'number' : (spec as { type?: unknown } | null)?.type;
  if (type !== 'number' && type !== 'exponential' && type !== 'constant') {
    fail('backoff', "a number of ms or { type: 'exponential' | 'constant', … }", spec);
  }
  // The worker builds the spec on the first failure; a spec it cannot build
  // must be refused here, not throw inside the worker with the job leased.
  try {
    backoffFromSpec(spec);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const defaults =
      type === 'exponential' ? ' with the defaults initialDelayMs 1000, maxDelayMs 300000' : '';
    fail('backoff', `a spec the worker can build${defaults} (${why})`, spec);
  }
}

/** The record of a job just enqueued from `n` under sequence number `seq`, as every store first writes it. */
export function newJobRecord(n: NormalizedEnqueue, seq: number, nowMs: number): JobRecord {
  return {
    id: String(seq),
    queue: n.queue,
    name: n.name,
    payload: n.payload,
    state: 'pending',
    seq,
    idempotencyKey: n.idempotencyKey,
    partitionKey: n.partitionKey,
    partition: n.partition,
    ordered: n.ordered,
    priority: n.priority,
    runAt: n.runAt,
    dependsOn: n.dependsOn,
    attempts: 0,
    maxAttempts: n.maxAttempts,
    backoff: n.backoff,
    epoch: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    startedAt: null,
    createdAt: nowMs,
    updatedAt: nowMs,
    finishedAt: null,
    result: undefined,
    lastError: null,
  };
}

/** A record of zero per state. */
export function zeroCounts(): Record<JobState, number> {
  return { pending: 0, leased: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0 };
}

/** Validates claim options shared by every store; returns the aging period. */
export function checkClaim(options: {
  readonly limit: number;
  readonly leaseMs: number;
  readonly workerId: string;
  readonly agingMs?: number;
}): number {
  if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
    throw new InvalidOptionError(
      'limit',
      `claim(): limit must be an integer >= 1, got ${describe(options.limit)}.`,
    );
  }
  if (!(options.leaseMs > 0) || !Number.isFinite(options.leaseMs)) {
    throw new InvalidOptionError(
      'leaseMs',
      `claim(): leaseMs must be a finite number > 0, got ${describe(options.leaseMs)}.`,
    );
  }
  if (typeof options.workerId !== 'string' || options.workerId.length === 0) {
    throw new InvalidOptionError(
      'workerId',
      `claim(): workerId must be a non-empty string, got ${describe(options.workerId)}.`,
    );
  }
  const aging = options.agingMs ?? DEFAULT_AGING_MS;
  if (!(aging > 0)) {
    throw new InvalidOptionError(
      'agingMs',
      `claim(): agingMs must be a number > 0 or Infinity, got ${describe(aging)}.`,
    );
  }
  return aging;
}

/**
 * The most chunks one run may have (`ceil(total / chunkSize)`). Stores write
 * a chunk when a claim first leases it (not at `createRun`) and keep the done
 * ones, so a run's footprint grows with its progress: an unbounded count (say
 * `total: 1e12, chunkSize: 1`) would end in an exhausted heap or a chunks
 * table of 1e12 rows; pick a larger `chunkSize` instead.
 */
export const MAX_RUN_CHUNKS = 1_000_000;

/** The number of chunks of a run, at most {@link MAX_RUN_CHUNKS}. */
export function chunkCount(total: number, chunkSize: number): number {
  if (!Number.isSafeInteger(total) || total < 0) {
    throw new InvalidOptionError(
      'total',
      `createRun(): total must be an integer >= 0, got ${describe(total)}.`,
    );
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new InvalidOptionError(
      'chunkSize',
      `createRun(): chunkSize must be an integer >= 1, got ${describe(chunkSize)}.`,
    );
  }
  const chunks = Math.ceil(total / chunkSize);
  if (chunks > MAX_RUN_CHUNKS) {
    throw new InvalidOptionError(
      'chunkSize',
      `createRun(): a run has at most ${String(MAX_RUN_CHUNKS)} chunks (ceil(total / chunkSize)), got ${String(chunks)} for total ${String(total)} and chunkSize ${String(chunkSize)}; use chunkSize >= ${String(Math.ceil(total / MAX_RUN_CHUNKS))}.`,
    );
  }
  return chunks;
}

/**
 * Checks a job or run id handed to a store (`get`, `getRun`): ids are the
 * strings the store returned, and a number (`get(5)`) is refused in every
 * store alike rather than coerced by some and missed by others.
 */
export function checkId(method: string, id: unknown): string {
  if (typeof id !== 'string') {
    throw new TypeError(
      `${method}(): id must be a string (an id returned by the store), got ${describe(id)}.`,
    );
  }
  return id;
}

/** A {@link CreateRunSpec} with every default applied and validated. */
export interface NormalizedRun {
  readonly name: string;
  readonly input: unknown;
  /** `JSON.stringify(input)` (null for undefined). */
  readonly inputJson: string;
  readonly total: number;
  readonly chunkSize: number;
  /** `ceil(total / chunkSize)`. */
  readonly chunks: number;
  readonly idempotencyKey: string | null;
  readonly maxChunkAttempts: number;
}

/** Validates a run spec and applies the defaults. */
export function normalizeRun(spec: CreateRunSpec): NormalizedRun {
  const name: unknown = spec.name;
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0')) {
    throw new InvalidOptionError(
      'name',
      `createRun(): name must be a non-empty string without U+0000, got ${describe(name)}.`,
    );
  }
  const chunks = chunkCount(spec.total, spec.chunkSize);
  const key: unknown = spec.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.includes('\0'))) {
    throw new InvalidOptionError(
      'idempotencyKey',
      `createRun(): idempotencyKey must be a non-empty string without U+0000, got ${describe(key)}.`,
    );
  }
  const maxChunkAttempts = spec.maxChunkAttempts ?? DEFAULT_MAX_CHUNK_ATTEMPTS;
  if (!Number.isSafeInteger(maxChunkAttempts) || maxChunkAttempts < 1) {
    throw new InvalidOptionError(
      'maxChunkAttempts',
      `createRun(): maxChunkAttempts must be an integer >= 1, got ${describe(maxChunkAttempts)}.`,
    );
  }
  const inputJson = storableJson(spec.input, 'input', 'createRun(): ');
  return {
    name,
    input: JSON.parse(inputJson) as unknown,
    inputJson,
    total: spec.total,
    chunkSize: spec.chunkSize,
    chunks,
    idempotencyKey: key ?? null,
    maxChunkAttempts,
  };
}

/**
 * The idempotency fingerprint of a run: two `createRun` calls with one key
 * must agree on name, input, total and chunk size (`maxChunkAttempts` is a
 * policy, not part of the run's identity). Computed from the stored run, so
 * no store keeps a fingerprint column.
 */
export function runFingerprint(run: {
  readonly name: string;
  readonly input: unknown;
  readonly total: number;
  readonly chunkSize: number;
}): string {
  return fingerprintOf(run.name, { input: run.input, total: run.total, chunkSize: run.chunkSize });
}

function badOption(where: string, option: string, contract: string, value: unknown): never {
  throw new InvalidOptionError(
    option,
    `${where}: ${option} must be ${contract}, got ${echo(value)}.`,
  );
}

/**
 * Validates {@link ReplayOptions}; every store calls it first, so a missing
 * `since` or partition is the same `InvalidOptionError` everywhere (never
 * "replay everything" in one store and "nothing" in another).
 */
export function checkReplay(options: ReplayOptions): void {
  const where = 'replay()';
  if (typeof (options as unknown) !== 'object' || (options as unknown) === null) {
    badOption(where, 'options', 'an object', options);
  }
  const { partition, partitionKey, since, queue, dryRun } = options as Partial<ReplayOptions>;
  if ((partition === undefined) === (partitionKey === undefined)) {
    throw new InvalidOptionError(
      'partition',
      `${where}: pass exactly one of partition (a partition number) or partitionKey, got ${echo({ partition, partitionKey })}.`,
    );
  }
  if (
    partition !== undefined &&
    (!Number.isSafeInteger(partition) || partition < 0 || partition >= PARTITION_COUNT)
  ) {
    badOption(where, 'partition', `an integer in [0, ${String(PARTITION_COUNT)})`, partition);
  }
  if (partitionKey !== undefined && (typeof partitionKey !== 'string' || partitionKey === '')) {
    badOption(where, 'partitionKey', 'a non-empty string', partitionKey);
  }
  if (typeof since !== 'number' || !Number.isFinite(since)) {
    badOption(
      where,
      'since',
      'a finite number of epoch milliseconds (jobs enqueued at or after it are replayed)',
      since,
    );
  }
  if (queue !== undefined && (typeof queue !== 'string' || queue === '')) {
    badOption(where, 'queue', 'a non-empty string', queue);
  }
  if (dryRun !== undefined && typeof dryRun !== 'boolean') {
    badOption(where, 'dryRun', 'a boolean', dryRun);
  }
}

/**
 * Validates {@link PurgeOptions}; returns the states to purge. A missing
 * `finishedBefore` is an error in every store (never "purge everything").
 */
export function checkPurge(options: PurgeOptions): readonly JobState[] {
  const where = 'purge()';
  if (typeof (options as unknown) !== 'object' || (options as unknown) === null) {
    badOption(where, 'options', 'an object', options);
  }
  const { finishedBefore, states } = options as Partial<PurgeOptions>;
  if (typeof finishedBefore !== 'number' || !Number.isFinite(finishedBefore)) {
    badOption(
      where,
      'finishedBefore',
      'a finite number of epoch milliseconds (terminal jobs that finished before it are deleted)',
      finishedBefore,
    );
  }
  if (states === undefined) return TERMINAL_STATES;
  if (
    !Array.isArray(states) ||
    states.some((s) => !(TERMINAL_STATES as readonly unknown[]).includes(s))
  ) {
    badOption(
      where,
      'states',
      `an array of terminal states (${TERMINAL_STATES.join(', ')})`,
      states,
    );
  }
  return states as readonly JobState[];
}

/** The states a dependency ends in that cancel its dependents. */
export const DEPENDENCY_FAILED_STATES: readonly JobState[] = ['dead', 'cancelled'];

/**
 * The `lastError` of a job cancelled because its dependency `id` ended in
 * `state` (dead or cancelled): every store writes exactly this text.
 */
export function dependencyEndedError(id: string, state: JobState): string {
  return `dependency ${id} ${state}`;
}

/**
 * Stringifies an error for the attempt log: the stack when there is one.
 * U+0000 and lone surrogates become U+FFFD ({@link storableText}), so every
 * store can record the failure.
 */
export function errorText(error: unknown): string {
  return storableText(rawErrorText(error));
}

function rawErrorText(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  try {
    // JSON.stringify answers undefined for undefined, functions and symbols.
    const text = typeof error === 'string' ? error : (JSON.stringify(error) as string | undefined);
    return text ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The `onEnqueued` events for jobs that just became claimable: one per
 * queue, with the count and the earliest `runAt`, so a worker listening to
 * a bulk enqueue wakes once per queue instead of once per job. `runAtOf`
 * reads a row's `runAt` (stores hand in their own row shapes; PostgreSQL
 * returns bigints as strings).
 */
export function enqueuedEvents<R extends { readonly queue: string }>(
  rows: Iterable<R>,
  runAtOf: (row: R) => number | string,
): EnqueuedEvent[] {
  const byQueue = new Map<string, { count: number; runAt: number }>();
  for (const row of rows) {
    const runAt = Number(runAtOf(row));
    const e = byQueue.get(row.queue);
    if (e === undefined) byQueue.set(row.queue, { count: 1, runAt });
    else {
      e.count++;
      e.runAt = Math.min(e.runAt, runAt);
    }
  }
  return Array.from(byQueue, ([queue, e]) => ({ queue, count: e.count, runAt: e.runAt }));
}
