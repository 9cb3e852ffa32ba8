/**
 * Configuration files for batchflight packages: YAML or JSON, validated by a zod schema, with
 * errors that name the file, the line, the path inside the document, the value and the contract;
 * and the fleet configuration that retunes running primitives by name, with numbered revisions
 * distributed to a fleet (the stores are the `@batchflight/config/redis` and
 * `@batchflight/config/postgres` subpaths; `openConfigChannel(url)` opens either).
 *
 * @packageDocumentation
 */
export { ConfigError, echo, type ConfigProblem } from './errors.js';
export {
  formatPath,
  loadConfigFile,
  parseConfigText,
  validateConfig,
  type ConfigFormat,
  type ConfigSource,
} from './load.js';
export {
  batchSettingsSchema,
  bulkheadSettingsSchema,
  cacheSettingsSchema,
  capabilityOf,
  capabilitySchemas,
  circuitBreakerSettingsSchema,
  fleetConfigSchema,
  hedgeSettingsSchema,
  primitiveEntrySchema,
  rateLimitSettingsSchema,
  retrySettingsSchema,
  timeoutSettingsSchema,
  workerSettingsSchema,
  type Capability,
  type FleetConfig,
  type PrimitiveEntry,
  type SettingsOf,
} from './fleet-schema.js';
export {
  ConfigRegistry,
  type AppliedChange,
  type ApplyReport,
  type PreparedChange,
  type Tunable,
} from './registry.js';
export {
  breakerTunable,
  bulkheadTunable,
  cacheTunable,
  hedgeTunable,
  rateLimitTunable,
  retryTunable,
  retunableBatch,
  timeoutTunable,
  type Configurable,
  type RetunableBatch,
} from './tunables.js';
export { diffConfigs, type ConfigChange } from './diff.js';
export { watchConfigFile, type ConfigWatcher, type WatchConfigOptions } from './watch.js';
export {
  ConfigChannel,
  defaultAuthor,
  STALE_HEARTBEATS,
  type ConfigChannelOptions,
  type ConfigRevision,
  type FleetStore,
  type FleetSubscription,
  type FollowerStatus,
  type ProcessStatus,
  type PublishOptions,
  type RevisionRecord,
} from './revisions.js';
export {
  configChannels,
  type ConfigFollower,
  type ConfigRevisionEvent,
  type FollowerHealth,
  type FollowOptions,
} from './follower.js';
export {
  openConfigChannel,
  STORE_SCHEMES,
  type OpenConfigChannelOptions,
  type OpenedConfigChannel,
} from './open.js';
export { z } from 'zod';
