/**
 * @packageDocumentation
 * nats source for batchflight/stream (being built).
 */
export {};
