import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { ALLOW_DOWNGRADE_ANNOTATION, imageTag, parseVersion, refuseDowngrade } from '../../../src/controller/reconcile/downgrade.js';
import { NAME, NS, World } from './fakes.js';

const n = names(NAME);
type Sts = { spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } };
const image = (w: World, sts: string) => (w.store.get('StatefulSet', sts) as Sts | undefined)?.spec?.template?.spec?.containers?.[0]?.image;

describe('refuseDowngrade', () => {
  const live = (pd: string, tikv: string) => [
    { component: 'pd' as const, image: 'pingcap/pd', liveImage: pd },
    { component: 'tikv' as const, image: 'pingcap/tikv', liveImage: tikv },
  ];

  it('refuses a version lower than what a live StatefulSet runs, naming the fix', () => {
    expect(refuseDowngrade({ specVersion: 'v8.1.0', components: live('pingcap/pd:v8.5.5', 'pingcap/tikv:v8.5.5') })).toEqual({
      keep: 'v8.5.5',
      reason: 'DowngradeRefused',
      message:
        'spec.version v8.1.0 is lower than the running v8.5.5 (PD and TiKV); PD and TiKV do not support downgrades, so the cluster stays on v8.5.5. ' +
        'Set spec.version back to v8.5.5, or annotate the TikvCluster tikv.org/allow-downgrade=true to roll back anyway',
    });
    // Half-way through an upgrade: the higher of the two is what must not be undone silently.
    expect(refuseDowngrade({ specVersion: 'v8.5.4', components: live('pingcap/pd:v8.5.6', 'pingcap/tikv:v8.5.5') })?.keep).toBe('v8.5.6');
  });

  it('lets upgrades, equal versions, unparseable tags, pinned images and an explicit annotation through', () => {
    expect(refuseDowngrade({ specVersion: 'v8.5.6', components: live('pingcap/pd:v8.5.5', 'pingcap/tikv:v8.5.5') })).toBeUndefined();
    expect(refuseDowngrade({ specVersion: 'v8.5.5', components: live('pingcap/pd:v8.5.5', 'pingcap/tikv:v8.5.5') })).toBeUndefined();
    expect(refuseDowngrade({ specVersion: 'nightly', components: live('pingcap/pd:v8.5.5', 'pingcap/tikv:v8.5.5') })).toBeUndefined();
    expect(refuseDowngrade({ specVersion: 'v8.1.0', components: live('pingcap/pd:nightly', 'pingcap/tikv@sha256:ab') })).toBeUndefined();
    expect(refuseDowngrade({ specVersion: 'v8.1.0', components: [{ component: 'tikv', image: 'my/tikv:v9.0.0', liveImage: 'my/tikv:v9.0.0' }] })).toBeUndefined();
    expect(
      refuseDowngrade({ specVersion: 'v8.1.0', components: live('pingcap/pd:v8.5.5', 'pingcap/tikv:v8.5.5'), annotations: { [ALLOW_DOWNGRADE_ANNOTATION]: 'true' } }),
    ).toBeUndefined();
  });

  it('reads versions and tags the way images carry them', () => {
    expect(parseVersion('v8.5.5')).toEqual([8, 5, 5]);
    expect(parseVersion('8.10.0-rc.1')).toEqual([8, 10, 0]);
    expect(parseVersion('latest')).toBeUndefined();
    expect(imageTag('localhost:5000/pingcap/tikv:v8.5.5')).toBe('v8.5.5');
    expect(imageTag('localhost:5000/pingcap/tikv')).toBeUndefined();
  });
});

describe('a downgrade in the reconciler', () => {
  it('keeps the running version, says why in Progressing with one Warning Event, and rolls back only when annotated', async () => {
    const w = await World.atRest(3, 3);
    expect(image(w, n.tikvStatefulSet)).toBe('pingcap/tikv:v8.5.5');
    w.store.editSpec((s) => {
      s.version = 'v8.1.0';
    });
    await w.reconcile();
    await w.reconcile();
    expect(image(w, n.pdStatefulSet)).toBe('pingcap/pd:v8.5.5');
    expect(image(w, n.tikvStatefulSet)).toBe('pingcap/tikv:v8.5.5');
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'DowngradeRefused' });
    expect(w.condition('Progressing')?.message).toContain('spec.version v8.1.0 is lower than the running v8.5.5');
    expect(w.events.events.filter((e) => e.reason === 'DowngradeRefused').map((e) => e.type)).toEqual(['Warning']);

    const c = w.store.cluster(NS, NAME);
    if (!c) throw new Error('no cluster');
    w.store.setCluster({ ...c, metadata: { ...c.metadata, annotations: { [ALLOW_DOWNGRADE_ANNOTATION]: 'true' } } });
    await w.reconcile();
    expect(image(w, n.tikvStatefulSet)).toBe('pingcap/tikv:v8.1.0');
    expect(w.condition('Progressing')?.reason).not.toBe('DowngradeRefused');
  });
});
