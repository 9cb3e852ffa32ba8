/**
 * @packageDocumentation
 * amqp source for batchflight/stream (being built).
 */
export {};
