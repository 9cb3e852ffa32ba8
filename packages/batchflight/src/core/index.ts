/**
 * `batchflight/core`: the composition model (Handler, Layer, stack,
 * CallContext), time (Clock), errors, hooks, diagnostics channels and
 * backoff that every capability builds on. Imports no capability.
 */
export {
  type CallContext,
  type CallOptions,
  type Handler,
  type Layer,
  type AnyLayer,
  type StackAccepts,
  type StackedLayer,
  type StackInput,
  type StackOutput,
  type LayerInput,
  type LayerOutput,
  type LazySignalContext,
  NEVER_ABORTED,
  ABORT_REASON,
  toContext,
  executeOnce,
  stack,
  rejectWith,
  abortReasonOf,
  refuseIfAborted,
  describe,
} from './handler.js';
export { type Clock, type Timer, type TimerOptions, systemClock, sleep } from './clock.js';
export {
  BatchflightError,
  type BatchflightErrorOptions,
  InvalidOptionError,
  TimeoutError,
  ClosedError,
  isFailFast,
} from './errors.js';
export { type EventChannel, eventChannel } from './channels.js';
export { type Listener, Listeners, type Subscription } from './listeners.js';
export {
  integerOption,
  numberOption,
  oneOfOption,
  functionOption,
  booleanOption,
  signalOption,
  knownOptions,
  callOptions,
  closeOptions,
  nameOption,
  CALL_OPTIONS,
  type GracefulCloseOptions,
} from './validate.js';
export { stableKey, argumentsKey } from './key.js';
export { type DeadlineEntry, DeadlineList } from './deadline-list.js';
export { forceCloseWhen } from './close.js';
export {
  exponentialBackoff,
  constantBackoff,
  toBackoff,
  type Backoff,
  type Jitter,
  type ExponentialBackoffOptions,
} from './backoff.js';
