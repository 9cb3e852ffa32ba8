/** `@batchflight/cli`: the demo runner, usable programmatically. */
export { runDemo, type DemoOptions } from './demo/run.js';
export type { DemoEnv, Scenario, ScenarioReport, ReportRow } from './demo/scenario.js';
