/**
 * The helpers of `core/` that the capabilities and the adapter packages build
 * with: option validation (messages that echo the value and state the
 * contract), `describe` for those messages, a deadline list, forced close at
 * a deadline, listener sets and the error shape that carries an error
 * between processes. Published as part of `batchflight/kit`, not
 * in the root entry.
 */
export {
  integerOption,
  numberOption,
  oneOfOption,
  functionOption,
  booleanOption,
  signalOption,
  knownOptions,
  callOptions,
  closeOptions,
  nameOption,
  CALL_OPTIONS,
} from './validate.js';
export { describe } from './describe.js';
export { type DeadlineEntry, DeadlineList } from './deadline-list.js';
export { forceCloseWhen } from './close.js';
export { Listeners } from './listeners.js';
export { type ErrorShape, errorShape, errorFromShape } from './codec.js';
