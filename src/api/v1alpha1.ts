// The TikvCluster API (tikv.org/v1alpha1). This zod schema is the single source of
// truth: the TypeScript types, runtime validation + defaulting, and the CRD's OpenAPI
// schema (scripts/gen-crd.ts -> crds/tikv.org_tikvclusters.yaml) all derive from it.
//
// Conventions for the CRD generator (src/api/crd.ts):
//   - every field carries a description (`kubectl explain` shows it);
//   - `.meta({ 'x-kubernetes-int-or-string': true })` marks Kubernetes quantities;
//   - `.meta({ 'x-kubernetes-preserve-unknown-fields': true })` marks free-form objects;
//   - `.meta({ 'x-kubernetes-validations': [...] })` carries CEL rules checked at admission;
//   - `.prefault({})` (not `.default({})`) so nested defaults are filled in code as the
//     apiserver fills them at admission.
import { z } from 'zod';
import { MAX_CLUSTER_NAME_LENGTH } from './limits.js';

export const GROUP = 'tikv.org';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TikvCluster';
export const PLURAL = 'tikvclusters';
export const SINGULAR = 'tikvcluster';
export const SHORT_NAMES = ['tkc'];

export const DEFAULT_VERSION = 'v8.5.5';

// Kubernetes resource.Quantity, as the apiserver's own regex accepts it.
// Kubernetes resource.Quantity grammar (k8s.io/apimachinery/pkg/api/resource): a signed
// decimal with a binary suffix (Ki..Ei), a decimal SI suffix (n, u, m, k, M..E) or an exponent.
export const QUANTITY_PATTERN = '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$';

const quantity = (description: string) =>
  z
    .union([z.string().regex(new RegExp(QUANTITY_PATTERN), 'must be a Kubernetes quantity such as 500m, 1Gi or 2'), z.number()])
    .meta({ 'x-kubernetes-int-or-string': true, description });

const ComputeResources = z
  .object({
    cpu: quantity('CPU, in cores or millicores (e.g. 500m).').optional(),
    memory: quantity('Memory, in bytes with an optional binary suffix (e.g. 512Mi, 2Gi).').optional(),
  })
  .strict();

const Resources = z
  .object({
    requests: ComputeResources.describe('Minimum CPU and memory the scheduler reserves for each pod.').optional(),
    limits: ComputeResources.describe(
      'Maximum CPU and memory for each pod. For TiKV the memory limit also sizes the block cache (30% of it).',
    ).optional(),
  })
  .strict();

const Storage = (defaultSize: string, what: string) =>
  z
    .object({
      size: z
        .string()
        .max(64)
        .regex(new RegExp(QUANTITY_PATTERN), 'must be a Kubernetes quantity such as 1Gi')
        .default(defaultSize)
        .describe(`Size of each ${what} data volume (PersistentVolumeClaim). Immutable after creation.`)
        .meta({
          'x-kubernetes-validations': [
            {
              rule: 'self == oldSelf',
              message: 'storage size is immutable: volumeClaimTemplates of a StatefulSet cannot change',
            },
          ],
        }),
      storageClassName: z
        .string()
        .min(1)
        .max(253)
        .optional()
        .describe(`StorageClass of the ${what} data volumes; the cluster's default StorageClass when unset. Immutable after creation.`)
        .meta({
          'x-kubernetes-validations': [
            {
              rule: 'self == oldSelf',
              message: 'storageClassName is immutable: volumeClaimTemplates of a StatefulSet cannot change',
            },
          ],
        }),
    })
    .strict()
    .describe(`Persistent storage for each ${what} pod. Volumes are kept when the TikvCluster is deleted.`)
    .meta({
      'x-kubernetes-validations': [
        {
          rule: 'has(self.storageClassName) == has(oldSelf.storageClassName)',
          message: 'storageClassName cannot be added or removed after creation',
        },
      ],
    });

