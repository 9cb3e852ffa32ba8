/**
 * The diagnostics channels of every stream sink (`batchflight:stream:<event>`),
 * published only when someone subscribes.
 */
import { eventChannel } from '../core/index.js';
import type {
  StreamCallbackErrorEvent,
  StreamClosedEvent,
  StreamDeadLetterEvent,
  StreamWriteEvent,
} from './types.js';

/**
 * The diagnostics channels of every stream sink: `write` (a settled call of
 * `writeMany`), `dead-letter` (an item given up), `closed` (a close finished)
 * and `callback-error` (a user callback threw; the sink went on).
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(streamChannels.write.name, (event) => console.log(event));
 * ```
 */
export const streamChannels = {
  write: eventChannel<StreamWriteEvent>('stream', 'write'),
  deadLetter: eventChannel<StreamDeadLetterEvent>('stream', 'dead-letter'),
  closed: eventChannel<StreamClosedEvent>('stream', 'closed'),
  callbackError: eventChannel<StreamCallbackErrorEvent>('stream', 'callback-error'),
};
