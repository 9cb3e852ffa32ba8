/**
 * Configuration files for batchflight packages: YAML or JSON, validated by a zod schema, with
 * errors that name the file, the line, the path inside the document, the value and the contract.
 *
 * @packageDocumentation
 */
export { ConfigError, echo, type ConfigProblem } from './errors.js';
export {
  formatPath,
  loadConfigFile,
  parseConfigText,
  validateConfig,
  type ConfigFormat,
  type ConfigSource,
} from './load.js';
export { z } from 'zod';
