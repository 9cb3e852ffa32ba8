/**
 * Names that moved from `@batchflight/redis` to the core package, which holds
 * the store-agnostic engines beside their capability: this package supplies
 * the Redis stores only. They stay exported here as aliases (the very same
 * classes and values, so `instanceof` and `X.is()` hold across both imports)
 * so code written against earlier versions keeps working; import them from
 * the core instead.
 */
import {
  type CacheInvalidation as CoreCacheInvalidation,
  type InvalidationSource as CoreInvalidationSource,
  type TieredCacheStore as CoreTieredCacheStore,
  type TieredStoreOptions as CoreTieredStoreOptions,
  tieredStore as coreTieredStore,
} from 'batchflight/cache';
import {
  type Codec as CoreCodec,
  CodecError as CoreCodecError,
  RemoteError as CoreRemoteError,
  jsonCodec as coreJsonCodec,
} from 'batchflight';
import {
  type ErrorShape as CoreErrorShape,
  errorFromShape as coreErrorFromShape,
  errorShape as coreErrorShape,
} from 'batchflight/kit';
import {
  DistributedFlight as CoreDistributedFlight,
  type DistributedFlightOptions as CoreDistributedFlightOptions,
  type DistributedFlightStats as CoreDistributedFlightStats,
  type DistributedRole as CoreDistributedRole,
  type DistributedRunOptions as CoreDistributedRunOptions,
  type DistributedSettledEvent as CoreDistributedSettledEvent,
  distributedFlightChannels as coreDistributedFlightChannels,
} from 'batchflight/singleflight';

/** @deprecated Moved to the core package: `import { tieredStore } from 'batchflight/cache'`. */
export const tieredStore: typeof coreTieredStore = coreTieredStore;

/** @deprecated Moved to the core package: `import type { TieredStoreOptions } from 'batchflight/cache'`. */
export type TieredStoreOptions = CoreTieredStoreOptions;

/** @deprecated Moved to the core package: `import type { TieredCacheStore } from 'batchflight/cache'`. */
export type TieredCacheStore = CoreTieredCacheStore;

/** @deprecated Moved to the core package: `import type { InvalidationSource } from 'batchflight/cache'`. */
export type InvalidationSource = CoreInvalidationSource;

/** @deprecated Moved to the core package: `import type { CacheInvalidation } from 'batchflight/cache'`. */
export type CacheInvalidation = CoreCacheInvalidation;

/** @deprecated Moved to the core package: `import { DistributedFlight } from 'batchflight/singleflight'`. */
export const DistributedFlight: typeof CoreDistributedFlight = CoreDistributedFlight;
/** @deprecated Moved to the core package: `import { DistributedFlight } from 'batchflight/singleflight'`. */
export type DistributedFlight = CoreDistributedFlight;

/**
 * @deprecated Moved to the core package: `import { distributedFlightChannels } from 'batchflight/singleflight'`.
 * Its `settled` channel is now `batchflight:singleflight:distributed-settled`; the old name,
 * `batchflight:redis:flight-settled`, is published as well.
 */
export const distributedFlightChannels: typeof coreDistributedFlightChannels =
  coreDistributedFlightChannels;

/** @deprecated Moved to the core package: `import type { DistributedFlightOptions } from 'batchflight/singleflight'`. */
export type DistributedFlightOptions = CoreDistributedFlightOptions;

/** @deprecated Moved to the core package: `import type { DistributedRunOptions } from 'batchflight/singleflight'`. */
export type DistributedRunOptions = CoreDistributedRunOptions;

/** @deprecated Moved to the core package: `import type { DistributedRole } from 'batchflight/singleflight'`. */
export type DistributedRole = CoreDistributedRole;

/** @deprecated Moved to the core package: `import type { DistributedSettledEvent } from 'batchflight/singleflight'`. */
export type DistributedSettledEvent = CoreDistributedSettledEvent;

/** @deprecated Moved to the core package: `import type { DistributedFlightStats } from 'batchflight/singleflight'`. */
export type DistributedFlightStats = CoreDistributedFlightStats;

/** @deprecated Moved to the core package: `import type { Codec } from 'batchflight'`. */
export type Codec = CoreCodec;

/** @deprecated Moved to the core package: `import { jsonCodec } from 'batchflight'`. */
export const jsonCodec: CoreCodec = coreJsonCodec;

/** @deprecated Moved to the core package: `import type { ErrorShape } from 'batchflight/kit'`. */
export type ErrorShape = CoreErrorShape;

/** @deprecated Moved to the core package: `import { errorShape } from 'batchflight/kit'`. */
export const errorShape: typeof coreErrorShape = coreErrorShape;

/** @deprecated Moved to the core package: `import { errorFromShape } from 'batchflight/kit'`. */
export const errorFromShape: typeof coreErrorFromShape = coreErrorFromShape;

/** @deprecated Moved to the core package: `import { CodecError } from 'batchflight'`. */
export const CodecError: typeof CoreCodecError = CoreCodecError;
/** @deprecated Moved to the core package: `import { CodecError } from 'batchflight'`. */
export type CodecError = CoreCodecError;

/** @deprecated Moved to the core package: `import { RemoteError } from 'batchflight'`. */
export const RemoteError: typeof CoreRemoteError = CoreRemoteError;
/** @deprecated Moved to the core package: `import { RemoteError } from 'batchflight'`. */
export type RemoteError = CoreRemoteError;
