/**
 * Hot reload of a fleet configuration file: on a change (or a signal such as SIGHUP) the
 * file is read, validated and applied; a bad edit is refused, reported, and the last good
 * configuration stays in force.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fleetConfigSchema, type FleetConfig } from './fleet-schema.js';
import { loadConfigFile } from './load.js';
import type { ApplyReport, ConfigRegistry } from './registry.js';

/** Options of {@link watchConfigFile}. */
export interface WatchConfigOptions {
  /** Called after each configuration applied. */
  readonly onApplied?: (report: ApplyReport, config: FleetConfig) => void;
  /**
   * Called when an edit is refused (unreadable, invalid, or refused by a primitive): the
   * previous configuration stays. Default: a process warning with the error's message.
   */
  readonly onRefused?: (error: unknown) => void;
  /** Also reload on this signal, e.g. `'SIGHUP'`. Default: none (the file watch alone). */
  readonly reloadOn?: NodeJS.Signals;
  /** Quiet period after the last change event before reading, in ms. Default 50. */
  readonly debounceMs?: number;
}

/** A running watch. */
export interface ConfigWatcher extends Disposable {
  /** Reads and applies the file now; resolves with the report, or undefined when refused. */
  reload(): Promise<ApplyReport | undefined>;
  /** Stops watching. Idempotent. */
  close(): void;
}

/**
 * Watches `file` and applies each valid version to `registry`. The directory is watched,
 * not the file, so an editor that saves by renaming a new file into place is seen too.
 * Call `reload()` once at start to apply the file as it is now.
 *
 * @example
 * ```ts
 * const watcher = watchConfigFile('fleet.yaml', registry, { reloadOn: 'SIGHUP' });
 * ```
 */
export function watchConfigFile(
  file: string,
  registry: ConfigRegistry,
  options: WatchConfigOptions = {},
): ConfigWatcher {
  const onRefused =
    options.onRefused ??
    ((error: unknown) => {
      process.emitWarning(error instanceof Error ? error.message : String(error), 'ConfigRefused');
    });
  const debounceMs = options.debounceMs ?? 50;
  // One reload at a time, in order: a second edit during a read is read after it.
  let queue: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<ApplyReport | undefined> => {
    const next = queue.then(async () => {
      try {
        const config = await loadConfigFile(file, fleetConfigSchema);
        const report = registry.apply(config, file);
        options.onApplied?.(report, config);
        return report;
      } catch (error) {
        onRefused(error);
        return undefined;
      }
    });
    queue = next;
    return next;
  };

  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
    timer.unref();
  };
  const name = basename(file);
  const watcher: FSWatcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed === null || changed === name) schedule();
  });
  const signal = options.reloadOn;
  const onSignal = (): void => void reload();
  if (signal !== undefined) process.on(signal, onSignal);

  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    watcher.close();
    if (timer !== undefined) clearTimeout(timer);
    if (signal !== undefined) process.off(signal, onSignal);
  };
  return { reload, close, [Symbol.dispose]: close };
}
