import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodePDBody, errorDetailOfBody, isPDError, PDError, pdCount, pdEnum, pdErrorFromResponse, pdId } from '../../../src/controller/pd/json.js';

describe('lossless PD JSON', () => {
  it('keeps a uint64 above 2^53 exact and reads counts as numbers', () => {
    const schema = z.object({ member_id: pdId, leader_count: pdCount });
    const out = decodePDBody(schema, 'GET', '/x', 200, '{"member_id": 13711283423532012345, "leader_count": 7}');
    expect(out).toEqual({ member_id: '13711283423532012345', leader_count: 7 });
    // the precision JSON.parse would lose
    expect(String(JSON.parse('13711283423532012345'))).not.toBe('13711283423532012345');
  });

  it('reads an absent protobuf enum as 0', () => {
    const schema = z.object({ state: pdEnum, node_state: pdEnum });
    expect(decodePDBody(schema, 'GET', '/x', 200, '{"node_state": 1}')).toEqual({ state: 0, node_state: 1 });
  });

  it('refuses a count that does not fit a JS number', () => {
    const schema = z.object({ region_count: pdCount });
    const err = catchError(() => decodePDBody(schema, 'GET', '/pd/api/v1/stores', 200, '{"region_count": 99999999999999999999}'));
    expect(err).toBeInstanceOf(PDError);
    expect((err as PDError).kind).toBe('BadResponse');
    expect((err as PDError).message).toContain('region_count');
  });

  it('turns a body that is not JSON into a BadResponse PDError', () => {
    const err = catchError(() => decodePDBody(z.object({}), 'GET', '/pd/api/v1/health', 200, '<html>oops</html>'));
    expect(isPDError(err) && err.kind).toBe('BadResponse');
    expect((err as PDError).path).toBe('/pd/api/v1/health');
  });
});

describe('PD error bodies', () => {
  it('flags the 500 "not bootstrapped" answer', () => {
    const body = JSON.stringify('[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first');
    const err = pdErrorFromResponse('GET', '/pd/api/v1/stores', 500, body);
    expect(err.notBootstrapped).toBe(true);
    expect(err.status).toBe(500);
    expect(err.kind).toBe('HTTP');
    expect(err.detail).toBe('[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first');
    expect(err.message).toContain('GET /pd/api/v1/stores');
  });

  it('does not flag other 500s or other statuses', () => {
    expect(pdErrorFromResponse('GET', '/p', 500, '"etcdserver: request timed out"').notBootstrapped).toBe(false);
    expect(pdErrorFromResponse('GET', '/p', 404, '"not bootstrapped"').notBootstrapped).toBe(false);
  });

  it('keeps a plain-text body as the detail', () => {
    const err = pdErrorFromResponse('GET', '/pd/api/v1/members', 502, 'Bad Gateway\n');
    expect(err.detail).toBe('Bad Gateway');
    expect(err.message).toContain('502');
  });

  it('reads the message of an API server Status body', () => {
    const status = { kind: 'Status', status: 'Failure', message: 'no endpoints available for service "basic-pd"', code: 503 };
    expect(errorDetailOfBody(JSON.stringify(status))).toBe('no endpoints available for service "basic-pd"');
  });

  it('names an empty body', () => {
    expect(errorDetailOfBody('')).toBe('(empty body)');
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
