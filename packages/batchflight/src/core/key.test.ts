import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argumentsKey, checkedKey, stableKey } from './key.js';
import { MAX_KEY_DEPTH } from './key-kinds.js';

class Money {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}
  toJSON(): unknown {
    return { amount: this.amount, currency: this.currency };
  }
}
/** Same toJSON() shape as Money, another class: never the same key. */
class Price extends Money {}
class PrivateId {
  readonly #id: number;
  constructor(id: number) {
    this.#id = id;
  }
  get id(): number {
    return this.#id;
  }
}

/**
 * The equality keys must agree with, written independently of the encoders:
 * numbers by SameValueZero (`-0` is `0`, `NaN` is `NaN`), a hole differs from
 * `undefined`, plain and null-prototype objects alike by own enumerable
 * members, Map and Set by their entries in any order, typed arrays by type
 * and bytes, class instances by class and `toJSON()`, boxed values by class
 * and value.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false;
  if (typeof a !== 'object' || a === null || b === null) {
    return a === b || (Number.isNaN(a) && Number.isNaN(b));
  }
  const x = a;
  const y = b as object;
  if (Array.isArray(x) || Array.isArray(y)) {
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      if (i in x !== i in y || !sameValue(x[i], y[i])) return false;
    }
    return true;
  }
  const plain = (o: object): boolean => {
    const proto = Object.getPrototypeOf(o) as unknown;
    return proto === Object.prototype || proto === null;
  };
  if (plain(x) || plain(y)) {
    if (!plain(x) || !plain(y)) return false;
    const names = Object.keys(x).sort();
    if (JSON.stringify(names) !== JSON.stringify(Object.keys(y).sort())) return false;
    return names.every((n) =>
      sameValue((x as Record<string, unknown>)[n], (y as Record<string, unknown>)[n]),
    );
  }
  if (x.constructor !== y.constructor) return false;
  if (x instanceof Date) return sameValue(x.getTime(), (y as Date).getTime());
  if (x instanceof Map) return sameItems([...x], [...(y as Map<unknown, unknown>)]);
  if (x instanceof Set) return sameItems([...x], [...(y as Set<unknown>)]);
  if (ArrayBuffer.isView(x)) {
    return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
      Buffer.from(
        (y as Uint8Array).buffer,
        (y as Uint8Array).byteOffset,
        (y as Uint8Array).byteLength,
      ),
    );
  }
  if (x instanceof Money) return sameValue(x.toJSON(), (y as Money).toJSON());
  return sameValue(
    (x as { valueOf(): unknown }).valueOf(),
    (y as { valueOf(): unknown }).valueOf(),
  );
}

/** Same items in any order (greedy matching is exact: sameValue is an equivalence). */
function sameItems(xs: unknown[], ys: unknown[]): boolean {
  if (xs.length !== ys.length) return false;
  const left = [...ys];
  return xs.every((item) => {
    const at = left.findIndex((other) => sameValue(item, other));
    if (at < 0) return false;
    left.splice(at, 1);
    return true;
  });
}

/**
 * An equal value built anew: Maps and Sets refilled in reverse order, `0` and
 * `-0` swapped. With `nearMiss`, also a value that differs by what a careless
 * encoder would miss: holes and `undefined` elements swapped, a `Money` for a
 * `Price`, a boxed number for its primitive.
 */
function rebuild(value: unknown, nearMiss = false): unknown {
  if (typeof value === 'number') {
    if (nearMiss && value === 1) return new Number(1);
    return value === 0 ? (Object.is(value, 0) ? -0 : 0) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      if (i in value) {
        if (!nearMiss || value[i] !== undefined) out[i] = rebuild(value[i], nearMiss);
      } else if (nearMiss) out[i] = undefined;
    }
    return out;
  }
  if (value instanceof Map)
    return new Map([...value].reverse().map(([k, v]) => [rebuild(k), rebuild(v)]));
  if (value instanceof Set) return new Set([...value].reverse().map((item) => rebuild(item)));
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (value instanceof Money)
    return new (value.constructor as typeof Money)(value.amount, value.currency);
  if (value instanceof Number) return new Number(value.valueOf());
  if (value instanceof String) return new String(value.valueOf());
  const out: Record<string, unknown> =
    Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
  for (const name of Object.keys(value).reverse()) {
    out[name] = rebuild((value as Record<string, unknown>)[name], nearMiss);
  }
  return out;
}

