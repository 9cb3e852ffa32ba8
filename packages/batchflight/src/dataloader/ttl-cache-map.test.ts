/** TtlCacheMap keeps Map semantics on top of the cache's string-keyed MemoryCacheStore. */
import { describe, expect, it } from 'vitest';
import { TestClock } from '@batchflight/testing';
import { TtlCacheMap } from './ttl-cache-map.js';

describe('TtlCacheMap over the cache store', () => {
  it('tells keys apart as a Map does (SameValueZero), objects and symbols by identity', () => {
    const map = new TtlCacheMap<unknown, string>();
    const a = { id: 1 };
    const b = { id: 1 };
    const s = Symbol('s');
    const entries: [unknown, string][] = [
      [1, 'number'],
      ['1', 'string'],
      [1n, 'bigint'],
      [true, 'true'],
      ['t', 'string t'],
      [null, 'null'],
      [undefined, 'undefined'],
      [NaN, 'nan'],
      [a, 'a'],
      [b, 'b'],
      [s, 's'],
      [Symbol.for('r'), 'registered'],
    ];
    for (const [key, value] of entries) map.set(key, value);
    for (const [key, value] of entries) expect(map.get(key)).toBe(value);
    expect(map.get(-0)).toBeUndefined();
    map.set(-0, 'zero');
    expect(map.get(0)).toBe('zero'); // 0 and -0 are one key, as in a Map
    expect(map.get({ id: 1 })).toBeUndefined();
    expect(map.get(Symbol('s'))).toBeUndefined();
    expect(map.size).toBe(entries.length + 1);
    expect(map.delete(a)).toBe(true);
    expect(map.get(a)).toBeUndefined();
    expect(map.get(b)).toBe('b');
  });

  it('expires on read at ttlMs and evicts the least recently used beyond maxEntries', async () => {
    const clock = new TestClock();
    const map = new TtlCacheMap<string, number>({ ttlMs: 10, maxEntries: 2, clock });
    map.set('a', 1).set('b', 2);
    expect(map.get('a')).toBe(1); // a is now more recently used than b
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    await clock.advance(10);
    expect(map.get('a')).toBeUndefined();
    expect(() => new TtlCacheMap({ ttlMs: 0 })).toThrow(
      'new TtlCacheMap(): option ttlMs must be a number > 0, got 0.',
    );
  });
});
