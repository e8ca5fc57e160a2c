// The Quantity port against apimachinery v0.36.3: the strings below are what
// resource.ParseQuantity(s).String() and, after RoundUp(-3) (SetDefaults_ResourceList),
// String() return (read from a Go program built against k8s.io/apimachinery@v0.36.3);
// test/integration/quantity.test.ts checks generated values against a live apiserver.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonical,
  ceilInteger,
  compareQuantities,
  isQuantity,
  parseQuantity,
  resourceListCanonical,
  roundUp,
} from '../../src/api/quantity.js';

const APIMACHINERY: Array<[string, string, string]> = [
  ['0', '0', '0'],
  ['1', '1', '1'],
  ['1000m', '1', '1'],
  ['1.5', '1500m', '1500m'],
  ['1.5Gi', '1536Mi', '1536Mi'],
  ['1024Mi', '1Gi', '1Gi'],
  ['0.5Ki', '512', '512'],
  ['0.0000000001', '1n', '1m'],
  ['100000000000000000000Ei', '9223372036854775807', '9223372036854775807'],
  ['8Ei', '9223372036854775807', '9223372036854775807'],
  ['1000E', '1', '1'],
  ['10000000000000000000000', '10', '10'],
  ['+1Gi', '+1Gi', '+1Gi'],
  ['01Gi', '01Gi', '01Gi'],
  ['1.Gi', '1.Gi', '1.Gi'],
  ['1.500', '1.500', '1.500'],
  ['1e3', '1e3', '1e3'],
  ['1E3', '1E3', '1E3'],
  ['1e4', '10e3', '10e3'],
  ['1e-3', '1e-3', '1e-3'],
  ['1e999', '1e999', '1e999'],
  ['1500u', '1500u', '2m'],
  ['1n', '1n', '1m'],
  ['-1Gi', '-1Gi', '-1Gi'],
  ['-0', '0', '0'],
  ['Ki', '0', '0'],
  ['Mi', '0', '0'],
  ['.', '0', '0'],
  ['-', '0', '0'],
  ['1.0000001Ki', '1024000102400n', '1024001m'],
  ['12e6', '12e6', '12e6'],
  ['0.1', '100m', '100m'],
];
const NOT_QUANTITIES = ['', 'abc', '1GB', '1 Gi', '200K', 'Ei', '+.Ei', '1e', '1e+', '1.2.3Gi', '1ee3'];

describe('Quantity, as apimachinery reads and writes it', () => {
  it.each(APIMACHINERY)('%s is written back as %s, and as %s in a ResourceList', (input, written, inResourceList) => {
    const q = parseQuantity(input);
    expect(canonical(q)).toBe(written);
    expect(canonical(roundUp(q, -3))).toBe(inResourceList);
    expect(resourceListCanonical(input)).toBe(inResourceList);
  });

  it.each(NOT_QUANTITIES)('refuses %j as ParseQuantity does', (input) => {
    expect(isQuantity(input)).toBe(false);
    expect(() => parseQuantity(input)).toThrow();
  });

  it('refuses an exponent apimachinery cannot handle (it wraps int32 and loops) instead of imitating it', () => {
    expect(isQuantity('1e2147483648')).toBe(false);
    expect(isQuantity('1e999999999')).toBe(true);
  });

  it('compares by value without building huge powers of ten', () => {
    const q = (s: string) => parseQuantity(s);
    expect(compareQuantities(q('1Gi'), q('1024Mi'))).toBe(0);
    expect(compareQuantities(q('1G'), q('1Gi'))).toBe(-1);
    expect(compareQuantities(q('1e999'), q('1Ei'))).toBe(1);
    expect(compareQuantities(q('-1e999'), q('1n'))).toBe(-1);
    expect(compareQuantities(q('1e-999'), q('1n'))).toBe(0); // rounded up to 1n when read
    expect(ceilInteger(q('1.5'))).toBe(2n);
    expect(ceilInteger(q('1.5Gi'))).toBe(1610612736n);
  });

  it('writes a string that reads back as the same value and is written the same again', () => {
    const quantity = fc
      .tuple(
        fc.constantFrom('', '+', '-'),
        fc.stringMatching(/^[0-9]{0,22}$/),
        fc.option(fc.stringMatching(/^[0-9]{0,12}$/)),
        fc.constantFrom('', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'e3', 'E-2', 'e+7'),
      )
      .map(([sign, int, frac, suffix]) => `${sign}${int}${frac === null ? '' : `.${frac}`}${suffix}`)
      .filter(isQuantity);
    fc.assert(
      fc.property(quantity, (s) => {
        const written = canonical(parseQuantity(s));
        // DecimalSI past E has no suffix in apimachinery ("1000E" is written "1"): not a round trip there.
        const again = parseQuantity(written);
        expect(canonical(again)).toBe(written);
        if (!/[EP]$/.test(s) && !/^[+-]?0*[0-9]{19,}/.test(s)) expect(compareQuantities(again, parseQuantity(s))).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
