import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CATALOGUE_PATH, collectCatalogue, staleCatalogue } from './catalogue.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A repository holding `files` (paths relative to its root). */
function repo(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'catalogue-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** The core package's channel helper, as in packages/batchflight/src/core/channels.ts. */
const CHANNELS_TS = [
  'export interface EventChannel<T> { readonly name: string; publish(payload: T): void }',
  'export function eventChannel<T>(capability: string, event: string): EventChannel<T> {',
  '  return { name: `batchflight:${capability}:${event}`, publish: () => undefined };',
  '}',
].join('\n');

// Building the TypeScript program of every package takes seconds, more on a loaded machine.
const PROGRAM_TIMEOUT_MS = 180_000;

describe('scripts/catalogue', () => {
  it(
    'finds channels in exported maps and in private constants, hooks of both kinds and stats fields',
    () => {
      const sections = new Map(collectCatalogue().map((s) => [s.title, s]));
      const cache = sections.get('cache');
      const load = cache?.channels.find((c) => c.name === 'batchflight:cache:load');
      expect(load?.mapEntry).toBe('cacheChannels.load');
      expect(load?.payload).toBe('CacheLoadEvent');
      expect(load?.fields.map((f) => f.name)).toContain('key');
      expect(cache?.hooks.some((h) => h.owner === 'Cache' && h.name === 'onLoad')).toBe(true);
      expect(cache?.stats.find((s) => s.owner === 'Cache')?.fields.length).toBeGreaterThan(0);
      // A channel published from a module-private constant has no map entry, but a payload.
      const batch = sections.get('batch');
      expect(batch?.channels.map((c) => c.name)).toContain('batchflight:batch:dispatch');
      expect(
        batch?.channels.find((c) => c.name === 'batchflight:batch:dispatch')?.fields.length,
      ).toBeGreaterThan(0);
      // Callback options (a function the caller passes in) are hooks too.
      const imports = sections.get('@batchflight/import');
      expect(imports?.hooks.find((h) => h.name === 'onProgress')?.kind).toBe('callback');
    },
    PROGRAM_TIMEOUT_MS,
  );

  it('reads channels whatever their style: explicit, inferred from an annotated map, cast, private', () => {
    const root = repo({
      'tsconfig.typecheck.json': JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: [],
        },
      }),
      'packages/batchflight/package.json': JSON.stringify({
        name: 'batchflight',
        exports: { './widget': { '@batchflight/source': './src/widget/index.ts' } },
      }),
      'packages/batchflight/src/core/channels.ts': CHANNELS_TS,
      'packages/batchflight/src/widget/index.ts': "export * from './widget.js';",
      'packages/batchflight/src/widget/widget.ts': [
        "import { eventChannel, type EventChannel } from '../core/channels.js';",
        '/** A ping. */',
        'export interface PingEvent {',
        '  /** Who pinged. First sentence only. */',
        '  readonly from: string;',
        '  readonly hops?: number;',
        '}',
        'export const widgetChannels: {',
        '  readonly ping: EventChannel<PingEvent>;',
        '  readonly pong: EventChannel<{ at: number }>;',
        '} = {',
        "  ping: eventChannel('widget', 'ping'),",
        "  pong: eventChannel('widget', 'pong') as EventChannel<{ at: number }>,",
        '};',
        "const EVENT = 'private';",
        'const hidden = eventChannel<{ n: number }>(`widget`, EVENT);',
        'export interface WidgetOptions { readonly onPing?: (event: PingEvent) => void }',
        'export interface WidgetStats {',
        '  /** Pings seen. */',
        '  readonly pings: number;',
        '}',
        'export class Widget {',
        '  onPing(listener: (event: PingEvent) => void): void { void listener; hidden.publish({ n: 1 }); }',
        '  stats(): WidgetStats { return { pings: 0 }; }',
        '}',
      ].join('\n'),
    });
    const [widget] = collectCatalogue(root);
    expect(widget?.title).toBe('widget');
    expect(widget?.channels.map((c) => [c.name, c.mapEntry, c.payload])).toEqual([
      ['batchflight:widget:ping', 'widgetChannels.ping', 'PingEvent'],
      ['batchflight:widget:pong', 'widgetChannels.pong', 'inline'],
      ['batchflight:widget:private', undefined, 'inline'],
    ]);
    expect(widget?.channels[0]?.fields).toEqual([
      { name: 'from', type: 'string', optional: false, doc: 'Who pinged.' },
      { name: 'hops', type: 'number | undefined', optional: true, doc: '' },
    ]);
    expect(widget?.channels[2]?.fields.map((f) => f.name)).toEqual(['n']);
    expect(widget?.hooks.map((h) => [`${h.owner}.${h.name}`, h.kind])).toEqual([
      ['Widget.onPing', 'method'],
      ['WidgetOptions.onPing', 'callback'],
    ]);
    expect(widget?.stats).toEqual([
      {
        owner: 'Widget',
        type: 'WidgetStats',
        fields: [{ name: 'pings', type: 'number', optional: false, doc: 'Pings seen.' }],
      },
    ]);
  });

  it('reports the page as stale when it is missing or a channel changed, and fresh when it matches', async () => {
    const widget = (event: string): string =>
      [
        "import { eventChannel } from '../core/channels.js';",
        `export const widgetChannels = { ping: eventChannel<{ from: string }>('widget', '${event}') };`,
      ].join('\n');
    const root = repo({
      'tsconfig.typecheck.json': JSON.stringify({ compilerOptions: { strict: true, types: [] } }),
      'packages/batchflight/package.json': JSON.stringify({
        name: 'batchflight',
        exports: { './widget': { '@batchflight/source': './src/widget/widget.ts' } },
      }),
      'packages/batchflight/src/core/channels.ts': CHANNELS_TS,
      'packages/batchflight/src/widget/widget.ts': widget('ping'),
    });
    const fresh = await staleCatalogue(root);
    expect(fresh).toContain('batchflight:widget:ping');
    mkdirSync(dirname(join(root, CATALOGUE_PATH)), { recursive: true });
    writeFileSync(join(root, CATALOGUE_PATH), fresh ?? '');
    expect(await staleCatalogue(root)).toBeUndefined();
    writeFileSync(join(root, 'packages/batchflight/src/widget/widget.ts'), widget('pong'));
    expect(await staleCatalogue(root)).toContain('batchflight:widget:pong');
  });

  it(
    `${CATALOGUE_PATH} is the page scripts/catalogue.ts generates from the sources`,
    async () => {
      const stale = await staleCatalogue();
      expect(
        stale,
        `${CATALOGUE_PATH} is stale: run \`npx tsx scripts/catalogue.ts\` and commit the page`,
      ).toBeUndefined();
    },
    PROGRAM_TIMEOUT_MS,
  );
});
