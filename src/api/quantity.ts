// Kubernetes resource.Quantity, ported from k8s.io/apimachinery/pkg/api/resource
// (quantity.go, amount.go, suffix.go, math.go at v0.36.3) so the operator reads a quantity
// exactly as the apiserver does: which strings parse at all, the value they stand for
// (rounded up to nanos, BinarySI capped at 2^63-1), and the string the apiserver writes back
// ("1.5Gi" -> "1536Mi", "0.0000000001" -> "1n", "1000E" -> "1").
//
// Values are exact decimals (unscaled bigint x 10^exp) and are never materialised as a
// power of ten: "1e999" stays { unscaled: 1n, exp: 999 }.

export type QuantityFormat = 'DecimalExponent' | 'BinarySI' | 'DecimalSI';

export interface Quantity {
  /** The value is unscaled x 10^exp. */
  readonly unscaled: bigint;
  readonly exp: number;
  readonly format: QuantityFormat;
  /** apimachinery keeps the input string when it is already in a canonical-looking form. */
  readonly text?: string;
}

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
/** apimachinery's maxInt64Factors: more digits than this leave its int64 fast path. */
const MAX_INT64_FACTORS = 18;
const NANO = -9;
/**
 * apimachinery does its scale arithmetic in int32 and, past that range, wraps around (and
 * can loop for a very long time: "1e2147483648" never returns). Such inputs are refused
 * here instead of imitated; the CRD refuses exponents of more than three digits anyway.
 */
const MAX_ABS_EXPONENT = 1_000_000_000;

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_SUFFIX_OF = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_SUFFIX_OF = new Map(Object.entries(BINARY_SUFFIXES).map(([s, e]) => [e, s]));
const SUFFIX_LETTERS = 'eEinumkKMGTP';

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

interface Scanned {
  positive: boolean;
  value: string;
  num: string;
  denom: string;
  suffix: string;
}

/** parseQuantityString: sign, numerator without leading zeros, denominator, suffix. */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === '-') {
    positive = false;
    pos++;
  } else if (str[0] === '+') {
    pos++;
  }
  while (pos < end && str[pos] === '0') pos++;
  if (pos >= end) return { positive, value: '0', num: '0', denom: '', suffix: '' };
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value: str, num: str.slice(pos), denom: '', suffix: '' };
  const num = str.slice(pos, i) || '0';
  pos = i;
  let denom = '';
  if (str[pos] === '.') {
    pos++;
    i = pos;
    while (i < end && isDigit(str[i])) i++;
    denom = str.slice(pos, i);
    if (i >= end) return { positive, value: str, num, denom, suffix: '' };
    pos = i;
  }
  const value = str.slice(0, pos);
  const suffixStart = pos;
  while (pos < end && SUFFIX_LETTERS.includes(str[pos] as string)) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str[pos])) pos++;
  // A character that is neither suffix letter, sign nor digit, or digits then more letters.
  if (pos < end) throw new QuantityError(`"${str}" is not a quantity`);
  return { positive, value, num, denom, suffix: str.slice(suffixStart) };
}

interface Interpreted {
  base: 10 | 2;
  exponent: number;
  format: QuantityFormat;
}

/** Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, int64 range. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > MAX_INT64 || v < MIN_INT64 ? undefined : v;
}

function interpret(suffix: string): Interpreted | undefined {
  const dec = DECIMAL_SUFFIXES[suffix];
  if (dec !== undefined) return { base: 10, exponent: dec, format: 'DecimalSI' };
  const bin = BINARY_SUFFIXES[suffix];
  if (bin !== undefined) return { base: 2, exponent: bin, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E')) {
    const parsed = parseInt64(suffix.slice(1));
    if (parsed === undefined) return undefined;
    // int32(parsed), as apimachinery converts it.
    const exponent = Number(BigInt.asIntN(32, parsed));
    if (Math.abs(exponent) > MAX_ABS_EXPONENT) {
      throw new QuantityError(`exponent of "${suffix}" is out of range`);
    }
    return { base: 10, exponent, format: 'DecimalExponent' };
  }
  return undefined;
}

/** inf.Dec.SetString: an optional sign, digits with at most one '.', at least one digit. */
function decimalOf(value: string): { unscaled: bigint; exp: number } | undefined {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(value);
  if (!m) return undefined;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  if (int.length + frac.length === 0) return undefined;
  const digits = BigInt(`${int}${frac}` || '0');
  return { unscaled: m[1] === '-' ? -digits : digits, exp: -frac.length };
}

