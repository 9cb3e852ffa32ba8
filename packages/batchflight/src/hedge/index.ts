/** `batchflight/hedge`: a second attempt when the first is slow; the first answer wins. */
export {
  hedge,
  HedgePolicy,
  hedgeChannels,
  type HedgeOptions,
  type HedgeEvent,
  type HedgeStats,
  type HedgeSettings,
  type HedgeConfiguredEvent,
} from './hedge.js';
export { HedgeCancelledError } from './errors.js';
