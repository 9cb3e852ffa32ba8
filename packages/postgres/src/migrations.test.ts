import { releasedMigrationsConformance } from '@batchflight/testing/conformance';
import { MIGRATIONS } from './migrations.js';

/**
 * The SHA-256 of each released migration's SQL text (`sql/migrations/NNNN.sql`
 * as compiled into `sql/generated.ts`, `{{schema}}` unfilled). A schema that ran
 * a migration never runs it again, so an edited migration would leave the
 * databases already on it with another schema than fresh ones: add a line when
 * a migration ships, never change one.
 */
const RELEASED: Readonly<Record<number, string>> = {
  1: '368e5b94e963fa3a8331f7817a7d655ac436afb26f3e44b0daf16c4820dee8a1',
  2: '798c8a86f1c45ebcbcf38ad02a9961674e553e23be7b178e635750f7117b8984',
  3: 'c4a2405e16bb7aaa9521245633ba68177c3f0924206907728a7316b58735c879',
  4: 'c4426b86450f2ec8a86abf4f77253b58ab261cd7d3fcec0940707ad46eaff899',
  5: '50e798606c8930e708816d7bb2ee4dcc79adb6dadf4a91a0582175b73c310913',
  6: '5f9ea404d48fff11a39cb2846fb875c45eff2d3b4b2fbeb1afa1b734eeae7883',
  7: '1027c2aa9534b5d58e1effab7462965738a1fc88d13e4d29c8eb6cffd8cecf75',
  8: '1e6f12df52531b932b830b6b3c2d09683ba6529ca6897b2fb9d4e98c1b335678',
  9: 'e4dd7a14d341752d53b02b23e951583b5aca67247ef73750bd3659e3398d8895',
};

releasedMigrationsConformance(
  'postgres',
  MIGRATIONS,
  RELEASED,
  (v) => `packages/postgres/src/sql/migrations/${String(v).padStart(4, '0')}.sql`,
);
