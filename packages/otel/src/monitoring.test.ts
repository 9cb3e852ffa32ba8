/**
 * The shipped Prometheus rules and Grafana dashboard refer only to series the exporter
 * produces from METRICS (dots to underscores; counters `_total`; histograms `_bucket`,
 * `_sum`, `_count`), and only to attribute labels of ATTR.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ATTR, METRICS } from './index.js';

const read = (file: string): string =>
  readFileSync(new URL(`../monitoring/${file}`, import.meta.url), 'utf8');
const series = new Set(
  METRICS.flatMap((m) => {
    const base = m.name.replaceAll('.', '_');
    if (m.kind === 'counter') return [`${base}_total`];
    if (m.kind === 'histogram') return [`${base}_bucket`, `${base}_sum`, `${base}_count`];
    return [base];
  }),
);
const labels = new Set([...Object.values(ATTR).map((a) => a.replaceAll('.', '_')), 'le']);

function check(expressions: readonly string[]): void {
  expect(expressions.length).toBeGreaterThan(0);
  for (const expr of expressions) {
    for (const [name] of expr.matchAll(/batchflight_[a-z_]+(?=[{[\s)]|$)/g)) {
      if (labels.has(name)) continue;
      expect(series, `${name} in ${expr}`).toContain(name);
    }
    for (const [, label] of expr.matchAll(/(?:by \(|,\s*|\{)\s*([a-z_]+)\s*(?:=|!=|=~|,|\))/g)) {
      if (label !== undefined && !series.has(label))
        expect(labels, `${label} in ${expr}`).toContain(label);
    }
  }
}

describe('monitoring files', () => {
  it('alerts.yml is valid YAML whose rules use only exported series and labels', () => {
    const rules = parse(read('alerts.yml')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toContain('BatchflightCircuitOpen');
    check(all.map((r) => r.expr));
  });

  it('the Grafana dashboard uses only exported series and labels', () => {
    const dashboard = JSON.parse(read('grafana-dashboard.json')) as {
      panels: { targets: { expr: string }[] }[];
    };
    check(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)));
  });
});
