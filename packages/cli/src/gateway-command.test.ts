import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGatewayCommand } from './gateway-command.js';

describe('batchflight gateway', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gateway-command-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a config that cannot be used with exit code 2 and the file, path and contract', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'upstreams: {}\nroutes:\n  - method: GET\n    path: /a\n    upstream: x\n',
    );
    let err = '';
    const code = await runGatewayCommand(
      { config: file },
      { writeOut: () => undefined, writeErr: (t) => (err += t) },
    );
    expect(code).toBe(2);
    expect(err).toContain(
      `${file}:5:15 routes[0].upstream: got "x"; expected one of the upstreams`,
    );
  });

  it('serves until SIGTERM, reloads on SIGHUP and refuses a broken reload', async () => {
    const file = join(dir, 'gateway.yaml');
    const config = (path: string) =>
      `listen: { port: 0 }\nupstreams:\n  api: { url: "http://127.0.0.1:9" }\nroutes:\n  - { method: GET, path: ${path}, upstream: api }\n`;
    await writeFile(file, config('/a'));
    const signals = new EventEmitter();
    let out = '';
    let err = '';
    const running = runGatewayCommand(
      { config: file },
      {
        writeOut: (t) => (out += t),
        writeErr: (t) => (err += t),
        signals: signals as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
      },
    );
    const until = async (what: () => boolean) => {
      while (!what()) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await until(() => out.includes('listening on'));
    const url = /listening on (\S+)/.exec(out)?.[1] ?? '';
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await writeFile(file, 'routes: [');
    signals.emit('SIGHUP');
    await until(() => err.includes('reload refused'));
    await writeFile(file, config('/b'));
    signals.emit('SIGHUP');
    await until(() => out.includes('reloaded'));
    const unknown = await fetch(`${url}/a`);
    expect(unknown.status).toBe(404);
    await unknown.text();
    signals.emit('SIGTERM');
    expect(await running).toBe(0);
    expect(out).toContain('stopped');
  });
});
