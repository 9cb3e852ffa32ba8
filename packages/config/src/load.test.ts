import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfigText, validateConfig, z } from './index.js';

const schema = z.strictObject({
  name: z.string(),
  routes: z.array(
    z.strictObject({
      path: z.string(),
      timeoutMs: z.number().int().positive().optional(),
    }),
  ),
});

function problemOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfigText', () => {
  it('returns the validated value of a YAML text', () => {
    const config = parseConfigText(
      'name: edge\nroutes:\n  - path: /users/:id\n    timeoutMs: 500\n',
      { source: 'gateway.yaml' },
      schema,
    );
    expect(config).toEqual({ name: 'edge', routes: [{ path: '/users/:id', timeoutMs: 500 }] });
  });

  it('names the file, the line, the path, the value and the contract of a wrong value', () => {
    const error = problemOf(() =>
      parseConfigText(
        'name: edge\nroutes:\n  - path: /a\n    timeoutMs: "5s"\n',
        { source: 'gateway.yaml' },
        schema,
      ),
    );
    expect(error.message).toBe('gateway.yaml:4:16 routes[0].timeoutMs: got "5s"; expected number');
    expect(error.problems).toEqual([
      { path: 'routes[0].timeoutMs', position: '4:16', value: '5s', expected: 'number' },
    ]);
  });

  it('makes an unknown key an error that lists the known ones', () => {
    const error = problemOf(() =>
      parseConfigText(
        'name: edge\nroutes:\n  - path: /a\n    timout: 5\n',
        { source: 'g.yaml' },
        schema,
      ),
    );
    expect(error.message).toBe(
      'g.yaml:3:5 routes[0]: expected no unknown key (found "timout"); the keys are path, timeoutMs',
    );
  });

  it('reports every problem, one line each', () => {
    const error = problemOf(() =>
      parseConfigText('routes:\n  - timeoutMs: -1\n', { source: 'g.yaml' }, schema),
    );
    expect(error.problems.map((problem) => problem.path)).toEqual([
      'name',
      'routes[0].path',
      'routes[0].timeoutMs',
    ]);
    expect(error.message.split('\n')[0]).toBe('g.yaml: 3 problems');
    expect(error.message).toContain('g.yaml:2:16 routes[0].timeoutMs: got -1; expected');
  });

  it('reports a syntax error with its position', () => {
    const error = problemOf(() =>
      parseConfigText('name: [unclosed\n', { source: 'g.yaml' }, schema),
    );
    expect(error.problems[0]?.position).toMatch(/^\d+:\d+$/);
    expect(error.message).toMatch(/^g\.yaml:\d+:\d+: expected valid YAML/);
  });

  it('parses JSON strictly when the source says JSON', () => {
    const error = problemOf(() => parseConfigText('{ name: edge }', { source: 'g.json' }, schema));
    expect(error.message).toMatch(/^g\.json: expected valid JSON/);
    expect(parseConfigText('{"name":"edge","routes":[]}', { source: 'g.json' }, schema)).toEqual({
      name: 'edge',
      routes: [],
    });
  });
});

describe('validateConfig', () => {
  it('validates a value built in code, naming the label given', () => {
    const error = problemOf(() => validateConfig({ name: 5, routes: [] }, 'options', schema));
    expect(error.message).toBe('options name: got 5; expected string');
  });
});

describe('loadConfigFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'batchflight-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads YAML and JSON files', async () => {
    await writeFile(join(dir, 'a.yaml'), 'name: a\nroutes: []\n');
    await writeFile(join(dir, 'b.json'), '{"name":"b","routes":[]}');
    expect(await loadConfigFile(join(dir, 'a.yaml'), schema)).toEqual({ name: 'a', routes: [] });
    expect(await loadConfigFile(join(dir, 'b.json'), schema)).toEqual({ name: 'b', routes: [] });
  });

  it('makes a missing file a ConfigError that names it and keeps the cause', async () => {
    const file = join(dir, 'missing.yaml');
    const error = await loadConfigFile(file, schema).catch((caught: unknown) => caught);
    expect(ConfigError.is(error)).toBe(true);
    expect((error as ConfigError).message).toBe(`${file}: expected a readable file (ENOENT)`);
    expect((error as ConfigError).cause).toBeInstanceOf(Error);
  });
});
