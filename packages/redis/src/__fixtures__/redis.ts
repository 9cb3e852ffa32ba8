/**
 * Test support: a real Redis at BATCHFLIGHT_REDIS_URL (default
 * redis://127.0.0.1:6379), a unique key prefix per test file, cleanup.
 * With CI=true a missing server fails the run; otherwise the suites skip
 * with a visible reason.
 */
import { randomBytes } from 'node:crypto';
import { type Cluster, Redis } from 'ioredis';

export const REDIS_URL = process.env.BATCHFLIGHT_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Resolves to null when Redis answers PING, else to the reason it is skipped. */
export async function redisUnavailable(): Promise<string | null> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (error) {
    const reason = `Redis at ${REDIS_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(
      `SKIPPED: ${reason}. Start Redis or set BATCHFLIGHT_REDIS_URL to run these tests.`,
    );
    return reason;
  } finally {
    probe.disconnect();
  }
}

/** A fresh client on the test server. */
export function connect(name?: string): Redis {
  return new Redis(REDIS_URL, {
    maxRetriesPerRequest: 3,
    ...(name === undefined ? {} : { connectionName: name }),
  });
}

/** A key prefix no other test uses. */
export function uniquePrefix(label: string): string {
  return `bftest:${label}:${randomBytes(4).toString('hex')}:`;
}

/**
 * The connections to scan for keys: the client itself, or on a Cluster
 * every master (keys of different hash slots live on different masters).
 */
function scanned(client: Redis | Cluster): Redis[] {
  return client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
}

/** Calls `each` with every page of keys starting with `prefix` (SCAN on every node). */
async function scanPrefix(
  client: Redis | Cluster,
  prefix: string,
  each: (node: Redis, keys: string[]) => Promise<unknown>,
): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  for (const node of scanned(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await each(node, keys);
    } while (cursor !== '0');
  }
}

/** Deletes every key starting with `prefix` (SCAN + UNLINK, on every master of a Cluster). */
export async function dropPrefix(client: Redis | Cluster, prefix: string): Promise<void> {
  await scanPrefix(client, prefix, (node, keys) =>
    // One key per UNLINK: the keys of one page may belong to several hash slots.
    Promise.all(keys.map((key) => node.unlink(key))),
  );
}

/** How many keys start with `prefix` (on every master of a Cluster). */
export async function countPrefix(client: Redis | Cluster, prefix: string): Promise<number> {
  let n = 0;
  await scanPrefix(client, prefix, (_node, keys) => {
    n += keys.length;
    return Promise.resolve();
  });
  return n;
}
