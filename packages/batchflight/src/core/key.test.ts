import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableKey } from '../core/index.js';
import { flightKey, flightValueKey } from './key.js';

const anything = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withNullPrototype: true,
  withSparseArray: true,
  withBoxedValues: true,
  withObjectString: true,
});

describe('flightKey', () => {
  it('encodes one argument exactly like the core stableKey', () => {
    fc.assert(
      fc.property(anything, (value) => {
        expect(flightKey([value])).toBe(stableKey(value));
        expect(flightValueKey(value)).toBe(stableKey(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('never lets two different argument lists share a key', () => {
    const primitive = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.array(primitive, { maxLength: 4 }),
        fc.array(primitive, { maxLength: 4 }),
        (a, b) => {
          const same = JSON.stringify(a) === JSON.stringify(b);
          expect(flightKey(a) === flightKey(b)).toBe(same);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('quotes top-level strings of an argument list, so separators cannot forge arguments', () => {
    expect(flightKey(['a,sb', 'c'])).not.toBe(flightKey(['a', 'b,sc']));
    expect(flightKey(['a)', 'b'])).not.toBe(flightKey(['a', ')b']));
    expect(flightKey([1, 2])).not.toBe(flightKey([[1, 2]]));
    expect(flightKey([])).not.toBe(flightKey([undefined]));
  });

  it('ignores object key order and tells undefined members from missing ones', () => {
    expect(flightKey([{ a: 1, b: { c: 2, d: 3 } }, 'x'])).toBe(
      flightKey([{ b: { d: 3, c: 2 }, a: 1 }, 'x']),
    );
    expect(flightKey([{ a: undefined }])).not.toBe(flightKey([{}]));
    expect(flightKey([new Date(5)])).toBe('d5');
  });

  it('names a function, a symbol or a cycle found in an argument', () => {
    expect(() => flightKey([1, { user: { cb: () => 1 } }])).toThrow(
      'Cannot build a key: argument 1.user.cb is a function',
    );
    expect(() => flightKey([Symbol('s')])).toThrow(TypeError);
    const cyclic: Record<string, unknown> = { list: [] };
    (cyclic['list'] as unknown[]).push(cyclic);
    expect(() => flightKey([cyclic])).toThrow('is a cyclic reference');
    expect(() => flightKey(['x', cyclic])).toThrow('argument 1.list[0] is a cyclic reference');
  });

  it('accepts shared but acyclic references and deep structures', () => {
    const shared = { x: 1 };
    expect(flightKey([{ a: shared, b: shared }])).toBe(stableKey({ a: shared, b: shared }));
    let deep: unknown = 0;
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(flightKey([deep])).toBe(stableKey(deep));
  });
});
