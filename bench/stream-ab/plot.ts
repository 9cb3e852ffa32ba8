/**
 * The plot of `bench/stream-ab.bench.ts`: rows per write and latency over
 * time, one line per configuration, as a self-contained SVG (no library: a
 * browser charting library needs a DOM, and two log-scale panels of
 * polylines are a few dozen lines).
 *
 * Each line is bucketed by commit time (`bucketMs`): the top panel shows the
 * mean rows per write of a bucket, the bottom one the latency of the oldest
 * event of the slowest write committed in it (publish to commit).
 */

/** One configuration's committed writes. */
export interface PlotSeries {
  readonly label: string;
  readonly color: string;
  readonly writes: readonly {
    readonly at: number;
    readonly size: number;
    readonly oldestMs: number;
  }[];
}

/** A shaded phase of the profile. */
export interface PlotPhase {
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
}

const WIDTH = 960;
const PANEL = 250;
const LEFT = 70;
const RIGHT = 150;
const TOP = 50;
const GAP = 60;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Log-scale y of `value` in a panel whose top is `top`, over decades `lo`..`hi` (exponents). */
function logY(value: number, top: number, lo: number, hi: number): number {
  const v = Math.min(hi, Math.max(lo, Math.log10(Math.max(value, 10 ** lo))));
  return top + PANEL - ((v - lo) / (hi - lo)) * PANEL;
}

function decadeLabel(exponent: number, unit: string): string {
  const v = 10 ** exponent;
  const text = v >= 1000 ? `${String(v / 1000)}k` : String(v);
  return `${text}${unit}`;
}

/** The SVG document of the plot. */
export function abPlot(
  series: readonly PlotSeries[],
  phases: readonly PlotPhase[],
  options: { readonly title: string; readonly subtitle: string; readonly bucketMs?: number },
): string {
  const bucketMs = options.bucketMs ?? 100;
  const endMs = Math.max(
    ...phases.map((p) => p.endMs),
    ...series.flatMap((s) => s.writes.map((w) => w.at)),
  );
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (ms: number): number => LEFT + (ms / endMs) * plotW;
  const panels = [
    { top: TOP, title: 'rows per write (mean per 100 ms)', lo: 0, hi: 5, unit: '' },
    {
      top: TOP + PANEL + GAP,
      title: 'latency of the oldest event of a write, publish to commit (max per 100 ms)',
      lo: 0,
      hi: 4,
      unit: ' ms',
    },
  ];
  const out: string[] = [];
  const height = TOP + 2 * PANEL + GAP + 50;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${String(WIDTH)} ${String(height)}" width="${String(WIDTH)}" height="${String(height)}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${String(LEFT)}" y="18" font-size="14" font-weight="bold">${escape(options.title)}</text>`,
    `<text x="${String(LEFT)}" y="34" fill="#555">${escape(options.subtitle)}</text>`,
  );
  for (const panel of panels) {
    phases.forEach((phase, i) => {
      const x0 = x(phase.startMs);
      const x1 = x(phase.endMs);
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${String(panel.top)}" width="${(x1 - x0).toFixed(1)}" height="${String(PANEL)}" fill="${i % 2 === 0 ? '#f4f4f4' : '#fafafa'}"/>`,
      );
      if (panel === panels[0]) {
        out.push(
          `<text x="${((x0 + x1) / 2).toFixed(1)}" y="${String(panel.top + 12)}" text-anchor="middle" fill="#777">${escape(phase.name)}</text>`,
        );
      }
    });
    for (let e = panel.lo; e <= panel.hi; e++) {
      const y = logY(10 ** e, panel.top, panel.lo, panel.hi).toFixed(1);
      out.push(
        `<line x1="${String(LEFT)}" x2="${String(LEFT + plotW)}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
        `<text x="${String(LEFT - 6)}" y="${y}" dy="4" text-anchor="end">${decadeLabel(e, panel.unit)}</text>`,
      );
    }
    for (let s = 0; s * 1000 <= endMs; s++) {
      const xs = x(s * 1000).toFixed(1);
      out.push(
        `<text x="${xs}" y="${String(panel.top + PANEL + 14)}" text-anchor="middle">${String(s)} s</text>`,
      );
    }
    out.push(
      `<rect x="${String(LEFT)}" y="${String(panel.top)}" width="${String(plotW)}" height="${String(PANEL)}" fill="none" stroke="#999"/>`,
      `<text x="${String(LEFT)}" y="${String(panel.top - 6)}" font-weight="bold">${escape(panel.title)}</text>`,
    );
  }
  for (const s of series) {
    const buckets = new Map<number, { rows: number; writes: number; oldest: number }>();
    for (const w of s.writes) {
      const b = Math.floor(w.at / bucketMs);
      const cell = buckets.get(b) ?? { rows: 0, writes: 0, oldest: 0 };
      cell.rows += w.size;
      cell.writes++;
      cell.oldest = Math.max(cell.oldest, w.oldestMs);
      buckets.set(b, cell);
    }
    const ordered = [...buckets].sort((a, b) => a[0] - b[0]);
    const [sizes, latencies] = panels.map((panel, k) =>
      ordered
        .map(([b, cell]) => {
          const value = k === 0 ? cell.rows / cell.writes : cell.oldest;
          return `${x((b + 0.5) * bucketMs).toFixed(1)},${logY(value, panel.top, panel.lo, panel.hi).toFixed(1)}`;
        })
        .join(' '),
    );
    for (const points of [sizes, latencies]) {
      out.push(
        `<polyline points="${points ?? ''}" fill="none" stroke="${s.color}" stroke-width="1.5" stroke-linejoin="round"/>`,
      );
    }
  }
  series.forEach((s, i) => {
    const y = TOP + 20 + i * 18;
    const lx = LEFT + plotW + 12;
    out.push(
      `<line x1="${String(lx)}" x2="${String(lx + 20)}" y1="${String(y)}" y2="${String(y)}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${String(lx + 26)}" y="${String(y)}" dy="4">${escape(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
