/**
 * Fleet distribution across real processes, against real Redis and real PostgreSQL: each
 * test process (a child of this one) follows the store's revisions with a `users` batcher
 * and reports what it applied and the batch sizes it then makes. A revision is applied by
 * all, a bad one refused by all, a rollback restores, `processes()` lists every process
 * (stale after 3 heartbeats on the reader's injected clock), and a process cut off from the
 * store keeps its last good revision, says so, and catches up when the store is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bundleWorkerScript, TestClock } from '@batchflight/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The test support of the other packages: the server probes (CI=true fails without one),
// unique names, and a TCP proxy that can cut every connection through it.
import { startProxy } from '../../amqp/src/__fixtures__/proxy.js';
import {
  dropSchema,
  PG_URL,
  pgUnavailable,
  schemaName,
} from '../../postgres/src/__fixtures__/pg.js';
import {
  dropPrefix,
  REDIS_URL,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { ConfigError, type ConfigChannel } from './index.js';
import { PostgresConfigChannel } from './postgres.js';
import { RedisConfigChannel } from './redis.js';

interface Line {
  readonly event: 'ready' | 'applied' | 'refused' | 'unreachable' | 'reachable' | 'health';
  readonly revision?: number;
  readonly sizes?: number[];
  readonly error?: string;
  readonly health?: { revision: number; refused?: number; reachable: boolean; error?: string };
}

/** One child process of the fleet and the lines it printed. */
class FleetProcess {
  readonly lines: Line[] = [];
  readonly #child: ChildProcess;
  readonly #waiting = new Set<() => void>();
  stderr = '';

  constructor(
    script: string,
    url: string,
    namespace: string,
    readonly id: string,
  ) {
    this.#child = spawn(process.execPath, [script, url, namespace, id], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.#child.on('exit', () => {
      for (const wake of this.#waiting) wake();
    });
    if (this.#child.stdout === null) throw new Error('no stdout');
    createInterface({ input: this.#child.stdout }).on('line', (text) => {
      this.lines.push(JSON.parse(text) as Line);
      for (const wake of this.#waiting) wake();
    });
  }

  /** The first line from index `from` on that `match` accepts (waits for it). */
  next(match: (line: Line) => boolean, from = 0): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.slice(from).find(match);
        if (found !== undefined) {
          this.#waiting.delete(check);
          resolve(found);
        } else if (this.#child.exitCode !== null) {
          reject(new Error(`${this.id} exited ${String(this.#child.exitCode)}: ${this.stderr}`));
        }
      };
      this.#waiting.add(check);
      check();
    });
  }

  /** The process's own health(), asked on stdin. */
  async health(): Promise<NonNullable<Line['health']>> {
    const from = this.lines.length;
    this.#child.stdin?.write('health\n');
    return (
      (await this.next((l) => l.event === 'health', from)).health ?? {
        revision: -1,
        reachable: false,
      }
    );
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#child.exitCode !== null) {
        resolve();
        return;
      }
      this.#child.once('exit', () => {
        resolve();
      });
      this.#child.stdin?.end();
    });
  }
}

const redisSkip = await redisUnavailable();
const pgSkip = (await pgUnavailable()) ?? null;
let script = '';
beforeAll(async () => {
  // One bundled file: a child is up in a fraction of a second, not after a TypeScript load.
  script = await bundleWorkerScript(
    fileURLToPath(new URL('./__fixtures__/fleet-process.ts', import.meta.url)),
    ['ioredis', 'pg', 'yaml', 'zod'],
  );
});

interface Store {
  readonly name: string;
  readonly skip: string | null;
  /** The store's URL, its namespace, and a channel on it with `clock`. */
  open(clock: TestClock): Promise<{
    url: string;
    namespace: string;
    channel: ConfigChannel;
    cleanup(): Promise<void>;
    writeUnvalidated(text: string): Promise<number>;
  }>;
}

