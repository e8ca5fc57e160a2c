import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMISSION_GATE } from '../../../src/charts/index.js';
import { KubeClaims } from '../../../src/controller/kube/claims.js';
import { KubePods } from '../../../src/controller/kube/pods.js';
import { sendJSON, sendStatus, StubApiServer } from '../runtime/stub-apiserver.js';

const PODS = '/api/v1/namespaces/ns/pods';
const PVCS = '/api/v1/namespaces/ns/persistentvolumeclaims';

interface Recorded {
  method: string;
  name: string;
  contentType: string | undefined;
  body: unknown;
}

describe('KubePods and the PVC records (admission writes)', () => {
  const server = new StubApiServer();
  const writes: Recorded[] = [];
  let pods: KubePods;
  let claims: KubeClaims;
  const live: Record<string, { uid: string; gates?: string[]; deletionTimestamp?: string }> = {
    'basic-tikv-0': { uid: 'p0', gates: [ADMISSION_GATE] },
    'basic-tikv-1': { uid: 'p1' },
    'basic-tikv-2': { uid: 'p2', gates: [ADMISSION_GATE], deletionTimestamp: '2025-08-19T10:00:00Z' },
  };
  const pvcAnnotations: Record<string, Record<string, string> | undefined> = {
    'tikv-basic-tikv-0': { 'tikv.org/admission': 'pending' },
    'tikv-basic-tikv-1': undefined,
  };

  beforeAll(async () => {
    const nameOf = (url: URL) => decodeURIComponent(url.pathname.split('/').pop() ?? '');
    server.route('GET', new RegExp(`^${PODS}/`), (_req, res, url) => {
      const pod = live[nameOf(url)];
      if (!pod) return sendStatus(res, 404, 'NotFound', 'not found');
      sendJSON(res, 200, {
        metadata: { name: nameOf(url), uid: pod.uid, ...(pod.deletionTimestamp ? { deletionTimestamp: pod.deletionTimestamp } : {}) },
        spec: pod.gates ? { schedulingGates: pod.gates.map((name) => ({ name })) } : {},
      });
    });
    // Enough of JSON patch for these tests: every `test` op must hold against the stored pod.
    server.route('PATCH', new RegExp(`^${PODS}/`), (req, res, url, body) => {
      const ops = JSON.parse(body) as Array<{ op: string; path: string; value?: unknown }>;
      writes.push({ method: 'PATCH', name: nameOf(url), contentType: req.headers['content-type'], body: ops });
      const pod = live[nameOf(url)];
      if (!pod) return sendStatus(res, 404, 'NotFound', 'not found');
      const value = (path: string) => (path === '/metadata/uid' ? pod.uid : pod.gates?.[Number(path.split('/')[3])]);
      if (ops.some((o) => o.op === 'test' && value(o.path) !== o.value)) return sendStatus(res, 422, 'Invalid', 'the server rejected our request due to an error in our request');
      pod.gates = [];
      sendJSON(res, 200, {});
    });
    server.route('DELETE', new RegExp(`^${PODS}/`), (req, res, url, body) => {
      writes.push({ method: 'DELETE', name: nameOf(url), contentType: req.headers['content-type'], body: JSON.parse(body) });
      const pod = live[nameOf(url)];
      if (!pod) return sendStatus(res, 404, 'NotFound', 'not found');
      const uid = (JSON.parse(body) as { preconditions?: { uid?: string } }).preconditions?.uid;
      if (uid !== pod.uid) return sendStatus(res, 409, 'Conflict', 'Precondition failed: UID in precondition');
      sendJSON(res, 200, {});
    });
    server.route('PATCH', new RegExp(`^${PVCS}/`), (req, res, url, body) => {
      const parsed = JSON.parse(body) as unknown;
      writes.push({ method: 'PATCH', name: nameOf(url), contentType: req.headers['content-type'], body: parsed });
      if (!(nameOf(url) in pvcAnnotations)) return sendStatus(res, 404, 'NotFound', 'not found');
      const annotations = pvcAnnotations[nameOf(url)];
      if (Array.isArray(parsed)) {
        const test = parsed.find((o: { op: string }) => o.op === 'test') as { value: string } | undefined;
        if (annotations?.['tikv.org/admission'] !== test?.value) return sendStatus(res, 422, 'Invalid', 'testing value /metadata/annotations/tikv.org~1admission failed');
      }
      sendJSON(res, 200, {});
    });
    server.route('GET', /^\/apis\/apps\/v1\/namespaces\/ns\/statefulsets\//, (_req, res, url) => {
      if (nameOf(url) !== 'basic-tikv') return sendStatus(res, 404, 'NotFound', 'not found');
      sendJSON(res, 200, { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'basic-tikv', generation: 3 }, spec: { replicas: 4 } });
    });
    await server.start();
    pods = new KubePods(server.kubeConfig());
    claims = new KubeClaims(server.kubeConfig());
  });
  afterAll(() => server.close());

  it('reads a pod fresh: absent, gated, admitted, terminating', async () => {
    expect(await pods.getPod('ns', 'basic-tikv-9', ADMISSION_GATE)).toBeUndefined();
    expect(await pods.getPod('ns', 'basic-tikv-0', ADMISSION_GATE)).toEqual({ uid: 'p0', gated: true, deleting: false });
    expect(await pods.getPod('ns', 'basic-tikv-1', ADMISSION_GATE)).toEqual({ uid: 'p1', gated: false, deleting: false });
    expect(await pods.getPod('ns', 'basic-tikv-2', ADMISSION_GATE)).toEqual({ uid: 'p2', gated: true, deleting: true });
  });

  it('admits exactly the incarnation it saw, by a JSON patch that tests the uid and the gate', async () => {
    writes.length = 0;
    expect(await pods.admitPod('ns', 'basic-tikv-0', 'older', ADMISSION_GATE, 0)).toBe('changed');
    expect(await pods.admitPod('ns', 'basic-tikv-0', 'p0', ADMISSION_GATE, 0)).toBe('admitted');
    expect(await pods.admitPod('ns', 'basic-tikv-0', 'p0', ADMISSION_GATE, 0)).toBe('changed');
    expect(await pods.admitPod('ns', 'basic-tikv-9', 'p9', ADMISSION_GATE, 0)).toBe('changed');
    expect(writes[1]).toEqual({
      method: 'PATCH',
      name: 'basic-tikv-0',
      contentType: 'application/json-patch+json',
      body: [
        { op: 'test', path: '/metadata/uid', value: 'p0' },
        { op: 'test', path: '/spec/schedulingGates/0/name', value: ADMISSION_GATE },
        { op: 'remove', path: '/spec/schedulingGates/0' },
      ],
    });
  });

  it('deletes one incarnation (uid precondition); gone or re-created counts as done', async () => {
    writes.length = 0;
    await pods.deletePod('ns', 'basic-tikv-1', 'p1');
    await pods.deletePod('ns', 'basic-tikv-1', 'older');
    await pods.deletePod('ns', 'basic-tikv-9', 'p9');
    expect(writes.map((w) => w.name)).toEqual(['basic-tikv-1', 'basic-tikv-1', 'basic-tikv-9']);
    expect(writes[0]?.body).toEqual({ apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'p1' } });
  });

  it('reads a StatefulSet from the server', async () => {
    expect((await pods.getStatefulSet('ns', 'basic-tikv'))?.metadata.generation).toBe(3);
    expect(await pods.getStatefulSet('ns', 'other')).toBeUndefined();
  });

  it('flips a pending PVC to admitted with the cluster ID in one conditional write, and leaves any other PVC alone', async () => {
    writes.length = 0;
    expect(await claims.recordAdmission('ns', 'tikv-basic-tikv-0', '7412')).toBe('recorded');
    expect(await claims.recordAdmission('ns', 'tikv-basic-tikv-1', '7412')).toBe('not-pending');
    expect(await claims.recordAdmission('ns', 'tikv-basic-tikv-9')).toBe('missing');
    expect(writes[0]).toEqual({
      method: 'PATCH',
      name: 'tikv-basic-tikv-0',
      contentType: 'application/json-patch+json',
      body: [
        { op: 'test', path: '/metadata/annotations/tikv.org~1admission', value: 'pending' },
        { op: 'replace', path: '/metadata/annotations/tikv.org~1admission', value: 'admitted' },
        { op: 'add', path: '/metadata/annotations/tikv.org~1pd-cluster-id', value: '7412' },
      ],
    });
  });

  it('annotates a PVC with its uid as a precondition (merge patch)', async () => {
    writes.length = 0;
    await claims.annotateClaim('ns', { name: 'tikv-basic-tikv-1', uid: 'c1', deleting: false }, { 'tikv.org/store-id': '4' });
    expect(writes).toEqual([
      {
        method: 'PATCH',
        name: 'tikv-basic-tikv-1',
        contentType: 'application/merge-patch+json',
        body: { metadata: { uid: 'c1', annotations: { 'tikv.org/store-id': '4' } } },
      },
    ]);
  });
});
