// A deleted TikvCluster's PVCs say they were kept on purpose, and the delete says so too:
// every claim carries the retention note (from the StatefulSets' claim templates), and
// the operator records a Normal Event PVCsRetained naming how to find and remove them.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETENTION_ANNOTATION } from '../../src/charts/labels.js';
import { getEnv, newNamespace } from '../env/context.js';
import { waitFor } from '../env/process.js';
import { createCluster, deleteCluster, startTestOperator, type TestOperator, TestPDResolver } from './support/operator.js';

describe('PVCs kept after a delete', () => {
  let op: TestOperator;
  beforeAll(async () => {
    op = await startTestOperator({ pd: new TestPDResolver(getEnv().pdURLs) });
  });
  afterAll(async () => {
    await op?.stop();
  });

  it('carry the retention note, and the delete leaves a PVCsRetained Event that says how to remove them', async () => {
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    const ns = await newNamespace('retain');
    await createCluster(ns, { metadata: { name: 'keep' }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
    const claims = await waitFor(
      'a PD and a TiKV PVC',
      async () => {
        const items = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
        return items.length === 2 ? items : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(claims.map((c) => c.metadata?.name).sort()).toEqual(['pd-keep-pd-0', 'tikv-keep-tikv-0']);
    for (const c of claims) {
      expect(c.metadata?.annotations?.[RETENTION_ANNOTATION], c.metadata?.name).toMatch(/^Retain: kept on purpose when TikvCluster keep is deleted or scaled in/);
    }

    await deleteCluster(ns, 'keep');
    const event = await waitFor(
      'the PVCsRetained Event',
      async () => (await core.listNamespacedEvent({ namespace: ns })).items.find((e) => e.reason === 'PVCsRetained'),
      { timeoutMs: 30_000 },
    );
    expect(event.type).toBe('Normal');
    expect(event.involvedObject).toMatchObject({ kind: 'TikvCluster', name: 'keep', namespace: ns });
    expect(event.message).toBe(
      `TikvCluster deleted; its PersistentVolumeClaims are kept on purpose (retention policy Retain, annotation ${RETENTION_ANNOTATION}) so the data survives: ` +
        `kubectl -n ${ns} get pvc -l app.kubernetes.io/instance=keep lists them; delete them once the data is no longer needed`,
    );
    // And they are still there.
    expect((await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items).toHaveLength(2);
  });
});
