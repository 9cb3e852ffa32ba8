/**
 * The committer part of `Worker`: finished attempts waiting for a group
 * commit, and how a commit the store refuses is isolated (bisection) from a
 * store that is down.
 */
import { ClosedError, TimeoutError } from '../core/index.js';
import { UnstorableValueError } from './errors.js';
import { errorText } from './store-kit.js';
import type { CompleteInput, FailInput } from './store.js';
import { failureText, type Held } from './worker-run.js';

/** A finished attempt's success, waiting for (or in) a commit. */
export interface PendingCompletion {
  readonly held: Held;
  readonly input: CompleteInput;
  readonly durationMs: number;
}

/** A finished attempt's failure, waiting for (or in) a commit. */
export interface PendingFailure {
  readonly held: Held;
  readonly input: FailInput;
  readonly error: unknown;
  readonly durationMs: number;
  /** Its reason already replaced once after the store refused the first record. */
  readonly replaced?: boolean;
}

/** A store's error as a refused job's reason: its name, message and code, without the stack. */
export function storeErrorText(error: unknown): string {
  try {
    if (!(error instanceof Error)) return failureText(error);
    const code = (error as { code?: unknown }).code;
    const text = `${error.name}: ${error.message}${typeof code === 'string' ? ` (${code})` : ''}`;
    return errorText(text);
  } catch {
    return failureText(error);
  }
}

/** The failure of a job whose result the store refused on its own. */
export function refusedResult(c: PendingCompletion, storeError: unknown): PendingFailure {
  const error = new UnstorableValueError(
    `The job store refused to store the result of job ${c.input.id} while it stored the other results of the same commit, so the job cannot succeed: ${storeErrorText(storeError)}`,
    'result',
  );
  return {
    held: c.held,
    error,
    durationMs: c.durationMs,
    input: { id: c.input.id, epoch: c.input.epoch, error: failureText(error), dead: true },
  };
}

/** A failure whose record the store refused on its own, with a reason that names only that. */
export function refusedFailure(f: PendingFailure, storeError: unknown): PendingFailure {
  return {
    ...f,
    replaced: true,
    input: {
      ...f.input,
      error: `The job store refused to record this attempt's failure (the handler's error is not kept): ${storeErrorText(storeError)}`,
    },
  };
}

/**
 * Store errors that say the store (or the way to it) is failing, not one
 * item: connection errors, PostgreSQL's connection, resource, operator,
 * lock and serialisation classes and read-only transactions, SQLite's busy,
 * locked, I/O and full, and messages of dropped connections and timeouts
 * (the pg driver's have no code). Such an error never makes an item refused.
 */
const STORE_DOWN_CODE =
  /^(E(CONN|PIPE|TIMEDOUT|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH|ADDR)|08|53|57|58|40001|40P01|55P03|25006|SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|PROTOCOL|READONLY))/;
const STORE_DOWN_MESSAGE = /connect|terminated|timed? ?out|closed|ECONN|socket/i;

export function storeIsFailing(error: unknown): boolean {
  if (ClosedError.is(error) || TimeoutError.is(error)) return true;
  try {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    return (
      (typeof code === 'string' && STORE_DOWN_CODE.test(code)) ||
      (typeof message === 'string' && STORE_DOWN_MESSAGE.test(message))
    );
  } catch {
    return false;
  }
}

/** How a batch commit went: what is left to retry, what the store refused one by one. */
export interface Isolated<T> {
  /** Not committed because the store is failing as a whole: retry them later. */
  readonly left: T[];
  /** Items the store refused on their own while it accepted others. */
  readonly refused: { readonly item: T; readonly error: unknown }[];
  /** The last store error. */
  readonly error: unknown;
}

/**
 * Commits `items` with `commit` (one store call per part), isolating an item
 * the store refuses on its own: a failing part is split in halves, level by
 * level, until each failing item stands alone, and that item is tried once
 * more on its own.
 *
 * Telling "the store is down" from "this item is refused": an item is
 * refused only when it failed alone twice while another part of the same
 * batch was accepted (or, `storeIsUp`, another call of the same commit
 * was), with errors that do not say the store is failing
 * (`storeIsFailing`). A batch none of whose parts is accepted after two
 * splits (1 + 2 + 4 calls) is the store failing: nothing is marked, every
 * item not committed is left for the retry after `pollMs`, as before. The
 * cost of isolating k bad items among n is about 2k·log2(n) calls, paid
 * only when a commit fails.
 */
export async function isolated<T>(
  items: readonly T[],
  commit: (part: readonly T[]) => Promise<void>,
  storeIsUp = false,
): Promise<Isolated<T>> {
  if (items.length === 0) return { left: [], refused: [], error: undefined };
  const done = new Set<T>();
  const accepted = (): boolean => storeIsUp || done.size > 0;
  let lastError: unknown;
  const down = (): Isolated<T> => ({
    left: items.filter((item) => !done.has(item)),
    refused: [],
    error: lastError,
  });
  /** How committing `part` went; `'down'`: its error says the store is failing. */
  const tryCommit = async (part: readonly T[]): Promise<'ok' | 'failed' | 'down'> => {
    try {
      await commit(part);
      for (const item of part) done.add(item);
      return 'ok';
    } catch (error) {
      lastError = error;
      return storeIsFailing(error) ? 'down' : 'failed';
    }
  };
  const alone: T[] = [];
  let level: (readonly T[])[] = [items];
  while (level.length > 0) {
    const next: (readonly T[])[] = [];
    for (const part of level) {
      const outcome = await tryCommit(part);
      if (outcome === 'down') return down();
      if (outcome === 'ok') continue;
      if (part.length === 1) alone.push(part[0] as T);
      else {
        const half = Math.ceil(part.length / 2);
        next.push(part.slice(0, half), part.slice(half));
      }
    }
    if (!accepted() && (level.length >= 4 || next.length === 0)) return down();
    level = next;
  }
  const refused: { item: T; error: unknown }[] = [];
  for (const item of alone) {
    // Once more on its own: a passing fault must not settle a good result as refused.
    const outcome = await tryCommit([item]);
    if (outcome === 'down') return down();
    if (outcome === 'failed') refused.push({ item, error: lastError });
  }
  return { left: [], refused, error: lastError };
}
