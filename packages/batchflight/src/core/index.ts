/**
 * `batchflight/core`: the composition model (Handler, Layer, stack,
 * CallContext), time (Clock), errors, hooks, diagnostics channels and
 * backoff that every capability builds on. Imports no capability.
 *
 * This is the barrel the capabilities import from: the public face
 * (`./public.ts`, published as `batchflight/core` and re-exported by the
 * root) and the helpers they build with (`./kit.ts`, published as part of
 * `batchflight/kit`).
 */
export * from './public.js';
export * from './kit.js';