const stores: Store[] = [
  {
    name: 'Redis',
    skip: redisSkip,
    open: async (clock) => {
      const namespace = uniquePrefix('config-processes').slice(0, -1);
      const redis = new Redis(REDIS_URL);
      return {
        url: REDIS_URL,
        namespace,
        channel: new RedisConfigChannel({ redis, prefix: namespace, clock }),
        // A publisher that does not validate (an old tool, a hand edit).
        writeUnvalidated: async (text) => {
          const n = await redis.incr(`${namespace}:revision`);
          await redis.hset(
            `${namespace}:revisions`,
            String(n),
            JSON.stringify({ text, author: 'old tool', at: 0, diff: [] }),
          );
          await redis.publish(`${namespace}:published`, String(n));
          return n;
        },
        cleanup: async () => {
          await dropPrefix(redis, namespace);
          redis.disconnect();
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    open: async (clock) => {
      const namespace = schemaName('config');
      const channel = new PostgresConfigChannel({
        connectionString: PG_URL,
        schema: namespace,
        clock,
      });
      return {
        url: PG_URL,
        namespace,
        channel,
        writeUnvalidated: async (text) => {
          await channel.latest(); // the tables exist
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          try {
            const { rows } = await client.query<{ revision: number }>(
              `INSERT INTO "${namespace}".revisions SELECT coalesce(max(revision), 0) + 1, $1::jsonb FROM "${namespace}".revisions RETURNING revision`,
              [JSON.stringify({ text, author: 'old tool', at: 0, diff: [] })],
            );
            const n = rows[0]?.revision ?? 0;
            await client.query('SELECT pg_notify($1, $2)', [
              `batchflight_config.${namespace}`,
              String(n),
            ]);
            return n;
          } finally {
            await client.end();
          }
        },
        cleanup: async () => {
          await channel.close();
          await dropSchema(namespace);
        },
      };
    },
  },
];

const yaml = (maxSize: number | string): string =>
  `primitives:\n  users:\n    batch: { maxSize: ${String(maxSize)} }\n`;

describe.each(stores)('fleet distribution over $name, several processes', (store) => {
  const clock = new TestClock(Date.now());
  let opened: Awaited<ReturnType<Store['open']>>;
  const fleet: FleetProcess[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>>;

  beforeAll(async () => {
    if (store.skip !== null) return;
    opened = await store.open(clock);
    proxy = await startProxy(opened.url);
  });
  afterAll(async () => {
    if (store.skip !== null) return;
    await Promise.all(fleet.map((p) => p.stop()));
    await proxy.close();
    await opened.cleanup();
  });

  it.skipIf(store.skip !== null)(
    'applies a revision in every process, refuses a bad one in every process, rolls back, lists them, and survives an outage',
    async () => {
      const { channel } = opened;
      const first = await channel.publish(yaml(5), { author: 'ops', source: 'fleet.yaml' });
      expect(first).toBe(1);

      // a and b talk to the store directly, c through the proxy the test will cut.
      fleet.push(
        new FleetProcess(script, opened.url, opened.namespace, 'a'),
        new FleetProcess(script, opened.url, opened.namespace, 'b'),
        new FleetProcess(script, proxy.url, opened.namespace, 'c'),
      );
      // A process that starts applies the current revision.
      for (const p of fleet) {
        expect(await p.next((l) => l.event === 'applied' && l.revision === first)).toMatchObject({
          sizes: [5, 5],
        });
      }

      // A new revision reaches every process.
      const second = await channel.publish(yaml(2), { author: 'ops', source: 'fleet.yaml' });
      for (const p of fleet) {
        expect(await p.next((l) => l.revision === second)).toMatchObject({
          event: 'applied',
          sizes: [2, 2, 2, 2, 2],
        });
      }

      // Invalid at publish: refused there, naming the file, the path, the value, the contract.
      const refusal = await channel
        .publish(yaml(0), { author: 'ops', source: 'fleet.yaml' })
        .catch((error: unknown) => error);
      expect(ConfigError.is(refusal)).toBe(true);
      expect(String(refusal)).toContain(
        'fleet.yaml:3:23 primitives.users.batch.maxSize: got 0; expected an integer >= 1',
      );
      expect(await channel.latest()).toBe(second);

      // Written by a publisher that did not validate: refused by every process, which keeps
      // the revision it runs.
      const bad = await opened.writeUnvalidated(yaml(-3));
      for (const p of fleet) {
        const line = await p.next((l) => l.revision === bad);
        expect(line).toMatchObject({ event: 'refused', sizes: [2, 2, 2, 2, 2] });
        expect(line.error).toContain(
          'primitives.users.batch.maxSize: got -3; expected an integer >= 1',
        );
      }

      // A rollback is a new revision with the old text.
      const restored = await channel.rollback(first, { author: 'ops' });
      for (const p of fleet) {
        expect(await p.next((l) => l.revision === restored)).toMatchObject({
          event: 'applied',
          sizes: [5, 5],
        });
      }
      const history = await channel.history();
      expect(history.map((r) => [r.revision, r.author, r.rollbackOf])).toEqual([
        [1, 'ops', undefined],
        [2, 'ops', undefined],
        [3, 'old tool', undefined],
        [4, 'ops', 1],
      ]);
      expect(history[1]?.diff).toEqual([
        { path: 'primitives.users.batch.maxSize', from: 5, to: 2 },
      ]);

      // Every live process is listed with the revision it runs; their reports are fresh on
      // the reader's clock (which has not moved since the test began).
      const until = async (what: () => Promise<boolean>): Promise<void> => {
        while (!(await what())) await new Promise((resolve) => setTimeout(resolve, 20));
      };
      await until(async () =>
        (await channel.processes()).every(
          (p) => p.revision === restored && p.refused === undefined,
        ),
      );
      const listed = await channel.processes();
      expect(listed.map((p) => [p.processId, p.revision, p.stale])).toEqual([
        ['a', restored, false],
        ['b', restored, false],
        ['c', restored, false],
      ]);
      expect(listed[0]).toMatchObject({ heartbeatMs: 500, pid: expect.any(Number) as unknown });
      // The processes keep beating on their own clocks; a reader a minute ahead of them sees
      // every report older than 3 periods.
      await clock.setTime(Date.now() + 60_000);
      expect((await channel.processes()).map((p) => p.stale)).toEqual([true, true, true]);

      // c loses the store: it says so, and keeps its revision while a and b move on.
      const mark = fleet[2]?.lines.length ?? 0;
      proxy.cut({ refuse: true });
      const c = fleet[2] as FleetProcess;
      expect(await c.next((l) => l.event === 'unreachable', mark)).toMatchObject({
        revision: restored,
      });
      const during = await channel.publish(yaml(3), { author: 'ops' });
      for (const p of fleet.slice(0, 2)) {
        expect(await p.next((l) => l.revision === during)).toMatchObject({ sizes: [3, 3, 3, 1] });
      }
      const health = await c.health();
      expect(health).toMatchObject({ revision: restored, reachable: false });
      expect(health.error).toContain('unreachable, running revision 4');
      expect(c.lines.some((l) => l.revision === during)).toBe(false);

      // The store is back: c says so and applies what it missed.
      proxy.accept();
      expect(await c.next((l) => l.event === 'reachable', mark)).toBeDefined();
      expect(await c.next((l) => l.revision === during, mark)).toMatchObject({
        event: 'applied',
        sizes: [3, 3, 3, 1],
      });
      expect(await c.health()).toMatchObject({ revision: during, reachable: true });
    },
  );
});