const leaf = fc.oneof(
  fc.constantFrom<unknown>(0, -0, NaN, 1, '1', '', 'n1', true, false, null, undefined, 1n, 0n),
  fc.integer({ min: -2, max: 2 }),
  fc.double(),
  fc.string({ maxLength: 3 }),
  fc.date({ min: new Date(0), max: new Date(9), noInvalidDate: false }),
  fc.uint8Array({ maxLength: 2 }),
  fc.integer({ min: 0, max: 2 }).map((n) => new Number(n)),
  fc.constantFrom('', 'a').map((s) => new String(s)),
);
const names = fc.constantFrom('a', 'b', '', 'a,b');
const { value: keyable } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.sparseArray(tie('value'), { maxLength: 4 }),
    fc.dictionary(names, tie('value'), { maxKeys: 3 }),
    fc
      .dictionary(names, tie('value'), { maxKeys: 2 })
      .map((d) => Object.assign(Object.create(null) as object, d)),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 2 }).map((e) => new Map(e)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
    fc
      .tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom('EUR', 'USD'), fc.boolean())
      .map(([n, c, price]) => (price ? new Price(n, c) : new Money(n, c))),
  ),
}));
/**
 * Pairs of argument lists: independent ones, equal ones built anew, and near
 * misses. An argument list itself is never sparse (`f(...[, 1])` passes
 * `undefined`), so only its arguments are rebuilt.
 */
const argumentLists = fc.oneof(
  fc.tuple(fc.array(keyable, { maxLength: 3 }), fc.array(keyable, { maxLength: 3 })),
  fc.array(keyable, { maxLength: 3 }).map((a) => [a, a.map((v) => rebuild(v))] as const),
  fc.array(keyable, { maxLength: 3 }).map((a) => [a, a.map((v) => rebuild(v, true))] as const),
);

