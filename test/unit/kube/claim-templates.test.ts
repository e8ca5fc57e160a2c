import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { API_VERSION, KIND, parseTikvCluster } from '../../../src/api/index.js';
import { RETENTION_ANNOTATION } from '../../../src/charts/labels.js';
import { synthesize } from '../../../src/charts/index.js';
import type { KubeObject } from '../../../src/charts/types.js';
import { Applier, stampHashes, withCreatedClaimTemplates } from '../../../src/controller/kube/apply.js';

type Sts = KubeObject & { spec: { volumeClaimTemplates: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> } };

const tikvSts = (): Sts => {
  const cluster = parseTikvCluster({ apiVersion: API_VERSION, kind: KIND, metadata: { name: 'basic', namespace: 'ns' } });
  return synthesize(cluster, { uid: 'u1', pdBootstrapped: true }).find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'basic-tikv') as Sts;
};

/** What an operator before the retention note applied: the same StatefulSet, no annotation on its claim template. */
function olderApplied(): Sts {
  const sts = structuredClone(tikvSts());
  for (const t of sts.spec.volumeClaimTemplates) delete t.metadata.annotations;
  return stampHashes(sts) as Sts;
}

// A server nobody listens on: any request the Applier makes fails the test.
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
  users: [{ name: 'u', token: 't' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});

describe('claim templates', () => {
  it('carry the retention note on every new StatefulSet', () => {
    const note = tikvSts().spec.volumeClaimTemplates[0]?.metadata.annotations?.[RETENTION_ANNOTATION];
    expect(note).toMatch(/^Retain: kept on purpose when TikvCluster basic is deleted or scaled in/);
    expect(note).toContain('kubectl delete pvc -l app.kubernetes.io/instance=basic');
  });

  it('keep what an existing StatefulSet was created with, since the apiserver refuses any change to them', () => {
    const kept = withCreatedClaimTemplates(tikvSts(), olderApplied()) as Sts;
    expect(kept.spec.volumeClaimTemplates[0]?.metadata.annotations).toBeUndefined();
    expect(kept.spec.volumeClaimTemplates[0]?.metadata.name).toBe('tikv');
    // Without a live object (creation) the note stays.
    expect((withCreatedClaimTemplates(tikvSts(), undefined) as Sts).spec.volumeClaimTemplates[0]?.metadata.annotations).toBeDefined();
  });

  it('so an operator upgrade makes no write to (and no refused update of) an older cluster at rest', async () => {
    await expect(new Applier(kc).apply(tikvSts(), olderApplied())).resolves.toBe('unchanged');
  });
});