const abs = (v: bigint) => (v < 0n ? -v : v);
const digitCount = (v: bigint) => (v === 0n ? 0 : abs(v).toString().length);
const pow10 = (n: number) => 10n ** BigInt(n);

/** |unscaled| x 10^exp rounded up (away from zero) to `exp >= minExp`. */
function roundUpTo(unscaled: bigint, exp: number, minExp: number): { unscaled: bigint; exp: number } {
  if (exp >= minExp || unscaled === 0n) return { unscaled, exp };
  const shift = minExp - exp;
  const sign = unscaled < 0n ? -1n : 1n;
  const a = abs(unscaled);
  // Below one unit of the target scale: the smallest non-zero value (no huge power of ten).
  if (digitCount(a) <= shift) return { unscaled: sign, exp: minExp };
  const d = pow10(shift);
  const q = a / d + (a % d === 0n ? 0n : 1n);
  return { unscaled: sign * q, exp: minExp };
}

function int64Multiply(a: bigint, b: bigint): bigint | undefined {
  const c = a * b;
  return c > MAX_INT64 || c < MIN_INT64 ? undefined : c;
}

/** resource.ParseQuantity: throws a QuantityError where it returns an error. */
export function parseQuantity(str: string): Quantity {
  if (str.length === 0) throw new QuantityError('an empty string is not a quantity');
  if (str === '0') return { unscaled: 0n, exp: 0, format: 'DecimalSI', text: '0' };
  const { positive, value, num, denom, suffix } = scan(str);
  const interpreted = interpret(suffix);
  if (!interpreted) throw new QuantityError(`"${str}" has an unknown suffix "${suffix}"`);
  const { base, exponent, format } = interpreted;

  let precision = 0;
  let scale = 0;
  let mantissa = 1n;
  if (format === 'BinarySI') {
    if (exponent >= 0 && denom.length === 0) {
      mantissa = 1n << BigInt(exponent);
      precision = 15 - num.length - Math.trunc((exponent * 3) / 10) - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = MAX_INT64_FACTORS - (num.length + denom.length);
  }

  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= NANO) {
      const shifted = num + denom;
      const v = BigInt(shifted);
      const product = int64Multiply(v, mantissa);
      if (product !== undefined) {
        const result = positive ? product : -product;
        const keep =
          format === 'BinarySI'
            ? exponent % 10 === 0 && (v & 7n) !== 0n
            : scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0';
        return { unscaled: result, exp: scale, format, ...(keep ? { text: str } : {}) };
      }
    }
  }

  const dec = decimalOf(value);
  if (!dec) throw new QuantityError(`"${str}" has no digits`);
  let { unscaled, exp } = dec;
  if (base === 10) exp += exponent;
  else unscaled *= 1n << BigInt(exponent);
  // Non-zero values round up to the smallest representable amount (1n), never to zero.
  ({ unscaled, exp } = roundUpTo(unscaled, exp, NANO));
  let fmt = format;
  if (format === 'BinarySI') {
    if (compareDecimal(abs(unscaled), exp, MAX_INT64, 0) > 0) {
      unscaled = unscaled < 0n ? -MAX_INT64 : MAX_INT64;
      exp = 0;
    }
    if (unscaled !== 0n && compareDecimal(abs(unscaled), exp, 1n, 0) < 0) fmt = 'DecimalSI';
  }
  return { unscaled, exp, format: fmt };
}

/** Whether resource.ParseQuantity accepts `str`. */
export function isQuantity(str: string): boolean {
  try {
    parseQuantity(str);
    return true;
  } catch (e) {
    if (e instanceof QuantityError) return false;
    throw e;
  }
}

