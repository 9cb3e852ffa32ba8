/**
 * The gateway side by side with its peers, in one run, all on loopback: the upstream and the
 * load generator (undici, autocannon-like) run in processes of their own, the gateway in this
 * one, nginx (Debian's package, when installed) in its own with a generated config.
 *
 * 1. Hot keys: 200 connections over 50 hot URLs, upstream 50 ms: straight, gateway
 *    (`coalesce`; and `coalesce` + `cache` 1 s), `@fastify/http-proxy` (no coalescing), nginx
 *    (`proxy_cache` 1 s + `proxy_cache_lock`). Upstream calls per 1,000 client requests,
 *    requests/s, client p50/p99.
 * 2. The same with an upstream that takes 6 s: past nginx's `proxy_cache_lock_timeout` (5 s).
 * 3. Pass-through on a fast upstream: gateway without policies, `@fastify/http-proxy` and nginx
 *    `proxy_pass`, in `BENCH_ROUNDS` rounds (default 3) whose order rotates, so that a burst of
 *    load from elsewhere on the machine does not land on one target only: requests/s and p99
 *    ratios against `@fastify/http-proxy` per round, with the load average.
 * 4. Batching: 1,000 distinct single-item GETs per second for 3 s, straight vs gateway `batch`
 *    into `GET /users?ids=` with a 5 ms and a 20 ms window: upstream calls, added p99.
 *
 * Every proxy (gateway, `@fastify/http-proxy`, nginx), the upstream and the load generator run
 * in processes of their own. Run: `npm run bench -- gateway` (BENCH_QUICK=1 for shorter runs;
 * BENCH_GATEWAY=pass-through,batching to run only some parts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import type { GatewayConfigInput } from '@batchflight/gateway';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_QUICK === '1';
const DURATION_MS = quick ? 2_000 : 5_000;

interface Load {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

function child(script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=@batchflight/source', '--import', 'tsx', join(here, 'gateway', script), ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

async function firstLine(proc: ChildProcess): Promise<string> {
  let text = '';
  for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return text.trim();
}

async function startUpstream(latencyMs: number): Promise<{ origin: string; stop(): void }> {
  const proc = child('upstream.ts', [String(latencyMs)]);
  const port = await firstLine(proc);
  return { origin: `http://127.0.0.1:${port}`, stop: () => proc.kill() };
}

async function upstreamCalls(origin: string): Promise<number> {
  return Number(await (await fetch(`${origin}/__calls`)).text());
}

async function load(spec: {
  origin: string;
  paths: readonly string[];
  connections: number;
  durationMs: number;
  rate?: number;
  maxRequests?: number;
}): Promise<Load> {
  const proc = child('load.ts', [JSON.stringify(spec)]);
  return JSON.parse(await firstLine(proc)) as Load;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const hasNginx = spawnSync('nginx', ['-v']).status === 0;

async function startNginx(
  upstream: string,
  cache: boolean,
): Promise<{ origin: string; pid: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  // nginx's workers run as an unprivileged user when started by root: they must reach the cache.
  await chmod(dir, 0o755);
  for (const sub of ['cache', 'proxy', 'body']) {
    await mkdir(join(dir, sub));
    await chmod(join(dir, sub), 0o777);
  }
  const port = await freePort();
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=bench:10m inactive=10m;
  upstream api { server ${upstream.replace('http://', '')}; keepalive 128; }
  server {
    listen 127.0.0.1:${String(port)};
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${cache ? 'proxy_cache bench; proxy_cache_lock on; proxy_cache_valid 200 1s; proxy_read_timeout 60s;' : ''}
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const proc = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${String(port)}/__nginx_up`);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return {
    origin: `http://127.0.0.1:${String(port)}`,
    pid: proc.pid ?? 0,
    async stop() {
      proc.kill('SIGQUIT');
      await new Promise((resolve) => proc.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function withProxy<T>(
  kind: 'gateway' | 'http-proxy',
  arg: string,
  run: (origin: string, pid: number) => Promise<T>,
): Promise<T> {
  const proc = child('proxy.ts', [kind, arg]);
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    return await run(`http://127.0.0.1:${await firstLine(proc)}`, proc.pid ?? 0);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
}

function withGateway<T>(
  upstream: string,
  routes: GatewayConfigInput['routes'],
  run: (origin: string, pid: number) => Promise<T>,
): Promise<T> {
  const config: GatewayConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    upstreams: { api: { url: upstream, connections: 128 } },
    routes,
  };
  return withProxy('gateway', JSON.stringify(config), run);
}

const withFastifyProxy = <T>(
  upstream: string,
  run: (origin: string, pid: number) => Promise<T>,
): Promise<T> => withProxy('http-proxy', upstream, run);

async function withNginx<T>(
  upstream: string,
  cache: boolean,
  run: (origin: string, pid: number) => Promise<T>,
): Promise<T> {
  const nginx = await startNginx(upstream, cache);
  try {
    return await run(nginx.origin, nginx.pid);
  } finally {
    await nginx.stop();
  }
}

const WARMUP_REQUESTS = 20_000;

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString()) || 100;

/**
 * CPU time, in ms, used so far by a process and its direct children (nginx's workers), from
 * /proc: a figure that other load on the machine disturbs far less than requests/s.
 */
