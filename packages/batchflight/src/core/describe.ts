/**
 * A short, safe description of any value for error messages: strings are
 * quoted and cut, objects are named by their class, never serialised.
 */
/**
 * A short, safe description of a value for error messages.
 *
 * @example
 * ```ts
 * describe('user-1'); // '"user-1"'
 * describe(new Map()); // 'an instance of Map'
 * ```
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)}${typeof value === 'bigint' ? 'n' : ''}`;
    case 'function':
      return `a function${value.name ? ` (${value.name})` : ''}`;
    case 'symbol':
      return value.toString();
    default: {
      if (Array.isArray(value)) return `an array of length ${String(value.length)}`;
      const name = (value as { constructor?: { name?: string } }).constructor?.name;
      return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
    }
  }
}
