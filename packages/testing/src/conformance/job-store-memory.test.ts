import { MemoryJobStore } from 'batchflight/jobs';
import { jobStoreConformance } from './job-store.js';

jobStoreConformance('memory', (clock, options) =>
  Promise.resolve(new MemoryJobStore({ clock, ...options })),
);