const Toleration = z
  .object({
    key: z.string().optional().describe('Taint key the toleration applies to; empty matches all keys (with operator Exists).'),
    operator: z.enum(['Exists', 'Equal']).optional().describe('Exists or Equal (default Equal).'),
    value: z.string().optional().describe('Taint value the toleration matches (with operator Equal).'),
    effect: z
      .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
      .optional()
      .describe('Taint effect to match; empty matches all effects.'),
    tolerationSeconds: z
      .number()
      .int()
      .optional()
      .describe('For NoExecute: how long the pod stays bound after the taint appears.'),
  })
  .strict();

// Free-form TOML given as an object. Values must be representable in TOML.
const TomlConfig = (component: string) =>
  z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      `${component} configuration as a TOML tree written as an object (e.g. {log: {level: info}}); rendered into the ${component} config file. ` +
        'Operator-managed addresses and paths are passed as flags and cannot be overridden here.',
    )
    .meta({ 'x-kubernetes-preserve-unknown-fields': true });

const componentFields = (component: 'PD' | 'TiKV', defaults: { image: string; storage: string; resources: object }) => ({
  replicas: z
    .number()
    .int()
    .min(1)
    .max(99)
    .default(3)
    .describe(`Number of ${component} ${component === 'PD' ? 'members' : 'stores'}.`),
  image: z
    .string()
    .min(1)
    .default(defaults.image)
    .describe(
      `${component} image repository; the tag comes from spec.version. An image that already carries a tag or digest is used as-is.`,
    ),
  storage: Storage(defaults.storage, component).prefault({}),
  resources: Resources.default(defaults.resources as z.input<typeof Resources>).describe(
    `CPU and memory for each ${component} pod. Defaults are sized so 3 PD + 3 TiKV fit a laptop kind cluster.`,
  ),
  config: TomlConfig(component),
  nodeSelector: z
    .record(z.string(), z.string())
    .optional()
    .describe(`Node labels every ${component} pod's node must have.`),
  tolerations: z.array(Toleration).optional().describe(`Tolerations of the ${component} pods.`),
  affinity: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      `Affinity of the ${component} pods (a core/v1 Affinity). Replaces the default soft anti-affinity that spreads pods across nodes.`,
    )
    .meta({ 'x-kubernetes-preserve-unknown-fields': true }),
});

export const PDSpec = z
  .object(
    componentFields('PD', {
      image: 'pingcap/pd',
      storage: '1Gi',
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    }),
  )
  .strict()
  .describe('The Placement Driver (PD) members: the cluster metadata and scheduling service.');

export const TiKVSpec = z
  .object(
    componentFields('TiKV', {
      image: 'pingcap/tikv',
      storage: '5Gi',
      resources: { requests: { cpu: '200m', memory: '512Mi' }, limits: { memory: '2Gi' } },
    }),
  )
  .strict()
  .describe('The TiKV stores: the distributed key-value storage nodes.');

export const TikvClusterSpec = z
  .object({
    version: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be a valid image tag such as v8.5.5')
      .default(DEFAULT_VERSION)
      .describe('PD and TiKV version; the image tag of both components.'),
    paused: z
      .boolean()
      .default(false)
      .describe('Stop changing the cluster\'s objects; status keeps being updated from PD.'),
    imagePullPolicy: z
      .enum(['Always', 'IfNotPresent', 'Never'])
      .default('IfNotPresent')
      .describe('Image pull policy of the PD and TiKV containers.'),
    pd: PDSpec.prefault({}),
    tikv: TiKVSpec.prefault({}),
  })
  .strict()
  .describe('Desired state of the TiKV cluster.');

// --- status ---------------------------------------------------------------------------

const Time = (description: string) => z.string().describe(description).meta({ format: 'date-time' });

export const Condition = z
  .object({
    type: z.string().max(316).describe('Condition type in CamelCase, e.g. Ready, PDAvailable, TiKVAvailable, Progressing, Degraded.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The .metadata.generation the condition was computed from.'),
    lastTransitionTime: Time('When the condition last changed status.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable CamelCase reason for the last transition.'),
    message: z.string().max(32768).describe('Human-readable explanation: what is wrong and what to do.'),
  })
  .strict();

