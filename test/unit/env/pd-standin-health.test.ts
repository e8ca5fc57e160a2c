// The PD stand-in's etcd /health on the client port, as pd-server v8.5.5's embedded etcd
// (v3.5 etcdhttp) answers it: what the PD pods' readiness probe reads.
import { describe, expect, it } from 'vitest';
import { StandinCluster } from '../../env/pd/pd-standin-cluster.js';
import { type HttpContext, handlePDRequest } from '../../env/pd/pd-standin-http.js';

function setup() {
  const c = new StandinCluster(
    [0, 1, 2].map((i) => ({ index: i, name: `pd-${i}`, id: String(10n ** 19n + BigInt(i)), clientURL: `http://c${i}`, peerURL: `http://p${i}` })),
    { disconnectAfterMs: 20_000, maxStoreDownTimeMs: 30_000 },
  );
  const ctx = (i: number): HttpContext => ({ cluster: c, member: c.members[i]!, deployPath: '/', checkSoon: () => {}, afterMemberRemoved: () => {} });
  return { c, ctx };
}

const health = (ctx: HttpContext, url = '/health', method = 'GET') => handlePDRequest(ctx, { method, url, body: '' });

describe('PD stand-in: GET /health (etcd)', () => {
  it('answers 503 RAFT NO LEADER with one member of three running, 200 once a majority runs', async () => {
    const { c, ctx } = setup();
    c.setRunning(c.members[0]!, true);
    const lone = await health(ctx(0));
    expect(lone.status).toBe(503);
    expect(lone.body).toBe('{"health":"false","reason":"RAFT NO LEADER"}\n');
    expect(lone.contentType).toBe('text/plain; charset=utf-8');
    // serializable=true checks the local member only (etcd skips the leader check).
    expect((await health(ctx(0), '/health?serializable=true')).status).toBe(200);
    c.setRunning(c.members[1]!, true);
    const ok = await health(ctx(0));
    expect(ok).toMatchObject({ status: 200, body: '{"health":"true","reason":""}' });
    c.setRunning(c.members[1]!, false);
    expect((await health(ctx(0))).status).toBe(503);
  });

  it('answers 503 on a removed member that still runs, and 405 to anything but GET', async () => {
    const { c, ctx } = setup();
    for (const m of c.members) c.setRunning(m, true);
    c.members[2]!.removed = true;
    c.reelect();
    expect((await health(ctx(0))).status).toBe(200);
    expect((await health(ctx(2))).status).toBe(503);
    const post = await health(ctx(0), '/health', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers?.Allow).toBe('GET');
    // PD's own API is elsewhere; the root /health is not PD's /pd/api/v1/health.
    expect(JSON.parse((await health(ctx(0), '/pd/api/v1/health')).body)[0]).toMatchObject({ name: 'pd-0', health: true });
  });
});
