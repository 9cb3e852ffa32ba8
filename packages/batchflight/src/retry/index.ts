/**
 * `batchflight/retry`: retries with exponential backoff and jitter, a shared
 * retry budget, `Retry-After` honoured and abortable sleeps.
 */
export {
  retry,
  RetryPolicy,
  retryChannels,
  defaultIsRetryable,
  type RetryOptions,
  type RetryEvent,
  type GiveUpEvent,
  type GiveUpReason,
  type RetryStats,
  type RetryContext,
  type RetrySettings,
  type RetryConfiguredEvent,
} from './retry.js';
export {
  retryBudget,
  RetryBudget,
  type RetryBudgetOptions,
  type RetryBudgetStats,
} from './budget.js';
export * from './backoff.js';
export { retryAfterFromError, parseRetryAfter, isAbortError } from './errors.js';
