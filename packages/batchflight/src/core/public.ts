/**
 * The public face of `core/`: the composition model (Handler, Layer, stack,
 * CallContext), time (Clock), errors, hook types, diagnostics channels, keys
 * and backoff, as the root entry `batchflight` re-exports them. The helpers
 * the capabilities and the adapter packages build with are in `./kit.ts`.
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
} from './handler.js';
export { type Clock, type Timer, type TimerOptions, systemClock, sleep } from './clock.js';
export {
  BatchflightError,
  type BatchflightErrorOptions,
  InvalidOptionError,
  TimeoutError,
  ClosedError,
  CodecError,
  RemoteError,
  isFailFast,
} from './errors.js';
export { type Codec, jsonCodec } from './codec.js';
export { type EventChannel, eventChannel } from './channels.js';
export { type Listener, type Subscription } from './listeners.js';
export { type GracefulCloseOptions } from './validate.js';
export { stableKey, argumentsKey } from './key.js';
export {
  exponentialBackoff,
  constantBackoff,
  toBackoff,
  type Backoff,
  type Jitter,
  type ExponentialBackoffOptions,
} from './backoff.js';
