/**
 * Test support: a throwaway Redis Cluster of its own, started from the
 * `redis-server` binary (masters only, no persistence, config files in a
 * temporary directory) and formed with `redis-cli --cluster create`.
 * With CI=true missing binaries fail the run; otherwise the suite skips
 * with a visible reason, as the single-server suites do.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const HOST = '127.0.0.1';
const run = promisify(execFile);

/** Resolves to null when `redis-server` and `redis-cli` can be run, else to the reason the suite is skipped. */
export function clusterUnavailable(): string | null {
  const missing = ['redis-server', 'redis-cli'].filter(
    (binary) => spawnSync(binary, ['--version'], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length === 0) return null;
  const reason = `${missing.join(' and ')} not found on PATH (the Redis Cluster tests start their own cluster)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
  console.warn(`SKIPPED: ${reason}. Install Redis >= 7 to run these tests.`);
  return reason;
}

/** A running cluster: its masters' addresses and how to stop it. */
export interface TestCluster {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** A new ioredis `Cluster` client on it. */
  connect(): Cluster;
  /** Kills the servers and removes their files. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `masters` servers in cluster mode and forms a cluster of them (16384 slots split evenly). */
export async function startCluster(masters = 3): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bf-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            child.once('exit', () => {
              resolve();
            });
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freeClusterPort(ports);
      ports.push(port);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          HOST,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${String(port)}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
    }
    await Promise.all(ports.map((port) => untilAnswers(port)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `${HOST}:${String(port)}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await Promise.all(ports.map((port) => untilClusterOk(port)));
  } catch (error) {
    await stop();
    throw error;
  }
  const nodes = ports.map((port) => ({ host: HOST, port }));
  return {
    nodes,
    connect: () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 3 } }),
    stop,
  };
}

/** A port free on HOST whose cluster-bus port (port + 10000) is free too, not in `taken`. */
async function freeClusterPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if (taken.includes(port)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, HOST, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** Polls `check` against the node at `port` until it holds (the server is starting). */
async function untilNode(port: number, check: (node: Redis) => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const node = new Redis(port, HOST, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    node.on('error', () => undefined);
    try {
      await node.connect();
      if (await check(node)) return;
    } catch {
      // not up yet
    } finally {
      node.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the Redis node on port ${String(port)} never became ready`);
}

function untilAnswers(port: number): Promise<void> {
  return untilNode(port, async (node) => {
    await node.ping();
    return true;
  });
}

function untilClusterOk(port: number): Promise<void> {
  return untilNode(port, async (node) => (await node.cluster('INFO')).includes('cluster_state:ok'));
}