export const PDMemberStatus = z
  .object({
    name: z.string().describe('PD member name (the pod name).'),
    id: z.string().describe('PD member ID (a uint64, kept as a string).'),
    clientURL: z.string().optional().describe('Client URL the member advertises.'),
    health: z.boolean().describe('Whether PD reports the member healthy.'),
    lastTransitionTime: Time('When health last changed.').optional(),
  })
  .strict();

export const TiKVStoreStatus = z
  .object({
    id: z.string().describe('PD store ID.'),
    podName: z.string().optional().describe('Pod running the store, derived from its advertise address.'),
    address: z.string().describe('Address the store advertises to PD.'),
    state: z.string().describe('Store state from PD: Up, Disconnected, Down, Offline or Tombstone.'),
    leaderCount: z.number().int().optional().describe('Number of Raft leaders on the store.'),
    regionCount: z.number().int().optional().describe('Number of Region replicas on the store.'),
    capacity: z.string().optional().describe('Store capacity as PD reports it (e.g. 5GiB).'),
    available: z.string().optional().describe('Available space as PD reports it.'),
    lastHeartbeatTime: Time('Last heartbeat PD received from the store.').optional(),
    lastTransitionTime: Time('When state last changed.').optional(),
  })
  .strict();

export const TikvClusterStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe('The .metadata.generation this status describes.'),
    phase: z
      .enum(['Pending', 'Bootstrapping', 'Running', 'Updating', 'Degraded', 'Paused', 'Invalid'])
      .optional()
      .describe('One-word summary: Pending, Bootstrapping, Running, Updating, Degraded, Paused or Invalid.'),
    conditions: z
      .array(Condition)
      .optional()
      .describe('Standard conditions: Ready, PDAvailable, TiKVAvailable, Progressing, Degraded.')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    clusterID: z.string().optional().describe('PD cluster ID (a uint64, kept as a string).'),
    pd: z
      .object({
        replicas: z.number().int().optional().describe('PD pods that exist.'),
        readyReplicas: z.number().int().optional().describe('PD pods that are ready.'),
        bootstrapped: z
          .boolean()
          .optional()
          .describe('Whether the initial PD members formed the cluster; later members join it.'),
        leader: z.string().optional().describe('Name of the PD leader.'),
        members: z
          .array(PDMemberStatus)
          .optional()
          .describe('PD members as PD reports them.')
          .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
      })
      .strict()
      .optional()
      .describe('PD status.'),
    tikv: z
      .object({
        replicas: z.number().int().optional().describe('TiKV pods that exist.'),
        readyReplicas: z.number().int().optional().describe('TiKV pods that are ready.'),
        selector: z.string().optional().describe('Label selector of the TiKV pods (for the scale subresource).'),
        stores: z
          .array(TiKVStoreStatus)
          .optional()
          .describe('TiKV stores as PD reports them, including tombstones of this cluster.')
          .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] }),
      })
      .strict()
      .optional()
      .describe('TiKV status.'),
  })
  .strict()
  .describe('Observed state of the TiKV cluster, kept true from PD by the operator.');

const ObjectMeta = z
  .object({
    name: z
      .string()
      .max(MAX_CLUSTER_NAME_LENGTH, `must be at most ${MAX_CLUSTER_NAME_LENGTH} characters so every derived object name fits Kubernetes limits`)
      .regex(
        /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
        'must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter and ending with a letter or digit',
      ),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

export const TikvClusterSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: TikvClusterSpec.prefault({}),
  status: TikvClusterStatus.optional(),
});

/** A validated TikvCluster with every default filled in. */
export type TikvCluster = z.output<typeof TikvClusterSchema>;
/** What a user may write (defaults optional). */
export type TikvClusterInput = z.input<typeof TikvClusterSchema>;
export type TikvClusterSpec = z.output<typeof TikvClusterSpec>;
export type TikvClusterStatus = z.output<typeof TikvClusterStatus>;
export type PDSpec = z.output<typeof PDSpec>;
export type TiKVSpec = z.output<typeof TiKVSpec>;
export type Condition = z.output<typeof Condition>;
export type PDMemberStatus = z.output<typeof PDMemberStatus>;
export type TiKVStoreStatus = z.output<typeof TiKVStoreStatus>;
export type ComponentSpec = PDSpec | TiKVSpec;
