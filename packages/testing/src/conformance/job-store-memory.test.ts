import { MemoryJobStore } from 'batchflight/jobs';
import { fullJobStoreConformance } from './index.js';

fullJobStoreConformance('memory', (clock, options) =>
  Promise.resolve(new MemoryJobStore({ clock, ...options })),
);
