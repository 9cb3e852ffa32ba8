/**
 * `batchflight gateway --config gateway.yaml [--port N]`: runs the HTTP gateway of
 * `@batchflight/gateway` until SIGTERM or SIGINT (graceful: in-flight requests drain within the
 * config's `drainTimeoutMs`). SIGHUP reloads the file: a valid one replaces the routes without
 * dropping a request, an invalid one is refused with its error and the running one stays.
 *
 * Exit codes: 0 after a graceful stop, 2 for a configuration that cannot be used.
 */
import { ConfigError } from '@batchflight/config';
import { createGateway, loadGatewayConfig } from '@batchflight/gateway';

/** The flags of the command. */
export interface GatewayFlags {
  readonly config: string;
  readonly port?: string;
}

/** Where the command writes, and the process signals it listens to (injectable for tests). */
export interface GatewayCommandIo {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
  /** Default: the process. */
  readonly signals?: Pick<NodeJS.Process, 'on' | 'off'>;
  /** Resolves the command early (a test's stop); default: never. */
  readonly stop?: Promise<void>;
}

/** Runs the gateway; resolves to the exit code once it has stopped. */
export async function runGatewayCommand(
  flags: GatewayFlags,
  io: GatewayCommandIo,
): Promise<number> {
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    io.writeErr(
      `error: --port takes an integer from 0 to 65535, got ${JSON.stringify(flags.port)}\n`,
    );
    return 2;
  }
  let gateway;
  try {
    gateway = createGateway(await loadGatewayConfig(flags.config));
  } catch (error) {
    if (!ConfigError.is(error)) throw error;
    io.writeErr(`${error.message}\n`);
    return 2;
  }
  const url = await gateway.listen(port);
  io.writeOut(`batchflight gateway listening on ${url} (${flags.config})\n`);
  const signals = io.signals ?? process;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const stop = (): void => {
    stopped();
  };
  const reload = (): void => {
    void (async () => {
      try {
        await gateway.reload(await loadGatewayConfig(flags.config));
        io.writeOut(`reloaded ${flags.config}\n`);
      } catch (error) {
        io.writeErr(
          `reload refused, the running configuration stays:\n${(error as Error).message}\n`,
        );
      }
    })();
  };
  signals.on('SIGTERM', stop);
  signals.on('SIGINT', stop);
  signals.on('SIGHUP', reload);
  try {
    await Promise.race([done, io.stop ?? new Promise<never>(() => undefined)]);
  } finally {
    signals.off('SIGTERM', stop);
    signals.off('SIGINT', stop);
    signals.off('SIGHUP', reload);
  }
  io.writeOut('draining...\n');
  await gateway.close();
  io.writeOut('stopped\n');
  return 0;
}
