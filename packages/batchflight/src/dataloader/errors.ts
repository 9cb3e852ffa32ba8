/**
 * DataLoader throws the `TypeError`s of the original package, with the same
 * messages, so code that matches on them keeps working; it defines no error
 * class of its own. Option errors of the opt-in fixes are the core
 * `InvalidOptionError`.
 */
export { InvalidOptionError } from '../core/index.js';
