/**
 * The internal entry of batch: what a façade over batch()'s engine drives
 * (its scheduler-backed `BatcherImpl`, the call protocol a façade plugs in,
 * the slots a call and its outcome live in, and `protocolConfig`, which
 * builds the engine configuration of a façade with a protocol of its own).
 *
 * Not public API and not in the package's exports: it exists so that the
 * façades of the core package, `dataloader/` (DataLoader) and `stream/` (the
 * batching sink), can be one engine with batch() instead of copies of it.
 * The import-graph check (`.dependency-cruiser.cjs`, rule
 * `internal-entry-declared-importers`) lets only them import this file; every
 * other capability, and every other file of batch/ beyond `index.ts`, is off
 * limits to other capabilities.
 */
export { BatcherImpl } from './engine.js';
export { protocolConfig, type BatchConfig } from './options.js';
export type { CallProtocol, EngineCore } from './routing.js';
export {
  DONE,
  FULFILLED,
  REJECTED,
  UNKNOWN,
  gatePromise,
  lastResolve,
  live,
  pushPromise,
  type Batch,
  type Call,
  type Settle,
  type Slot,
} from './slots.js';
