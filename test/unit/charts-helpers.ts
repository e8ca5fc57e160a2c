// Shared helpers for the chart and synth tests (not a test file itself).
import type { V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { parseTikvCluster, type TikvCluster, type TikvClusterInput } from '../../src/api/index.js';
import type { KubeObject } from '../../src/charts/index.js';

type DeepPartialSpec = Partial<Omit<TikvClusterInput['spec'] & object, 'pd' | 'tikv'>> & {
  pd?: Partial<NonNullable<TikvClusterInput['spec']>['pd'] & object>;
  tikv?: Partial<NonNullable<TikvClusterInput['spec']>['tikv'] & object>;
};

/** A validated, defaulted TikvCluster; `namespace: null` leaves metadata.namespace unset. */
export function cluster(name = 'basic', spec: DeepPartialSpec = {}, namespace: string | null = 'team-a'): TikvCluster {
  return parseTikvCluster({
    apiVersion: 'tikv.org/v1alpha1',
    kind: 'TikvCluster',
    metadata: { name, ...(namespace === null ? {} : { namespace }) },
    spec,
  });
}

export function find(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

export const statefulSet = (objects: KubeObject[], name: string) => find(objects, 'StatefulSet', name) as unknown as V1StatefulSet;
export const service = (objects: KubeObject[], name: string) => find(objects, 'Service', name) as unknown as V1Service;
export const configMapData = (objects: KubeObject[], name: string) => find(objects, 'ConfigMap', name).data as Record<string, string>;

export function container(sts: V1StatefulSet) {
  const c = sts.spec?.template.spec?.containers[0];
  if (!c) throw new Error(`StatefulSet ${sts.metadata?.name} has no container`);
  return c;
}

/** Every value in an object tree, with its dotted path. */
export function* walk(value: unknown, path = ''): Generator<[string, unknown]> {
  yield [path, value];
  if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* walk(v, `${path}[${i}]`);
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) yield* walk(v, path ? `${path}.${k}` : k);
}
