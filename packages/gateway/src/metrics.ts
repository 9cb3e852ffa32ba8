/**
 * `/metrics` in the Prometheus text format: per route, the requests answered, the calls that
 * reached the upstream and what coalescing, caching and batching saved.
 */
import type { RouteStats } from './route.js';

const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** The Prometheus text of the routes' counters. */
export function metricsText(routes: readonly RouteStats[]): string {
  const families: [name: string, help: string, value: (stats: RouteStats) => number][] = [
    ['batchflight_gateway_requests_total', 'Requests answered by the route.', (s) => s.requests],
    [
      'batchflight_gateway_upstream_calls_total',
      'Calls that reached the upstream (a bulk call counts once).',
      (s) => s.upstreamCalls,
    ],
    [
      'batchflight_gateway_upstream_calls_saved_total',
      'Requests answered without an upstream call of their own (coalescing, cache, batching).',
      (s) => s.saved,
    ],
    [
      'batchflight_gateway_cache_revalidated_total',
      'Stale cached answers made fresh again by a 304 Not Modified, without a body transfer.',
      (s) => s.revalidated ?? 0,
    ],
  ];
  const lines: string[] = [];
  for (const [name, help, value] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const stats of routes)
      lines.push(`${name}{route="${escape(stats.route)}"} ${String(value(stats))}`);
  }
  return `${lines.join('\n')}\n`;
}
