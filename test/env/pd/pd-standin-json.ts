// How the PD stand-in writes JSON so that it reads like pd-server's (Go encoding/json through
// unrolled/render with IndentJSON): two-space indent, a trailing newline, HTML characters
// escaped, uint64 ids as raw integers (a JS number would round ids above 2^53), sizes as
// humanized strings, times as RFC 3339 and durations as Go's Duration.String().
import { LosslessNumber, stringify } from 'lossless-json';

/** A uint64 (decimal string or bigint) written as a bare JSON integer with every digit. */
export const u64 = (v: string | bigint | number): LosslessNumber => new LosslessNumber(String(v));

/** The body of `rd.JSON(w, status, v)`: indented, newline-terminated, `<>&` escaped like Go. */
export function goJSON(value: unknown): string {
  const text = stringify(value, undefined, 2) ?? 'null';
  return `${text.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')}\n`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** docker/go-units BytesSize (`%.4g` + binary unit), which PD's typeutil.ByteSize uses: 10 GiB → "10GiB". */
export function humanBytes(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${String(Number(size.toPrecision(4)))}${BINARY_UNITS[unit]}`;
}

/** Go's time.Time JSON (RFC 3339 with trimmed nanoseconds), in UTC, from nanoseconds since the epoch. */
export function goTime(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n;
  const frac = nanos % 1_000_000_000n;
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d+Z$/, '');
  const fraction = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${fraction}Z`;
}

/** Go's time.Duration.String(), e.g. "1h2m3.5s", "1.5ms", "0s". */
export function goDuration(nanos: bigint): string {
  if (nanos === 0n) return '0s';
  const neg = nanos < 0n;
  const n = neg ? -nanos : nanos;
  const sign = neg ? '-' : '';
  if (n < 1_000n) return `${sign}${n}ns`;
  if (n < 1_000_000n) return `${sign}${fixed(n, 1_000n)}µs`;
  if (n < 1_000_000_000n) return `${sign}${fixed(n, 1_000_000n)}ms`;
  const hours = n / 3_600_000_000_000n;
  const minutes = (n / 60_000_000_000n) % 60n;
  const secondsPart = fixed(n % 60_000_000_000n, 1_000_000_000n);
  if (hours > 0n) return `${sign}${hours}h${minutes}m${secondsPart}s`;
  if (minutes > 0n) return `${sign}${minutes}m${secondsPart}s`;
  return `${sign}${secondsPart}s`;
}

/** `n / unit` as a decimal with trailing zeros trimmed (integer division keeps it exact). */
function fixed(n: bigint, unit: bigint): string {
  const whole = n / unit;
  const rest = n % unit;
  if (rest === 0n) return whole.toString();
  const digits = unit.toString().length - 1;
  return `${whole}.${rest.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}