/** Compares a x 10^ea with b x 10^eb without building large powers of ten. */
function compareDecimal(a: bigint, ea: number, b: bigint, eb: number): number {
  const sa = a === 0n ? 0 : a < 0n ? -1 : 1;
  const sb = b === 0n ? 0 : b < 0n ? -1 : 1;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (sa === 0) return 0;
  // Same sign: compare magnitudes by order first (digits + exponent), then exactly.
  const oa = digitCount(a) + ea;
  const ob = digitCount(b) + eb;
  let mag: number;
  if (oa !== ob) mag = oa < ob ? -1 : 1;
  else {
    const e = Math.min(ea, eb);
    const x = abs(a) * pow10(ea - e);
    const y = abs(b) * pow10(eb - e);
    mag = x === y ? 0 : x < y ? -1 : 1;
  }
  return sa < 0 ? 0 - mag : mag;
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  return compareDecimal(a.unscaled, a.exp, b.unscaled, b.exp);
}

export const sign = (q: Quantity) => (q.unscaled === 0n ? 0 : q.unscaled < 0n ? -1 : 1);

/** The value rounded up (away from zero) to a whole number, as bigint. */
export function ceilInteger(q: Quantity): bigint {
  if (q.exp >= 0) return q.unscaled * pow10(q.exp);
  return roundUpTo(q.unscaled, q.exp, 0).unscaled;
}

/** Quantity.RoundUp(scale): the value at no finer than 10^scale, rounded away from zero. */
export function roundUp(q: Quantity, scale: number): Quantity {
  // Already that coarse: unchanged, and a kept input string stays.
  if (q.exp >= scale) return q;
  const r = roundUpTo(q.unscaled, q.exp, scale);
  return { unscaled: r.unscaled, exp: r.exp, format: q.format };
}

/** Strips factors of `base` from |v| (removeInt64Factors / removeBigIntFactors). */
function removeFactors(v: bigint, base: bigint): { value: bigint; times: number } {
  let value = v;
  let times = 0;
  if (value === 0n) return { value, times };
  while (value % base === 0n) {
    value /= base;
    times++;
  }
  return { value, times };
}

/** CanonicalizeBytes: the string apimachinery writes for this value and format. */
export function canonical(q: Quantity): string {
  if (q.text !== undefined) return q.text;
  if (q.unscaled === 0n) return '0';
  let format = q.format;
  if (format === 'BinarySI') {
    if (compareDecimal(q.unscaled, q.exp, -1024n, 0) > 0 && compareDecimal(q.unscaled, q.exp, 1024n, 0) < 0) format = 'DecimalSI';
    else if (q.exp < 0 && q.unscaled % pow10(-q.exp) !== 0n) format = 'DecimalSI';
  }
  if (format === 'BinarySI') {
    const { value, times } = removeFactors(ceilInteger(q), 1024n);
    return `${value}${BINARY_SUFFIX_OF.get(times * 10) ?? ''}`;
  }
  const { value, times } = removeFactors(q.unscaled, 10n);
  let mantissa = value;
  let exp = q.exp + times;
  // Down to the next multiple of three, as Go's truncating % leaves it.
  while (exp % 3 !== 0) {
    mantissa *= 10n;
    exp--;
  }
  if (format === 'DecimalExponent') return exp === 0 ? `${mantissa}` : `${mantissa}e${exp}`;
  // DecimalSI past E (or below n) has no suffix: apimachinery then writes the mantissa alone.
  return `${mantissa}${DECIMAL_SUFFIX_OF.get(exp) ?? ''}`;
}

/**
 * What the apiserver stores for a quantity in a core/v1 ResourceList (container resources,
 * volumeClaimTemplates storage): Quantity.UnmarshalJSON trims spaces, ParseQuantity reads
 * it, and SetDefaults_ResourceList rounds it up to milli precision.
 */
export function resourceListCanonical(v: string | number): string {
  return canonical(roundUp(parseQuantity(String(v).trim()), -3));
}

/** The quantity as a JS number: exact only for values a double holds exactly. */
export function quantityToNumber(q: Quantity): number {
  return Number(`${q.unscaled}e${q.exp}`);
}
