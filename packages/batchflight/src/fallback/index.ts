/** `batchflight/fallback`: a substitute answer when a call fails. */
export {
  fallback,
  FallbackPolicy,
  fallbackChannels,
  type FallbackOptions,
  type FallbackEvent,
  type FallbackStats,
} from './fallback.js';
