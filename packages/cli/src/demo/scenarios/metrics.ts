/**
 * The operability scenario of `npm run demo`: a running batcher is retuned through its
 * configuration file, without a restart, and a Prometheus scrape of the process shows its
 * bulk calls change size. A bad edit is refused and the last good configuration stays.
 *
 * Every figure is a count (bulk calls, keys, refused edits), read from the loader itself
 * and from the scraped metrics, never a time.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigRegistry, retunableBatch, watchConfigFile } from '@batchflight/config';
import { servePrometheus } from '@batchflight/otel/prometheus';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count } from '../table.js';

const KEYS = 200;

/** The value of the first sample of `metric` labelled `batchflight_name="users"`. */
function scraped(text: string, metric: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${metric}{`) && l.includes('batchflight_name="users"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A batcher retuned by editing its configuration file, watched by a Prometheus scrape. */
export const retuneScenario: Scenario = {
  id: 'retune',
  capability: 'operability',
  title: `a running batcher retuned by editing fleet.yaml; ${String(KEYS)} keys per round, scraped by Prometheus`,
  async run(env): Promise<ScenarioReport> {
    const file = join(env.workDir, 'fleet.yaml');
    const save = async (maxSize: number): Promise<void> => {
      // The way editors save: a new file renamed into place.
      await writeFile(
        `${file}.tmp`,
        `primitives:\n  users:\n    batch: { maxSize: ${String(maxSize)} }\n`,
      );
      await rename(`${file}.tmp`, file);
    };
    await save(50);

    const endpoint = await servePrometheus({ port: 0 });
    const registry = new ConfigRegistry();
    const calls: number[] = [];
    const users = retunableBatch({
      name: 'users',
      load: (ids: readonly number[]) => {
        calls.push(ids.length);
        return Promise.resolve(ids.map((id) => ({ id })));
      },
    });
    registry.register('users', users.tunable);
    let settled: (() => void) | undefined;
    const nextReload = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error('the configuration file change was not seen within 2 s'));
        }, 2_000);
        settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    let refused = 0;
    const watcher = watchConfigFile(file, registry, {
      debounceMs: 20,
      onApplied: () => settled?.(),
      onRefused: (error) => {
        refused++;
        env.log(
          `refused: ${error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error)}`,
        );
        settled?.();
      },
    });

    let lastScrape = '';
    const round = async (): Promise<{
      calls: number;
      scrapedCalls: number;
      scrapedKeys: number;
    }> => {
      calls.length = 0;
      await Promise.all(Array.from({ length: KEYS }, (_, i) => users.load(i)));
      const text = await (await fetch(endpoint.url)).text();
      lastScrape = text;
      return {
        calls: calls.length,
        scrapedCalls: scraped(text, 'batchflight_batch_size_count'),
        scrapedKeys: scraped(text, 'batchflight_batch_size_sum'),
      };
    };

    try {
      await watcher.reload();
      const before = await round();
      env.log(
        `maxSize 50: ${String(before.calls)} bulk calls; now editing fleet.yaml to maxSize 10`,
      );
      let seen = nextReload();
      await save(10);
      await seen;
      const after = await round();
      seen = nextReload();
      await writeFile(file, 'primitives:\n  users:\n    batch: { maxSize: 0 }\n');
      await seen;
      const afterBad = await round();
      env.log(`GET ${new URL(endpoint.url).pathname} (Prometheus text format), the users batcher:`);
      for (const line of lastScrape.split('\n')) {
        if (
          /^batchflight_(batch_size_(count|sum)|upstream_calls_saved_total)\{.*name="users"/.test(
            line,
          )
        ) {
          env.log(`  ${line.replace(/,?otel_scope_name="[^"]*"/, '')}`);
        }
      }

      const row = (
        label: string,
        pick: (r: typeof before) => number,
      ): [string, string, string, string] => [
        label,
        count(pick(before)),
        count(pick(after)),
        count(pick(afterBad)),
      ];
      return {
        columns: ['maxSize: 50', 'edited to 10', 'bad edit (0)'],
        rows: [
          row(`bulk calls for ${String(KEYS)} keys`, (r) => r.calls),
          [
            'keys per call',
            count(KEYS / before.calls),
            count(KEYS / after.calls),
            count(KEYS / afterBad.calls),
          ],
          row('scraped batchflight_batch_size_count', (r) => r.scrapedCalls),
          row('scraped batchflight_batch_size_sum', (r) => r.scrapedKeys),
          ['edits refused', '0', '0', count(refused)],
        ],
        claims: [
          {
            what: `bulk calls at maxSize 50 for ${String(KEYS)} keys`,
            actual: before.calls,
            atLeast: 4,
            atMost: 4,
          },
          {
            what: `bulk calls after the edit to maxSize 10`,
            actual: after.calls,
            atLeast: 20,
            atMost: 20,
          },
          {
            what: 'bulk calls after the refused edit (still 10 a call)',
            actual: afterBad.calls,
            atLeast: 20,
            atMost: 20,
          },
          { what: 'edits refused', actual: refused, atLeast: 1, atMost: 1 },
          {
            what: 'bulk calls the Prometheus scrape counted',
            actual: afterBad.scrapedCalls,
            atLeast: 44,
            atMost: 44,
          },
          {
            what: 'keys the Prometheus scrape counted',
            actual: afterBad.scrapedKeys,
            atLeast: 3 * KEYS,
            atMost: 3 * KEYS,
          },
        ],
        verdict:
          `the running batcher went from ${String(KEYS / before.calls)} to ${String(KEYS / after.calls)} keys a call ` +
          'when fleet.yaml changed, with no restart; the bad edit was refused and the scrape shows every call.',
      };
    } finally {
      watcher.close();
      await users.close();
      await endpoint.close();
    }
  },
};

export const metricsScenarios: readonly Scenario[] = [retuneScenario];