async function cpuMs(pid: number): Promise<number> {
  let ticks = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(entry) === pid || Number(fields[1]) === pid) {
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

const load1 = (): string => loadavg()[0]?.toFixed(2) ?? '?';

interface Row {
  target: string;
  load: Load;
  calls: number;
  /** CPU time of the proxy's process(es) per request, in µs, when measured. */
  cpuUsPerRequest?: number;
}

function print(title: string, rows: readonly Row[], baseline?: Row): void {
  console.log(`\n${title}`);
  console.log(
    'target'.padEnd(34) +
      'requests'.padStart(9) +
      'errors'.padStart(8) +
      'req/s'.padStart(9) +
      'p50 ms'.padStart(9) +
      'p99 ms'.padStart(9) +
      'upstream'.padStart(10) +
      '/1k req'.padStart(9) +
      'cpu µs/req'.padStart(11) +
      (baseline ? '  rps×   p99×   cpu×' : ''),
  );
  for (const row of rows) {
    const per1k = row.load.requests === 0 ? 0 : (1000 * row.calls) / row.load.requests;
    console.log(
      row.target.padEnd(34) +
        String(row.load.requests).padStart(9) +
        String(row.load.errors).padStart(8) +
        row.load.rps.toFixed(0).padStart(9) +
        row.load.p50.toFixed(1).padStart(9) +
        row.load.p99.toFixed(1).padStart(9) +
        String(row.calls).padStart(10) +
        per1k.toFixed(1).padStart(9) +
        (row.cpuUsPerRequest?.toFixed(0) ?? '-').padStart(11) +
        (baseline
          ? `  ${(row.load.rps / baseline.load.rps).toFixed(2).padStart(5)}  ${(row.load.p99 / baseline.load.p99).toFixed(2).padStart(5)}  ${row.cpuUsPerRequest === undefined || baseline.cpuUsPerRequest === undefined ? '    -' : (row.cpuUsPerRequest / baseline.cpuUsPerRequest).toFixed(2).padStart(5)}`
          : ''),
    );
  }
}

async function measure(
  target: string,
  upstream: string,
  origin: string,
  spec: {
    paths: readonly string[];
    connections: number;
    durationMs: number;
    rate?: number;
    /**
     * Untimed load first, so that every target is measured with its code already compiled: up
     * to `WARMUP_REQUESTS` requests (what V8 needs to optimise the hot path), at most this long.
     */
    warmupMs?: number;
  },
  /** The proxy's process, whose CPU time per request is measured. */
  pid?: number,
): Promise<Row> {
  const { warmupMs, ...timed } = spec;
  if (warmupMs !== undefined) {
    await load({ origin, ...timed, durationMs: warmupMs, maxRequests: WARMUP_REQUESTS });
  }
  await upstreamCalls(upstream); // reset
  const cpuBefore = pid === undefined ? 0 : await cpuMs(pid);
  const result = await load({ origin, ...timed });
  const cpu = pid === undefined ? undefined : (await cpuMs(pid)) - cpuBefore;
  return {
    target,
    load: result,
    calls: await upstreamCalls(upstream),
    ...(cpu === undefined || result.requests === 0
      ? {}
      : { cpuUsPerRequest: (cpu * 1000) / result.requests }),
  };
}

const hot = Array.from({ length: 50 }, (_, i) => `/items/${String(i)}`);
const itemRoute = (policies: GatewayConfigInput['routes'][number]['policies']) => [
  { method: 'GET' as const, path: '/items/:id', upstream: 'api', policies },
];

async function hotKeys(latencyMs: number, durationMs: number): Promise<void> {
  const up = await startUpstream(latencyMs);
  const spec = { paths: hot, connections: 200, durationMs };
  const rows: Row[] = [];
  try {
    rows.push(await measure('straight to the upstream', up.origin, up.origin, spec));
    rows.push(
      await withGateway(up.origin, itemRoute([{ coalesce: {} }]), (origin) =>
        measure('gateway coalesce', up.origin, origin, spec),
      ),
    );
    rows.push(
      await withGateway(
        up.origin,
        itemRoute([{ coalesce: {} }, { cache: { ttlMs: 1_000 } }]),
        (origin) => measure('gateway coalesce + cache 1 s', up.origin, origin, spec),
      ),
    );
    rows.push(
      await withFastifyProxy(up.origin, (origin) =>
        measure('@fastify/http-proxy', up.origin, origin, spec),
      ),
    );
    if (hasNginx) {
      rows.push(
        await withNginx(up.origin, true, (origin) =>
          measure('nginx proxy_cache 1 s + lock', up.origin, origin, spec),
        ),
      );
    }
  } finally {
    up.stop();
  }
  print(
    `hot keys: 200 connections over 50 URLs, upstream ${String(latencyMs)} ms, ${String(durationMs / 1000)} s`,
    rows,
  );
}

async function passThrough(): Promise<void> {
  const up = await startUpstream(0);
  const spec = {
    paths: ['/items/1'],
    connections: 50,
    durationMs: DURATION_MS,
    warmupMs: quick ? 5_000 : 15_000,
  };
  const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? '2' : '3'));
  const targets: [name: string, run: () => Promise<Row>][] = [
    [
      'gateway, no policies',
      () =>
        withGateway(up.origin, itemRoute([]), (origin, pid) =>
          measure('gateway, no policies', up.origin, origin, spec, pid),
        ),
    ],
    [
      '@fastify/http-proxy',
      () =>
        withFastifyProxy(up.origin, (origin, pid) =>
          measure('@fastify/http-proxy', up.origin, origin, spec, pid),
        ),
    ],
    [
      'straight to the upstream',
      () => measure('straight to the upstream', up.origin, up.origin, spec),
    ],
  ];
  if (hasNginx) {
    targets.push([
      'nginx proxy_pass',
      () =>
        withNginx(up.origin, false, (origin, pid) =>
          measure('nginx proxy_pass', up.origin, origin, spec, pid),
        ),
    ]);
  }
  const ratios: { rps: number; p99: number; cpu: number }[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const rows = new Map<string, Row>();
      const before = load1();
      // Rotated so that no target always runs first (or right after nginx, or on a warm upstream).
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(round + i) % targets.length];
        if (target !== undefined) rows.set(target[0], await target[1]());
      }
      const baseline = rows.get('@fastify/http-proxy');
      const gateway = rows.get('gateway, no policies');
      print(
        `pass-through round ${String(round + 1)}/${String(rounds)}: 50 connections, fast upstream, load ${before} -> ${load1()} (ratios against @fastify/http-proxy)`,
        targets.map(([name]) => rows.get(name)).filter((row) => row !== undefined),
        baseline,
      );
      if (baseline !== undefined && gateway !== undefined) {
        ratios.push({
          rps: gateway.load.rps / baseline.load.rps,
          p99: gateway.load.p99 / baseline.load.p99,
          cpu: (gateway.cpuUsPerRequest ?? NaN) / (baseline.cpuUsPerRequest ?? NaN),
        });
      }
    }
  } finally {
    up.stop();
  }
  const range = (values: number[]): string =>
    `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
  console.log(
    `gateway / @fastify/http-proxy over ${String(ratios.length)} rounds: req/s ${range(ratios.map((r) => r.rps))}x (target >= 0.8), p99 ${range(ratios.map((r) => r.p99))}x (target <= 1.2), CPU per request ${range(ratios.map((r) => r.cpu))}x`,
  );
}

async function batching(): Promise<void> {
  const up = await startUpstream(5);
  const distinct = Array.from({ length: 3_000 }, (_, i) => `/users/${String(i)}`);
  // Warmed up like pass-through (open loop at the same rate), so the added p99 is not the JIT's.
  const spec = {
    paths: distinct,
    connections: 100,
    durationMs: 3_000,
    rate: 1_000,
    warmupMs: 5_000,
  };
  // 5 ms: about 5 items a window at 1 000/s; 20 ms: the window the target of >= 20x fewer calls
  // needs at that rate (its added p99 must stay within the window + 2 ms).
  const windows = [5, 20];
  const rows: Row[] = [];
  try {
    rows.push(await measure('straight to the upstream', up.origin, up.origin, spec));
    for (const maxWaitMs of windows) {
      const route = {
        method: 'GET' as const,
        path: '/users/:id',
        upstream: 'api',
        policies: [
          {
            batch: {
              param: 'id',
              maxSize: 100,
              maxWaitMs,
              request: { path: '/users', query: 'ids' },
              response: { items: 'data', key: 'id' },
            },
          },
        ],
      };
      const target = `gateway batch (window ${String(maxWaitMs)} ms)`;
      rows.push(
        await withGateway(up.origin, [route], (origin) => measure(target, up.origin, origin, spec)),
      );
    }
  } finally {
    up.stop();
  }
  print('batching: 1,000 distinct single-item GETs/s for 3 s, upstream 5 ms', rows, rows[0]);
  const [direct, ...batched] = rows;
  for (const [i, row] of batched.entries()) {
    if (direct === undefined || row.calls === 0) continue;
    console.log(
      `window ${String(windows[i])} ms: upstream calls ${(direct.calls / row.calls).toFixed(1)}x fewer (target >= 20); added p99 ${(row.load.p99 - direct.load.p99).toFixed(1)} ms (target <= ${String((windows[i] ?? 0) + 2)})`,
    );
  }
}

const parts = new Set(
  (process.env.BENCH_GATEWAY ?? 'hot-keys,slow-keys,pass-through,batching').split(','),
);
console.log(
  `gateway bench, ${new Date().toISOString()}, nginx ${hasNginx ? 'found' : 'not installed'}, load ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`,
);
if (parts.has('hot-keys')) await hotKeys(50, DURATION_MS);
if (parts.has('slow-keys')) await hotKeys(6_000, quick ? 7_000 : 13_000);
if (parts.has('pass-through')) await passThrough();
if (parts.has('batching')) await batching();
