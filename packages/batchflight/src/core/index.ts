/**
 * `batchflight/core`: the composition model (Handler, Layer, stack,
 * CallContext), time (Clock), errors, hooks and diagnostics channels that
 * every capability builds on. Imports no capability.
 */
export {
  type CallContext,
  type CallOptions,
  type Handler,
  type Layer,
  NEVER_ABORTED,
  toContext,
  executeOnce,
  stack,
  describe,
} from './handler.js';
export { type Clock, type Timer, type TimerOptions, systemClock, sleep } from './clock.js';
export {
  BatchflightError,
  type BatchflightErrorOptions,
  InvalidOptionError,
  TimeoutError,
  ClosedError,
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
} from './validate.js';
export { stableKey, argumentsKey } from './key.js';
export { type DeadlineEntry, DeadlineList } from './deadline-list.js';
