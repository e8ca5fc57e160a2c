// A tiny dynamic provisioner so volumeClaimTemplates work without a kubelet or CSI driver
// (option B of real-control-plane.md §6). With WaitForFirstConsumer the scheduler picks a
// node and annotates the PVC `volume.kubernetes.io/selected-node`; the PV controller then
// marks it `volume.kubernetes.io/storage-provisioner: <ours>` and waits for a PV. We create
// that PV pre-bound (claimRef) and pinned to the node; the binder completes the binding.
// Deleting a PVC of a Delete-policy class deletes its PV, as a real provisioner would.
import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1StorageClass,
} from '@kubernetes/client-node';

export const FAKE_PROVISIONER = 'tikv-operator.test/fake';
export const DEFAULT_STORAGE_CLASS = 'standard';
export const OTHER_STORAGE_CLASS = 'other';

const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
const BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

export function storageClass(name: string, isDefault: boolean): V1StorageClass {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: {
      name,
      annotations: isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {},
    },
    provisioner: FAKE_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  };
}

export interface ProvisionerOptions {
  /**
   * Where volumes live on the nodes. With a real node (test/env/node) the kubelet mounts them,
   * so each PV's hostPath is a directory there (created by the kubelet on first use).
   */
  hostPathDir?: string;
}

/** The PV our provisioner creates for a PVC (name derived from the PVC's UID, like external provisioners). */
export function volumeFor(pvc: V1PersistentVolumeClaim, node: string, o: ProvisionerOptions = {}): V1PersistentVolume {
  const name = `pvc-${pvc.metadata!.uid}`;
  const size = pvc.spec?.resources?.requests?.storage ?? '1Gi';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, annotations: { [PROVISIONED_BY]: FAKE_PROVISIONER } },
    spec: {
      capacity: { storage: size },
      accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
      volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
      storageClassName: pvc.spec?.storageClassName,
      persistentVolumeReclaimPolicy: 'Delete',
      // Without a real node never used: kwok runs no kubelet to mount it.
      hostPath: o.hostPathDir ? { path: `${o.hostPathDir}/${name}`, type: 'DirectoryOrCreate' } : { path: `/var/lib/tikv-operator-testenv/${name}` },
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: pvc.metadata!.namespace,
        name: pvc.metadata!.name,
        uid: pvc.metadata!.uid,
      },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }],
        },
      },
    },
  };
}

function wantsVolume(pvc: V1PersistentVolumeClaim): string | undefined {
  const ann = pvc.metadata?.annotations ?? {};
  const ours = ann[STORAGE_PROVISIONER] === FAKE_PROVISIONER || ann[BETA_STORAGE_PROVISIONER] === FAKE_PROVISIONER;
  if (!ours || pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp) return undefined;
  return ann[SELECTED_NODE];
}

const statusCode = (e: unknown) => (e as { code?: number }).code;

export interface Provisioner {
  /** PVs created so far (names), for tests and debugging. */
  readonly provisioned: ReadonlySet<string>;
  stop(): Promise<void>;
}

/** Creates the StorageClasses and starts watching PVCs. */
export async function startProvisioner(kc: KubeConfig, log: (s: string) => void, o: ProvisionerOptions = {}): Promise<Provisioner> {
  const core = kc.makeApiClient(CoreV1Api);
  const storage = kc.makeApiClient(StorageV1Api);
  await storage.createStorageClass({ body: storageClass(DEFAULT_STORAGE_CLASS, true) });
  await storage.createStorageClass({ body: storageClass(OTHER_STORAGE_CLASS, false) });

  const provisioned = new Set<string>();
  let stopping = false;

  const provision = async (pvc: V1PersistentVolumeClaim) => {
    const node = wantsVolume(pvc);
    if (!node) return;
    const pv = volumeFor(pvc, node, o);
    const name = pv.metadata!.name!;
    if (provisioned.has(name)) return;
    try {
      await core.createPersistentVolume({ body: pv });
      provisioned.add(name);
    } catch (e) {
      if (statusCode(e) === 409) provisioned.add(name);
      else if (!stopping) log(`[provisioner] creating ${name} for ${pvc.metadata?.namespace}/${pvc.metadata?.name}: ${e}`);
    }
  };

  const release = async (pvc: V1PersistentVolumeClaim) => {
    const name = pvc.spec?.volumeName;
    if (!name || !provisioned.has(name)) return;
    try {
      await core.deletePersistentVolume({ name });
    } catch (e) {
      if (statusCode(e) !== 404 && !stopping) log(`[provisioner] deleting ${name}: ${e}`);
    }
    provisioned.delete(name);
  };

  const informer = makeInformer<V1PersistentVolumeClaim>(kc, '/api/v1/persistentvolumeclaims', () =>
    core.listPersistentVolumeClaimForAllNamespaces(),
  );
  informer.on('add', (pvc) => void provision(pvc));
  informer.on('update', (pvc) => void provision(pvc));
  informer.on('delete', (pvc) => void release(pvc));
  // client-node 1.4.0 informers stop after an error; restart unless we are shutting down.
  informer.on('error', () => {
    if (!stopping) setTimeout(() => void informer.start().catch(() => undefined), 1000);
  });
  await informer.start();

  return {
    provisioned,
    async stop() {
      stopping = true;
      await informer.stop();
    },
  };
}
