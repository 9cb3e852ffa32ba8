/**
 * Which failures of a sink's write are worth the same write again. The line
 * is drawn by what a retry can change: the connection (lost, refused, the
 * server restarting or full) and the transaction's luck (a serialization
 * failure, a deadlock, a lock or statement timeout) heal by themselves; the
 * data (a constraint, a type, a value out of range, a throw of `toRow`) and
 * the schema (a missing table or column) do not, and the stream sink splits
 * such a write in halves until the poisoned item is alone.
 */

/** SQLSTATE codes, and classes (two characters), that a retry can heal. */
const RETRYABLE_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '25P03', // idle_in_transaction_session_timeout
]);
const RETRYABLE_CLASSES = new Set([
  '08', // connection_exception
  '53', // insufficient_resources (too many connections, out of memory, disk full)
]);
/** Node's socket errors: the server is unreachable or the connection broke. */
const RETRYABLE_SYSCALL = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);
/** pg and pg-pool 8 report a lost connection and a pool or connect timeout by message only. */
const RETRYABLE_MESSAGE =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|timeout expired|Query read timeout|Client was closed and is not queryable/;

function codeOf(error: object): unknown {
  return (error as { code?: unknown }).code;
}

/**
 * Whether a failed write of a PostgreSQL sink may succeed when tried again
 * unchanged: a lost or refused connection, a server shutting down or out of
 * connections, a serialization failure, a deadlock, a lock or statement
 * timeout. A constraint violation, a bad value, a missing table or a throw
 * of `toRow` is not (the sink isolates the item instead). Follows `cause`
 * (an error wrapped by the caller keeps its class).
 *
 * @example
 * ```ts
 * stream({ writeMany, isRetryable: isPostgresRetryable, retry: { maxAttempts: Infinity } });
 * ```
 */
export function isPostgresRetryable(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const code = codeOf(e);
    if (typeof code === 'string') {
      if (RETRYABLE_SYSCALL.has(code)) return true;
      // A server error carries a five-character SQLSTATE and a severity (EPIPE is five
      // characters too); its verdict is final.
      if ('severity' in e && /^[0-9A-Z]{5}$/.test(code)) {
        return RETRYABLE_STATES.has(code) || RETRYABLE_CLASSES.has(code.slice(0, 2));
      }
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && RETRYABLE_MESSAGE.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
