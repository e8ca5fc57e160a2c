// Issue 10 on the real node: a typo in spec.tikv.config or spec.pd.config of a running
// cluster stops at the binary's own --config-check (run in a one-off pod with the
// component's image; the stand-ins answer like tikv-server/pd-server v8.5.5), the status
// carries the checker's message, and no running pod is replaced. A valid change then goes
// through the same check and rolls out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../env/process.js';
import { clusterPath, getOrUndefined, mergePatchSpec } from '../support/kube.js';
import type { NodeBackend } from '../support/node-backend.js';
import type { Cluster } from '../support/scenario.js';
import { createCluster, nodeWithOperator, waitReady } from './clusters.js';

const NAME = 'cfg';
const PODS = [`${NAME}-pd-0`, `${NAME}-tikv-0`];

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  status?: { phase?: string; containerStatuses?: { restartCount: number }[] };
}

describe('node: config typos stop at --config-check; no running pod is replaced', () => {
  let b: NodeBackend;
  let ns: string;
  let uids: Record<string, string>;
  const cluster = () => getOrUndefined<Cluster>(b.kc, clusterPath(ns, NAME));
  const pod = (name: string) => getOrUndefined<Pod>(b.kc, `/api/v1/namespaces/${ns}/pods/${name}`);
  const toml = async (cm: string, key: string) =>
    (await getOrUndefined<{ data: Record<string, string> }>(b.kc, `/api/v1/namespaces/${ns}/configmaps/${cm}`))?.data[key];
  const progressing = (c: Cluster | undefined) => c?.status?.conditions?.find((x) => x.type === 'Progressing');

  beforeAll(async () => {
    ({ b, ns } = await nodeWithOperator());
    await createCluster(b, ns, NAME, { pd: { replicas: 1, config: { replication: { 'max-replicas': 1 } } }, tikv: { replicas: 1 } });
    await waitReady(b, ns, NAME);
    uids = {};
    for (const p of PODS) uids[p] = (await pod(p))!.metadata.uid;
  });
  afterAll(async () => {
    await b?.teardown();
  });

  /** Sets a config, waits for the refusal, and checks that nothing that runs changed. */
  async function refused(component: 'pd' | 'tikv', config: Record<string, unknown>, checker: string) {
    const file = component === 'pd' ? 'pd.toml' : 'tikv.toml';
    const cm = `${NAME}-${component}`;
    const before = await toml(cm, file);
    await mergePatchSpec(b.kc, ns, NAME, { [component]: { config } });
    const c = await waitFor(
      `ConfigCheckFailed for spec.${component}.config`,
      async () => {
        const c = await cluster();
        const p = progressing(c);
        return p?.reason === 'ConfigCheckFailed' && p.message.includes(`spec.${component}.config`) && c?.status?.observedGeneration === c?.metadata.generation ? c : undefined;
      },
      { timeoutMs: b.timeouts.change, intervalMs: 1000 },
    );
    const message = progressing(c)!.message;
    expect(message).toContain(checker);
    expect(message).toContain(`/${component === 'pd' ? 'pd' : 'tikv'}-server --config-check`);
    expect(await toml(cm, file)).toBe(before);
    for (const p of PODS) {
      const now = await pod(p);
      expect(now?.metadata.uid, `${p} not replaced`).toBe(uids[p]);
      expect(now?.status?.containerStatuses?.[0]?.restartCount, `${p} not restarted`).toBe(0);
    }
    // The cluster itself is as Ready as before; describe shows the Warning Event.
    expect(c.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    const describe = (await b.kubectl(['-n', ns, 'describe', 'tkc', NAME])).stdout;
    expect(describe).toMatch(/Warning\s+ConfigCheckFailed/);
    // The check ran in the component's own image.
    const checks = await getOrUndefined<{ items: Pod[] }>(b.kc, `/api/v1/namespaces/${ns}/pods?labelSelector=tikv.org/config-check=true`);
    const mine = (checks?.items ?? []).filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === `${component}-config-check`);
    expect(mine.some((p) => p.status?.phase === 'Failed'), JSON.stringify(mine.map((p) => [p.metadata.name, p.status?.phase]))).toBe(true);
  }

  it('a typo in spec.pd.config: pd-server --config-check names the undefined item, PD keeps running untouched', async () => {
    await refused('pd', { replication: { 'max-replicas': 1, 'max-replica': 1 } }, 'Config contains undefined item: replication.max-replica');
    // Back to what runs: the check of the running config is not needed (nothing changed).
    await mergePatchSpec(b.kc, ns, NAME, { pd: { config: { replication: { 'max-replica': null } } } });
    await waitFor('no ConfigCheckFailed', async () => progressing(await cluster())?.reason !== 'ConfigCheckFailed', { timeoutMs: b.timeouts.change, intervalMs: 1000 });
  });

  it('a typo in spec.tikv.config: tikv-server --config-check refuses it, TiKV keeps running untouched', async () => {
    await refused('tikv', { log: { levl: 'warn' } }, 'unknown configuration options: log.levl');
  });

  it('the fix goes through the check and reaches the ConfigMap (the roll follows)', async () => {
    await mergePatchSpec(b.kc, ns, NAME, { tikv: { config: { log: { levl: null, level: 'warn' } } } });
    await waitFor('the TiKV ConfigMap with level = "warn"', async () => /\[log\][^[]*level = "warn"/.test((await toml(`${NAME}-tikv`, 'tikv.toml')) ?? ''), {
      timeoutMs: b.timeouts.change,
      intervalMs: 1000,
    });
    expect((await toml(`${NAME}-tikv`, 'tikv.toml')) ?? '').not.toContain('levl');
  });

});
