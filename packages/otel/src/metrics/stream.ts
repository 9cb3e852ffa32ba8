/**
 * Metrics of the stream sink (`batchflight/stream`): one record per `writeMany` (items,
 * bytes, wait and duration, committed or failed), the items given up, the callbacks that
 * threw and the items a forced close left unwritten.
 */
import type {
  StreamCallbackErrorEvent,
  StreamClosedEvent,
  StreamDeadLetterEvent,
  StreamWriteEvent,
} from 'batchflight';
import { ATTR } from '../catalog.js';
import type { ChannelHandlers } from '../channels.js';
import { base, seconds, type Recorder } from '../recorder.js';

/** Handlers of the stream channels (one event per write, not per item). */
export function streamHandlers(r: Recorder): ChannelHandlers {
  return {
    'batchflight:stream:write': (e: StreamWriteEvent) => {
      const attempt = e.attempt > 1 ? 'retry' : 'first';
      const attrs = r.attributes(
        `stream:write:${e.name}\u0000${e.outcome}\u0000${attempt}`,
        () => ({
          ...base(r, 'stream', e.name),
          [ATTR.outcome]: e.outcome,
          [ATTR.attempt]: attempt,
        }),
      );
      r.record('batchflight.stream.write.size', e.size, attrs);
      if (e.bytes > 0) r.record('batchflight.stream.write.bytes', e.bytes, attrs);
      r.record('batchflight.stream.write.duration', seconds(e.durationMs), attrs);
      r.record('batchflight.stream.wait.duration', seconds(e.waitMs), attrs);
      r.add('batchflight.stream.writes', 1, attrs);
      if (e.outcome === 'committed') {
        r.add('batchflight.stream.items.written', e.size, base(r, 'stream', e.name));
      }
    },
    'batchflight:stream:dead-letter': (e: StreamDeadLetterEvent) => {
      r.add('batchflight.stream.dead_letters', 1, {
        ...base(r, 'stream', e.name),
        [ATTR.errorType]: e.errorName,
      });
    },
    'batchflight:stream:callback-error': (e: StreamCallbackErrorEvent) => {
      r.add('batchflight.stream.callback_errors', 1, {
        ...base(r, 'stream', e.name),
        [ATTR.reason]: e.callback,
      });
    },
    'batchflight:stream:closed': (e: StreamClosedEvent) => {
      r.add('batchflight.stream.unwritten', e.unwritten, {
        ...base(r, 'stream', e.name),
        [ATTR.reason]: e.forced ? 'forced' : 'graceful',
      });
    },
  };
}
