// Repeated identical Events are counted on the Event already sent, not created anew.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeEventRecorder } from '../../../src/controller/kube/events.js';
import { sendJSON, sendStatus, StubApiServer } from '../runtime/stub-apiserver.js';

const EVENTS = '/api/v1/namespaces/ns/events';
const target = { apiVersion: 'tikv.org/v1alpha1', kind: 'TikvCluster', name: 'basic', namespace: 'ns', uid: 'u1' };

describe('KubeEventRecorder', () => {
  const server = new StubApiServer();
  /** The apiserver's Events by name. */
  const stored = new Map<string, Record<string, unknown>>();
  const writes: string[] = [];
  let clock = Date.parse('2025-08-19T10:00:00Z');
  let recorder: KubeEventRecorder;
  const errors: unknown[] = [];

  beforeAll(async () => {
    server.route('POST', new RegExp(`^${EVENTS}$`), (_req, res, _url, body) => {
      const ev = JSON.parse(body) as { metadata: { name: string } };
      writes.push(`POST ${ev.metadata.name}`);
      stored.set(ev.metadata.name, ev);
      sendJSON(res, 201, ev);
    });
    server.route('PATCH', new RegExp(`^${EVENTS}/`), (req, res, url, body) => {
      const name = decodeURIComponent(url.pathname.split('/').pop() ?? '');
      writes.push(`PATCH ${name} ${req.headers['content-type']}`);
      const ev = stored.get(name);
      if (!ev) return sendStatus(res, 404, 'NotFound', `events "${name}" not found`);
      Object.assign(ev, JSON.parse(body));
      sendJSON(res, 200, ev);
    });
    await server.start();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    stored.clear();
    writes.length = 0;
    errors.length = 0;
    recorder = new KubeEventRecorder(server.kubeConfig(), 'tikv-operator', (e) => errors.push(e), () => new Date(clock));
  });

  it('creates one Event and counts its repeats on it: count and lastTimestamp, firstTimestamp kept', async () => {
    await recorder.emit(target, 'Warning', 'PDUnreachable', 'PD is unreachable');
    clock += 60_000;
    await recorder.emit(target, 'Warning', 'PDUnreachable', 'PD is unreachable');
    clock += 60_000;
    await recorder.emit(target, 'Warning', 'PDUnreachable', 'PD is unreachable');
    expect(errors).toEqual([]);
    expect([...stored.values()]).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'PDUnreachable',
        count: 3,
        firstTimestamp: '2025-08-19T10:00:00.000Z',
        lastTimestamp: '2025-08-19T10:02:00.000Z',
        involvedObject: expect.objectContaining({ uid: 'u1' }),
      }),
    ]);
    const name = [...stored.keys()][0];
    expect(writes).toEqual([`POST ${name}`, `PATCH ${name} application/merge-patch+json`, `PATCH ${name} application/merge-patch+json`]);
  });

  it('creates a new Event for another message, reason, type or object', async () => {
    await recorder.emit(target, 'Normal', 'ClusterReady', 'a');
    await recorder.emit(target, 'Normal', 'ClusterReady', 'b');
    await recorder.emit(target, 'Warning', 'ClusterReady', 'a');
    await recorder.emit(target, 'Normal', 'Other', 'a');
    await recorder.emit({ ...target, uid: 'u2' }, 'Normal', 'ClusterReady', 'a');
    expect(writes.filter((w) => w.startsWith('POST'))).toHaveLength(5);
    expect([...stored.values()].every((e) => e.count === 1)).toBe(true);
  });

  it('creates the Event anew, counted from 1, when the one it sent is gone (event TTL)', async () => {
    await recorder.emit(target, 'Warning', 'X', 'm');
    stored.clear();
    await recorder.emit(target, 'Warning', 'X', 'm');
    expect(writes.map((w) => w.split(' ')[0])).toEqual(['POST', 'PATCH', 'POST']);
    expect([...stored.values()]).toEqual([expect.objectContaining({ count: 1 })]);
    await recorder.emit(target, 'Warning', 'X', 'm');
    expect([...stored.values()]).toEqual([expect.objectContaining({ count: 2 })]);
    expect(errors).toEqual([]);
  });
});
