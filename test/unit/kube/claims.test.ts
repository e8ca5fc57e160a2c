import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClaims } from '../../../src/controller/kube/claims.js';
import { sendJSON, sendStatus, StubApiServer } from '../runtime/stub-apiserver.js';

const PVCS = '/api/v1/namespaces/ns/persistentvolumeclaims';

describe('KubeClaims (PVC reads and the one delete)', () => {
  const server = new StubApiServer();
  const deletes: Array<{ name: string; body: unknown }> = [];
  let claims: KubeClaims;

  beforeAll(async () => {
    const live: Record<string, { uid: string; deletionTimestamp?: string }> = {
      'tikv-basic-tikv-3': { uid: 'u3' },
      'tikv-basic-tikv-4': { uid: 'u4', deletionTimestamp: '2025-08-19T10:00:00Z' },
    };
    server.route('GET', new RegExp(`^${PVCS}/`), (_req, res, url) => {
      const name = url.pathname.split('/').pop() ?? '';
      const pvc = live[name];
      if (!pvc) return sendStatus(res, 404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
      sendJSON(res, 200, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, ...pvc } });
    });
    server.route('DELETE', new RegExp(`^${PVCS}/`), (_req, res, url, body) => {
      const name = url.pathname.split('/').pop() ?? '';
      const parsed = JSON.parse(body) as { preconditions?: { uid?: string } };
      deletes.push({ name, body: parsed });
      const pvc = live[name];
      if (!pvc) return sendStatus(res, 404, 'NotFound', 'not found');
      if (parsed.preconditions?.uid && parsed.preconditions.uid !== pvc.uid) return sendStatus(res, 409, 'Conflict', 'Precondition failed: UID in precondition');
      sendJSON(res, 200, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, ...pvc } });
    });
    server.route('GET', /^\/apis\/apps\/v1\/namespaces\/ns\/statefulsets\//, (_req, res, url) => {
      const name = url.pathname.split('/').pop();
      if (name !== 'basic-tikv') return sendStatus(res, 404, 'NotFound', 'not found');
      sendJSON(res, 200, { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name }, spec: { replicas: 4 } });
    });
    await server.start();
    claims = new KubeClaims(server.kubeConfig());
  });
  afterAll(() => server.close());

  it('reads a PVC by name: absent, present, being deleted', async () => {
    expect(await claims.getClaim('ns', 'tikv-basic-tikv-9')).toBeUndefined();
    expect(await claims.getClaim('ns', 'tikv-basic-tikv-3')).toEqual({ name: 'tikv-basic-tikv-3', uid: 'u3', deleting: false });
    expect(await claims.getClaim('ns', 'tikv-basic-tikv-4')).toMatchObject({ deleting: true });
  });

  it('deletes only the PVC it inspected (uid precondition); gone already is fine, a different one is an error', async () => {
    await claims.deleteClaim('ns', { name: 'tikv-basic-tikv-3', uid: 'u3', deleting: false });
    await claims.deleteClaim('ns', { name: 'tikv-basic-tikv-9', uid: 'u9', deleting: false });
    await expect(claims.deleteClaim('ns', { name: 'tikv-basic-tikv-3', uid: 'older', deleting: false })).rejects.toThrow('409');
    expect(deletes.map((d) => d.name)).toEqual(['tikv-basic-tikv-3', 'tikv-basic-tikv-9', 'tikv-basic-tikv-3']);
    expect(deletes[0]?.body).toMatchObject({ kind: 'DeleteOptions', preconditions: { uid: 'u3' } });
  });

  it('reads StatefulSet replicas from the server', async () => {
    expect(await claims.liveReplicas('ns', 'basic-tikv')).toBe(4);
    expect(await claims.liveReplicas('ns', 'other')).toBeUndefined();
  });
});
