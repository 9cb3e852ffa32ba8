/**
 * The difference between two fleet configurations, setting by setting: what a revision
 * changes, kept with it, and what `apply` compares.
 */
import { capabilityOf, type FleetConfig, type PrimitiveEntry } from './fleet-schema.js';

/** One setting that differs. `from` / `to` are absent when the setting is added / removed. */
export interface ConfigChange {
  /** `primitives.<name>.<capability>.<key>`, or `primitives.<name>` for a whole entry. */
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function settings(entry: PrimitiveEntry): Record<string, unknown> {
  return (entry as Record<string, Record<string, unknown> | undefined>)[capabilityOf(entry)] ?? {};
}

/**
 * Every setting that differs between `before` and `after`, in name order. An entry added,
 * removed or moved to another capability is one change of the whole entry.
 *
 * @example
 * ```ts
 * diffConfigs(a, b); // [{ path: 'primitives.users.batch.maxSize', from: 100, to: 50 }]
 * ```
 */
export function diffConfigs(before: FleetConfig, after: FleetConfig): ConfigChange[] {
  const changes: ConfigChange[] = [];
  const names = [
    ...new Set([...Object.keys(before.primitives), ...Object.keys(after.primitives)]),
  ].sort();
  for (const name of names) {
    const a = before.primitives[name];
    const b = after.primitives[name];
    const path = `primitives.${name}`;
    if (a === undefined || b === undefined || capabilityOf(a) !== capabilityOf(b)) {
      if (!same(a, b)) {
        changes.push({
          path,
          ...(a === undefined ? {} : { from: a }),
          ...(b === undefined ? {} : { to: b }),
        });
      }
      continue;
    }
    const from = settings(a);
    const to = settings(b);
    for (const key of [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()) {
      if (same(from[key], to[key])) continue;
      changes.push({
        path: `${path}.${capabilityOf(b)}.${key}`,
        ...(from[key] === undefined ? {} : { from: from[key] }),
        ...(to[key] === undefined ? {} : { to: to[key] }),
      });
    }
  }
  return changes;
}
