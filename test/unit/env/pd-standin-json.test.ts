// The PD stand-in's Go-compatible JSON pieces, against outputs of Go's encoding/json,
// time.Duration.String(), time.Time's RFC 3339 form and docker/go-units BytesSize.
import { describe, expect, it } from 'vitest';
import { goDuration, goJSON, goTime, humanBytes, u64 } from '../../env/pd/pd-standin-json.js';

describe('PD stand-in JSON formatting', () => {
  it('writes uint64 ids with every digit, indented like render.IndentJSON, with a trailing newline', () => {
    const text = goJSON({ member_id: u64('13711283423532012345'), names: [], x: undefined });
    expect(text).toBe('{\n  "member_id": 13711283423532012345,\n  "names": []\n}\n');
  });

  it('escapes <, > and & as Go does', () => {
    expect(goJSON('a<b>&c')).toBe('"a\\u003cb\\u003e\\u0026c"\n');
  });

  it('humanizes sizes with four significant digits and binary units', () => {
    expect(humanBytes(0)).toBe('0B');
    expect(humanBytes(1023)).toBe('1023B');
    expect(humanBytes(1024)).toBe('1KiB');
    expect(humanBytes(10 * 1024 ** 3)).toBe('10GiB');
    expect(humanBytes(10 * 1024 ** 3 - 250 * 1024 ** 2)).toBe('9.756GiB');
    expect(humanBytes(40 * 1024 ** 2)).toBe('40MiB');
  });

  it("formats durations like Go's Duration.String()", () => {
    const ms = 1_000_000n;
    expect(goDuration(0n)).toBe('0s');
    expect(goDuration(999n)).toBe('999ns');
    expect(goDuration(1500n * 1000n)).toBe('1.5ms');
    expect(goDuration(1500n * ms)).toBe('1.5s');
    expect(goDuration(61_000n * ms)).toBe('1m1s');
    expect(goDuration(123_456n * ms)).toBe('2m3.456s');
    expect(goDuration(90n * 60_000n * ms)).toBe('1h30m0s');
  });

  it('formats times as RFC 3339 in UTC with trailing zeros of the fraction dropped', () => {
    expect(goTime(1_755_600_000n * 1_000_000_000n)).toBe('2025-08-19T10:40:00Z');
    expect(goTime(1_755_600_123_456_000_000n)).toBe('2025-08-19T10:42:03.456Z');
    expect(goTime(1_755_600_123_000_000_001n)).toBe('2025-08-19T10:42:03.000000001Z');
    expect(goTime(0n)).toBe('1970-01-01T00:00:00Z');
  });
});
