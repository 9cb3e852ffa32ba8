/**
 * `SingleFlight#layer()`: single flight as a {@link Layer} over a
 * {@link Handler}, keyed by the input.
 */
import {
  type CallContext,
  type Handler,
  type Layer,
  functionOption,
  knownOptions,
  stableKey,
} from '../core/index.js';
import { type SingleFlightLayerOptions, keyError, rejectWith } from './options.js';

/** Runs `next(input, ctx)` in the group's flight of `key`. */
export type RunHandler<I, O> = (
  key: string,
  next: Handler<I, O>,
  input: I,
  ctx: CallContext,
) => Promise<O>;

/** The layer of `SingleFlight#layer(options)`; `run` enters the group. */
export function flightLayer<I, O>(
  options: SingleFlightLayerOptions<I>,
  run: RunHandler<I, O>,
): Layer<I, O> {
  const where = 'SingleFlight#layer()';
  knownOptions(where, options, ['key']);
  const keyOf =
    options.key === undefined
      ? (input: I) => stableKey(input, 'input')
      : functionOption<(input: I) => string>(where, 'key', options.key);
  return {
    wrap: (next: Handler<I, O>): Handler<I, O> => {
      functionOption(`${where}.wrap()`, 'next', next);
      return (input: I, ctx: CallContext): Promise<O> => {
        let key: string;
        try {
          key = keyOf(input);
        } catch (error) {
          return rejectWith(error);
        }
        if (typeof key !== 'string') {
          return Promise.reject(keyError(where, key, "the key function's result"));
        }
        return run(key, next, input, ctx);
      };
    },
  };
}
