/**
 * `batchflight/stream`: a batching sink for streams. Items from an async
 * iterable or `push()` are written in batches (a static window of count,
 * bytes and linger, or `batch()`'s adaptive window), acknowledged only after
 * their write committed, with bounded buffering, per-key ordering, poison
 * isolation by bisection, a dead letter and a graceful drain on close.
 */
export { stream } from './sink.js';
export { streamChannels } from './channels.js';
export type {
  StreamOptions,
  StreamRetryOptions,
  StreamWriteContext,
  StreamDeadLetter,
  StreamPushOptions,
  StreamConsumeOptions,
  StreamCloseReport,
  StreamStats,
  StreamSink,
  StreamWriteEvent,
  StreamDeadLetterEvent,
  StreamClosedEvent,
  StreamCallbackErrorEvent,
} from './types.js';
