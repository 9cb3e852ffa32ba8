import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argumentsKey, checkedKey, stableKey } from './key.js';

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

describe('argumentsKey and stableKey', () => {
  it("the fast encoder produces exactly the checked encoder's text", () => {
    fc.assert(
      fc.property(anything, (value) => {
        expect(argumentsKey([value])).toBe(checkedKey(value));
        expect(stableKey(value)).toBe(checkedKey(value));
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
          expect(argumentsKey(a) === argumentsKey(b)).toBe(same);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('quotes top-level strings of an argument list, so separators cannot forge arguments', () => {
    expect(argumentsKey(['a,sb', 'c'])).not.toBe(argumentsKey(['a', 'b,sc']));
    expect(argumentsKey(['a)', 'b'])).not.toBe(argumentsKey(['a', ')b']));
    expect(argumentsKey([1, 2])).not.toBe(argumentsKey([[1, 2]]));
    expect(argumentsKey([])).not.toBe(argumentsKey([undefined]));
  });

  it('ignores object key order and tells undefined members from missing ones', () => {
    expect(argumentsKey([{ a: 1, b: { c: 2, d: 3 } }, 'x'])).toBe(
      argumentsKey([{ b: { d: 3, c: 2 }, a: 1 }, 'x']),
    );
    expect(argumentsKey([{ a: undefined }])).not.toBe(argumentsKey([{}]));
    expect(argumentsKey([new Date(5)])).toBe('d5');
  });

  it('names a function, a symbol or a cycle found in an argument', () => {
    expect(() => argumentsKey([1, { user: { cb: () => 1 } }])).toThrow(
      'Cannot build a key: argument 1.user.cb is a function',
    );
    expect(() => argumentsKey([Symbol('s')])).toThrow(TypeError);
    const cyclic: Record<string, unknown> = { list: [] };
    (cyclic['list'] as unknown[]).push(cyclic);
    expect(() => argumentsKey([cyclic])).toThrow('is a cyclic reference');
    expect(() => argumentsKey(['x', cyclic])).toThrow('argument 1.list[0] is a cyclic reference');
  });

  it('accepts shared but acyclic references and deep structures', () => {
    const shared = { x: 1 };
    expect(argumentsKey([{ a: shared, b: shared }])).toBe(stableKey({ a: shared, b: shared }));
    let deep: unknown = 0;
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(argumentsKey([deep])).toBe(stableKey(deep));
  });
});
