import { releasedMigrationsConformance } from '@batchflight/testing/conformance';
import { MIGRATIONS } from './migrations.js';

/**
 * The SHA-256 of each released migration's text (`sql/migrations/NNNN.sql` as
 * compiled into `sql/generated.ts`, `{{schema}}.` unfilled). Add a line when a
 * migration ships; never change one.
 */
const RELEASED: Readonly<Record<number, string>> = {
  1: '5529c5b7bbd645778dbf1cb44a92d87db9e41b2d973ea8f9d0f496e5d35091d6',
  2: 'b3f6bdac7ea56183e36531a25e6ad5536018b7f3daa9246a4108a621288a0e27',
  3: 'c6f50e76240c8535e8dfce11a3c0d6877709ff6b10cead4c28fc338235ec52ee',
  4: 'd4de81ca4ed12b22a20f379e272db3826ae3280a401d84b20159ee87d8af70a2',
  5: 'c5897ad305847b6e5d92d276d3718226f99ce961ee700fc2f46263f4f09c17a4',
  6: 'd588e74c1de9355852312d99b95f45c8fba3c0693038cbf43ae2473624550e89',
};

releasedMigrationsConformance(
  'sqlite',
  MIGRATIONS,
  RELEASED,
  (version) => `packages/sqlite/src/sql/migrations/${String(version).padStart(4, '0')}.sql`,
);
