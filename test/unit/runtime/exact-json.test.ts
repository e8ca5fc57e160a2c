import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LOSSLESS_MAX_DEPTH, parseExactJSON } from '../../../src/controller/runtime/exact-json.js';

describe('parseExactJSON', () => {
  it('keeps integers beyond 2^53 exact as bigints and gives plain numbers otherwise', () => {
    const v = parseExactJSON('{"a":9007199254740993,"b":-12345678901234567890,"c":42,"d":1.5,"e":1e300,"f":9007199254740991}') as Record<string, unknown>;
    expect(v).toEqual({ a: 9007199254740993n, b: -12345678901234567890n, c: 42, d: 1.5, e: 1e300, f: 9007199254740991 });
  });

  it('leaves digits inside strings alone, escaped quotes included', () => {
    expect(parseExactJSON('{"s":"9007199254740993 \\" 12345678901234567890","n":12345678901234567890}')).toEqual({
      s: '9007199254740993 " 12345678901234567890',
      n: 12345678901234567890n,
    });
  });

  it('keeps a __proto__ key as a key', () => {
    const v = parseExactJSON('{"__proto__":{"x":1},"big":9007199254740993}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'big']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it('parses 10,000 levels of nesting (the apiserver limit) without overflowing the stack', () => {
    const n = 10_000;
    const text = `{"big":9007199254740993,"deep":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`;
    const v = parseExactJSON(text) as { deep: unknown };
    let depth = 0;
    for (let node = v.deep as Record<string, unknown> | number; typeof node === 'object'; node = node.a as never) depth++;
    expect(depth).toBe(n);
    expect(n).toBeGreaterThan(LOSSLESS_MAX_DEPTH);
  });

  it('agrees with JSON.parse, except that integers beyond 2^53 are exact bigints', () => {
    const rounded = (v: unknown): unknown =>
      typeof v === 'bigint'
        ? Number(v)
        : Array.isArray(v)
          ? v.map(rounded)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rounded(x)]))
            : v;
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const exact = parseExactJSON(text);
        expect(rounded(exact)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });
});