function* generator(): Generator<number> {
  yield 1;
}
/** Values a key cannot see into, with how the error names their kind. */
const unkeyables: readonly (readonly [() => unknown, string])[] = [
  [() => new PrivateId(1), 'an instance of PrivateId without toJSON()'],
  [() => Promise.resolve(1), 'a Promise'],
  [() => new Error('a'), 'an Error (Error)'],
  [() => new RangeError('a'), 'an Error (RangeError)'],
  [() => new WeakMap(), 'a WeakMap'],
  [() => new WeakSet(), 'a WeakSet'],
  [() => new WeakRef({}), 'a WeakRef'],
  [() => [1].values(), 'an Array Iterator'],
  [() => generator(), 'a Generator'],
  [() => Object(Symbol('s')) as object, 'a Symbol'],
  [() => () => 1, 'a function'],
  [() => Symbol('s'), 'a symbol'],
];
/** Containers to nest an unkeyable value in, outermost first. */
const containerPath = fc.array(fc.constantFrom('array', 'object', 'map', 'set', 'json'), {
  maxLength: 4,
});
/** Nests `value` in `path`'s containers; returns it with the path the error must name. */
function wrapIn(value: unknown, path: readonly string[]): [unknown, string] {
  let wrapped = value;
  let where = '';
  for (const container of [...path].reverse()) {
    switch (container) {
      case 'array':
        wrapped = [0, wrapped];
        where = `[1]${where}`;
        break;
      case 'object':
        wrapped = { a: 1, b: wrapped };
        where = `.b${where}`;
        break;
      case 'map':
        wrapped = new Map([[wrapped, 1]]);
        where = ` (Map entry 0)${where}`;
        break;
      case 'set':
        wrapped = new Set([wrapped]);
        where = ` (Set item 0)${where}`;
        break;
      default: {
        const content = wrapped;
        wrapped = new (class Box {
          toJSON(): unknown {
            return content;
          }
        })();
        where = `.toJSON()${where}`;
      }
    }
  }
  return [wrapped, where];
}

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

  it('never lets two different argument lists share a key, and gives equal ones the same', () => {
    fc.assert(
      fc.property(argumentLists, ([a, b]) => {
        expect(argumentsKey(a) === argumentsKey(b)).toBe(sameValue(a, b));
      }),
      { numRuns: 3_000 },
    );
  });

  it('refuses a value without content a key can see, naming its kind and path', () => {
    fc.assert(
      fc.property(fc.constantFrom(...unkeyables), containerPath, ([make, kind], path) => {
        const [wrapped, where] = wrapIn(make(), path);
        expect(() => argumentsKey(['x', wrapped])).toThrow(
          new TypeError(`Cannot build a key: argument 1${where} is ${kind}`).message,
        );
        expect(() => argumentsKey(['x', wrapped])).toThrow(TypeError);
      }),
      { numRuns: 500 },
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

describe('values a careless encoder would key alike (issue 18 findings 3, 16a, 23)', () => {
  it('refuses class instances with private state, Promises, Errors and weak collections', () => {
    expect(() => stableKey(new PrivateId(1))).toThrow(
      'Cannot build a key: value is an instance of PrivateId without toJSON()',
    );
    expect(() => argumentsKey([Promise.resolve(1)])).toThrow('argument 0 is a Promise');
    expect(() => argumentsKey([1, { cause: new Error('a') }])).toThrow(
      'argument 1.cause is an Error (Error)',
    );
    expect(() => stableKey(new WeakMap())).toThrow('value is a WeakMap');
    expect(() => stableKey(new Map([[1, new WeakSet()]]))).toThrow(
      'value (Map entry 0) is a WeakSet',
    );
  });

  it('keys a class instance by its toJSON(), tagged with the class name', () => {
    expect(stableKey(new Money(1, 'EUR'))).toBe(stableKey(new Money(1, 'EUR')));
    expect(stableKey(new Money(1, 'EUR'))).not.toBe(stableKey(new Money(2, 'EUR')));
    expect(stableKey(new Money(1, 'EUR'))).not.toBe(stableKey(new Price(1, 'EUR')));
    expect(stableKey(new Money(1, 'EUR'))).not.toBe(stableKey({ amount: 1, currency: 'EUR' }));
    const self = new (class Loop {
      toJSON(): unknown {
        return this;
      }
    })();
    expect(() => stableKey(self)).toThrow('value.toJSON() is a cyclic reference');
  });

  it('tells a hole of a sparse array from undefined, and boxed values from primitives', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    expect(stableKey([, 1])).not.toBe(stableKey([undefined, 1]));
    expect(stableKey(new Number(1))).not.toBe(stableKey(1));
    expect(stableKey(new Number(1))).not.toBe(stableKey(new Number(2)));
    expect(stableKey(new String('a'))).toBe(stableKey(new String('a')));
  });

  it('keys -0 as 0 and every NaN alike (SameValueZero, as Map keys)', () => {
    expect(stableKey(-0)).toBe(stableKey(0));
    expect(argumentsKey([{ x: -0 }])).toBe(argumentsKey([{ x: 0 }]));
    expect(stableKey(NaN)).toBe(stableKey(Number.NaN));
  });

  it('refuses a structure nested deeper than MAX_KEY_DEPTH with a TypeError, not a stack overflow', () => {
    const nest = (levels: number): unknown => {
      let deep: unknown = 0;
      for (let i = 0; i < levels; i++) deep = i % 2 === 0 ? [deep] : { a: deep };
      return deep;
    };
    expect(() => stableKey(nest(MAX_KEY_DEPTH))).not.toThrow();
    expect(() => argumentsKey([nest(MAX_KEY_DEPTH + 1)])).toThrow(
      `is nested more than ${String(MAX_KEY_DEPTH)} levels deep`,
    );
    expect(() => argumentsKey([nest(10_000)])).toThrow(TypeError);
  });
});
