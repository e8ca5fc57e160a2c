// Undoes plus-28's defaults that break PD/TiKV in the plain objects from chart.toJson(),
// and adds the parts plus-28 cannot express. Working on plain JSON is
// deliberate: plus-28 re-serializes JSON patches through its typed k8s 1.28 mappers,
// which silently drop plain-string quantities and unknown fields.
import type { V1Affinity, V1Container, V1ResourceRequirements, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { API_VERSION, type ComponentSpec, KIND } from '../api/index.js';
import { ADMISSION_GATE, CLAIM_ADMISSION_ANNOTATION, CLAIM_PENDING } from './admission.js';
import { RETENTION_ANNOTATION, retentionNote, selectorLabels } from './labels.js';
import type { ComponentModel } from './model.js';
import type { KubeObject, OwnerReference } from './types.js';

/** plus-28's per-construct pod label; it encodes the construct path, not anything we control. */
const CDK8S_ADDRESS_LABEL = 'cdk8s.io/metadata.addr';
const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';
const KIND_ORDER = ['ConfigMap', 'Service', 'StatefulSet'];
const COMPONENT_ORDER = ['pd', 'tikv'];

/** Requests and limits exactly as the spec gives them, quantities as strings; empty maps left out. */
export function exactResources(resources: ComponentSpec['resources']): V1ResourceRequirements | undefined {
  const out: V1ResourceRequirements = {};
  for (const kind of ['requests', 'limits'] as const) {
    const entries = Object.entries(resources[kind] ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]);
    if (entries.length) out[kind] = Object.fromEntries(entries);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Spread pods of one component across nodes when possible, never refuse to schedule. */
export function softAntiAffinity(labels: Record<string, string>): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: HOSTNAME_TOPOLOGY, labelSelector: { matchLabels: labels } } },
      ],
    },
  };
}

function ownerReference(clusterName: string, uid: string): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: clusterName, uid, controller: true, blockOwnerDeletion: true };
}

// plus-28's secure defaults (runAsNonRoot, read-only root FS, ...) stop the PD/TiKV images,
// and its default resources (1000m/512Mi requests) exhaust a laptop: both are replaced.
function finishContainer(container: V1Container, model: ComponentModel): void {
  delete container.securityContext;
  delete container.startupProbe;
  delete container.livenessProbe;
  // The container's last words in its status (lastState.terminated.message): pd-server and
  // tikv-server log a FATAL line to stderr and exit, they write no termination message
  // file. The operator puts it into the TikvCluster's conditions, so `kubectl describe tkc`
  // says why a pod crash-loops without `kubectl logs --previous`.
  container.terminationMessagePolicy = 'FallbackToLogsOnError';
  const resources = exactResources(model.spec.resources);
  if (resources) container.resources = resources;
  else delete container.resources;
  container.volumeMounts = [
    ...(container.volumeMounts ?? []),
    { name: model.statefulSet.dataVolume, mountPath: model.statefulSet.dataMountPath },
  ];
}

function finishStatefulSet(sts: V1StatefulSet, model: ComponentModel, labels: Record<string, string>, clusterName: string): void {
  const spec = sts.spec;
  const podSpec = spec?.template.spec;
  if (!spec || !podSpec) throw new Error(`StatefulSet ${model.statefulSet.name} has no pod spec`);
  spec.selector = { matchLabels: labels };
  spec.template.metadata = {
    ...spec.template.metadata,
    labels: { ...withoutAddressLabel(spec.template.metadata?.labels), ...labels },
  };
  delete podSpec.securityContext;
  for (const container of podSpec.containers) finishContainer(container, model);

  const { nodeSelector, tolerations, affinity } = model.spec;
  if (nodeSelector && Object.keys(nodeSelector).length) podSpec.nodeSelector = nodeSelector;
  if (tolerations?.length) podSpec.tolerations = tolerations;
  podSpec.affinity = affinity ? (affinity as V1Affinity) : softAntiAffinity(labels);
  // Every pod starts gated; the operator admits it (admission.ts).
  podSpec.schedulingGates = [{ name: ADMISSION_GATE }];

  const { size, storageClassName } = model.spec.storage;
  spec.volumeClaimTemplates = [
    {
      metadata: {
        name: model.statefulSet.dataVolume,
        labels,
        annotations: {
          // Said on every PVC, so nobody mistakes a claim left after a delete for a leak.
          [RETENTION_ANNOTATION]: retentionNote(clusterName),
          // volumeClaimTemplates are immutable: a StatefulSet created without the marker
          // (by an older operator) keeps it that way, and its claims keep the old rules.
          ...(model.statefulSet.claimMarker ? { [CLAIM_ADMISSION_ANNOTATION]: CLAIM_PENDING } : {}),
        },
      },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: size } },
        ...(storageClassName ? { storageClassName } : {}),
      },
    },
  ];
  // Volumes outlive the cluster and scale-in: the controller deletes a removed store's
  // claim itself once PD has let go of it.
  spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Retain', whenScaled: 'Retain' };
}

function withoutAddressLabel(labels: Record<string, string> | undefined): Record<string, string> {
  const { [CDK8S_ADDRESS_LABEL]: _, ...rest } = labels ?? {};
  return rest;
}

export interface FinishContext {
  clusterName: string;
  uid?: string;
  models: ComponentModel[];
}

/** Turns plus-28's output into the final objects, in a fixed order: ConfigMaps, Services, StatefulSets. */
export function undoPlus28Defaults(objects: KubeObject[], ctx: FinishContext): KubeObject[] {
  const modelOf = (kind: string, name: string) =>
    ctx.models.find((m) =>
      kind === 'ConfigMap'
        ? m.configMap.name === name
        : kind === 'Service'
          ? m.services.some((s) => s.name === name)
          : m.statefulSet.name === name,
    );
  const finished = objects.map((obj) => {
    const model = modelOf(obj.kind, obj.metadata.name);
    if (!model) throw new Error(`unexpected ${obj.kind} ${obj.metadata.name} in the chart`);
    const labels = selectorLabels(ctx.clusterName, model.component);
    if (obj.kind === 'Service') {
      const svc = obj as unknown as V1Service;
      if (svc.spec) svc.spec.selector = labels;
    }
    if (obj.kind === 'StatefulSet') finishStatefulSet(obj as unknown as V1StatefulSet, model, labels, ctx.clusterName);
    if (ctx.uid) obj.metadata.ownerReferences = [ownerReference(ctx.clusterName, ctx.uid)];
    const serviceIndex = model.services.findIndex((s) => s.name === obj.metadata.name);
    return { obj, rank: [KIND_ORDER.indexOf(obj.kind), COMPONENT_ORDER.indexOf(model.component), serviceIndex] };
  });
  // cdk8s orders by construct dependencies; the order here is fixed by the models instead.
  const byRank = (a: number[], b: number[]) => a.reduce((d, x, i) => d || x - (b[i] ?? 0), 0);
  return finished.sort((a, b) => byRank(a.rank, b.rank)).map((f) => f.obj);
}
