// REST paths of the kinds the operator reads and writes. A static table instead of
// discovery: the operator only ever touches these, and it saves a discovery round trip.
import { GROUP, KIND, PLURAL, VERSION } from '../../api/v1alpha1.js';

interface ResourceInfo {
  apiVersion: string;
  plural: string;
}

const RESOURCES: Record<string, ResourceInfo> = {
  ConfigMap: { apiVersion: 'v1', plural: 'configmaps' },
  Service: { apiVersion: 'v1', plural: 'services' },
  Pod: { apiVersion: 'v1', plural: 'pods' },
  PersistentVolumeClaim: { apiVersion: 'v1', plural: 'persistentvolumeclaims' },
  Event: { apiVersion: 'v1', plural: 'events' },
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets' },
  Lease: { apiVersion: 'coordination.k8s.io/v1', plural: 'leases' },
  [KIND]: { apiVersion: `${GROUP}/${VERSION}`, plural: PLURAL },
};

export function resourcePath(kind: string, namespace: string, name?: string, subresource?: string): string {
  const info = RESOURCES[kind];
  if (!info) throw new Error(`unknown kind ${kind}`);
  const prefix = info.apiVersion.includes('/') ? `/apis/${info.apiVersion}` : `/api/${info.apiVersion}`;
  let p = `${prefix}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** Collection path across all namespaces, for informers. */
export function clusterWidePath(kind: string): string {
  const info = RESOURCES[kind];
  if (!info) throw new Error(`unknown kind ${kind}`);
  return info.apiVersion.includes('/') ? `/apis/${info.apiVersion}/${info.plural}` : `/api/${info.apiVersion}/${info.plural}`;
}
