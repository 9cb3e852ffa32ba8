/**
 * Backoff moved to core (`batchflight/core`), where batch, jobs and retry
 * share it; this module re-exports it so existing imports keep working.
 */
export * from '../core/backoff.js';
