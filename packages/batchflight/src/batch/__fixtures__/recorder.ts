/** Helpers shared by the batch tests. */
import { getEventListeners } from 'node:events';

/** Abort listeners currently on `signal`. */
export const abortListeners = (signal: AbortSignal): number =>
  getEventListeners(signal, 'abort').length;

/** A bulk function that records its calls and answers `v<key>`. */
export function recorder<K>(answer: (key: K) => unknown = (key) => `v${String(key)}`): {
  calls: K[][];
  load: (keys: K[]) => Promise<unknown[]>;
} {
  const calls: K[][] = [];
  return {
    calls,
    load: (keys) => {
      calls.push([...keys]);
      return Promise.resolve(keys.map(answer));
    },
  };
}
