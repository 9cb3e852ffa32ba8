// The in-process FlightStore of the core runs the conformance suite the Redis store runs.
import { MemoryFlightStore } from 'batchflight/singleflight';
import { TestClock } from '../test-clock.js';
import { flightStoreConformance } from './flight-store.js';

flightStoreConformance(
  'MemoryFlightStore',
  () => {
    const clock = new TestClock();
    const store = new MemoryFlightStore({ clock });
    return Promise.resolve({
      store,
      // One process: every flight of it shares the one store, so the peer is the store itself.
      peer: store,
      // The suite's leases are 30 s: a day later every one of them has expired, as if its holder died.
      expireLease: () => clock.advance(86_400_000),
      advance: (ms: number) => clock.advance(ms),
      cleanup: () => {
        store.close();
        return Promise.resolve();
      },
    });
  },
  { drivesClock: true },
);
