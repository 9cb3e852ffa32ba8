/**
 * The live side of the fleet configuration: primitives register under their `name`, and
 * `apply(config)` retunes those whose settings changed, all or nothing.
 *
 * Only what a primitive can change while it runs is applied live (a {@link Tunable} lists
 * its live keys); a change to any other setting is reported as needing a restart, never
 * silently ignored and never half-applied.
 */
import { ConfigError } from './errors.js';
import {
  capabilityOf,
  type Capability,
  type FleetConfig,
  type PrimitiveEntry,
  type SettingsOf,
} from './fleet-schema.js';

/** A change a {@link Tunable} has checked and can now make or drop. */
export interface PreparedChange {
  /** Makes the change. Must not throw: every check belongs in `prepare`. */
  commit(): void;
  /** Drops it (another primitive refused the configuration). */
  abandon(): void;
}

/** What a registered primitive can change while it runs. */
export interface Tunable<C extends Capability = Capability> {
  readonly capability: C;
  /** The settings applied live; a change to any other is reported as needing a restart. */
  readonly live: readonly string[];
  /**
   * Checks `settings` (the capability's whole entry) and returns the change; throws, with
   * the primitive's own message, when it would refuse them. Nothing changes until commit.
   */
  prepare(settings: SettingsOf<C>): PreparedChange;
}

/** One primitive in an {@link ApplyReport}. */
export interface AppliedChange {
  readonly name: string;
  readonly capability: Capability;
  /** The settings that changed, by key. */
  readonly keys: readonly string[];
}

/** What {@link ConfigRegistry.apply} did. */
export interface ApplyReport {
  /** Changes made live. */
  readonly applied: readonly AppliedChange[];
  /** Changes this process cannot make while it runs: they take effect at its next start. */
  readonly restartRequired: readonly AppliedChange[];
  /** Names whose entry changed but that nothing in this process registered. */
  readonly unregistered: readonly string[];
}

const EMPTY: FleetConfig = { primitives: {} };

function settingsOf(entry: PrimitiveEntry | undefined): Record<string, unknown> {
  if (entry === undefined) return {};
  return (entry as Record<string, Record<string, unknown> | undefined>)[capabilityOf(entry)] ?? {};
}

/** The keys whose values differ between two settings objects (added and removed ones too). */
function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}

/**
 * The primitives of one process, by name, and the configuration they run with.
 *
 * @example
 * ```ts
 * const registry = new ConfigRegistry(await loadConfigFile('fleet.yaml', fleetConfigSchema));
 * const users = retunableBatch({ name: 'users', load, ...registry.settingsFor('users', 'batch') });
 * registry.register('users', users.tunable);
 * registry.register('github', rateLimitTunable(github)); // every primitive's configure()
 * registry.apply(next); // users' next batch uses the new window, github's waiters the new rate
 * ```
 */
export class ConfigRegistry {
  readonly #tunables = new Map<string, Tunable>();
  #config: FleetConfig;

  /** @param initial - the configuration the primitives were built with. Default: none. */
  constructor(initial: FleetConfig = EMPTY) {
    this.#config = initial;
  }

  /** The configuration applied last (or the initial one). */
  get config(): FleetConfig {
    return this.#config;
  }

  /**
   * The settings of `name` for `capability` in the current configuration, to spread into
   * the primitive's options at construction; `{}` when the configuration has no entry.
   *
   * @throws TypeError when the entry of `name` is for another capability.
   */
  settingsFor<C extends Capability>(name: string, capability: C): SettingsOf<C> {
    const entry = this.#config.primitives[name];
    if (entry !== undefined && capabilityOf(entry) !== capability) {
      throw new TypeError(
        `ConfigRegistry#settingsFor(): primitives.${name} configures ${capabilityOf(entry)}, not ${capability}.`,
      );
    }
    return settingsOf(entry) as SettingsOf<C>;
  }

  /**
   * Registers a live primitive under `name`; dispose the result to unregister it.
   *
   * @throws TypeError when `name` is registered already.
   */
  register(name: string, tunable: Tunable): Disposable {
    if (this.#tunables.has(name)) {
      throw new TypeError(
        `ConfigRegistry#register(): ${JSON.stringify(name)} is registered already.`,
      );
    }
    this.#tunables.set(name, tunable);
    return {
      [Symbol.dispose]: () => {
        if (this.#tunables.get(name) === tunable) this.#tunables.delete(name);
      },
    };
  }

  /**
   * Applies a validated configuration: every registered primitive whose live settings
   * changed is prepared first; if one refuses, none changes and a ConfigError names it.
   *
   * @param source - the file or label the configuration came from, for the error.
   * @throws ConfigError when a primitive refuses its settings; the previous configuration stays.
   */
  apply(config: FleetConfig, source = 'configuration'): ApplyReport {
    const applied: AppliedChange[] = [];
    const restartRequired: AppliedChange[] = [];
    const unregistered: string[] = [];
    const prepared: PreparedChange[] = [];
    const names = new Set([
      ...Object.keys(this.#config.primitives),
      ...Object.keys(config.primitives),
    ]);
    try {
      for (const name of names) {
        const before = this.#config.primitives[name];
        const after = config.primitives[name];
        const capability = capabilityOf((after ?? before) as PrimitiveEntry);
        if (before !== undefined && after !== undefined && capabilityOf(before) !== capability) {
          restartRequired.push({ name, capability, keys: [capability] });
          continue;
        }
        const settings = settingsOf(after);
        const keys = changedKeys(settingsOf(before), settings);
        if (keys.length === 0) continue;
        const tunable = this.#tunables.get(name);
        if (tunable === undefined || tunable.capability !== capability) {
          unregistered.push(name);
          continue;
        }
        const live = keys.filter((key) => tunable.live.includes(key));
        const later = keys.filter((key) => !tunable.live.includes(key));
        if (later.length > 0) restartRequired.push({ name, capability, keys: later });
        if (live.length === 0) continue;
        try {
          prepared.push(tunable.prepare(settings));
        } catch (error) {
          throw new ConfigError(
            source,
            [
              {
                path: `primitives.${name}.${capability}`,
                value: settings,
                expected: `settings ${name} accepts (${error instanceof Error ? error.message : String(error)})`,
              },
            ],
            { cause: error },
          );
        }
        applied.push({ name, capability, keys: live });
      }
    } catch (error) {
      for (const change of prepared) change.abandon();
      throw error;
    }
    for (const change of prepared) change.commit();
    this.#config = config;
    return { applied, restartRequired, unregistered };
  }
}
