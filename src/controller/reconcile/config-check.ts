// A changed spec.pd.config / spec.tikv.config reaches no running pod before the component's
// own binary accepted it: `pd-server --config-check` and `tikv-server --config-check`, run
// in a one-off pod (same image, the new rendered file), before the ConfigMap and the
// StatefulSet template change. Until the check passes, the component is synthesized with
// the config that runs now (the live ConfigMap's file, parsed back), so nothing about the
// config rolls; every other change (replicas, version) goes on.
//
// Why a check pod and not an init container: an init container runs only in a new pod, and
// a roll makes that pod by deleting a running one first; a bad config would then stop the
// first replaced member. The check pod replaces nothing. A brand-new cluster (or component)
// is not checked: no pod runs yet, so its first pods are the check, and a failure shows in
// PodsHealthy (pod-failures.ts); an unknown PD key only warns at start, so it is caught on
// the first change after creation, not at creation.
//
// The gate itself only reads (the roll step asks it which config to synthesize); the check
// pod's creation, the failure's Event and the pod's `reported` mark are writes, made by
// the apply step through the guarded writes (writeConfigChecks).
//
// What counts as passing: both binaries print `config check successful` and exit 0
// (PD v8.5.5 PrintConfigCheckMsg; TiKV v8.5.5 main.rs). Anything else fails the check:
// pd-server exits 0 also for unknown keys (it prints `Config contains undefined item: …`)
// and for a value of the wrong type, so its exit code alone says nothing.
import { createHash } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { pdServiceURL, type TikvCluster } from '../../api/index.js';
import { API_VERSION, KIND } from '../../api/v1alpha1.js';
import { imageRef, PD_CONFIG_KEYS, PD_SERVER_BINARY, renderPdToml, renderTikvToml, TIKV_CONFIG_FILE } from '../../charts/index.js';
import type { KubeObject } from '../../charts/types.js';
import type { LiveConfigMap, LivePod } from '../kube/objects.js';
import { errorText } from '../pd/view.js';
import type { Logger } from '../runtime/log.js';
import { lastWords } from './pod-failures.js';
import type { Pass, Step, Wait } from './steps.js';

export type CheckedComponent = 'pd' | 'tikv';

/** The check pod's component label; not `pd`/`tikv`, so no selector of the cluster's own pods matches it. */
export const checkComponent = (c: CheckedComponent) => `${c}-config-check`;
/** Marks the check pods (one label for both components; a test environment's fake nodes complete them). */
export const CHECK_LABEL = 'tikv.org/config-check';
/** Set once the failure was announced as an Event (on the pod, so it survives an operator restart). */
export const CHECK_REPORTED_ANNOTATION = 'tikv.org/config-check-reported';

const TIKV_BINARY = '/tikv-server';
const CHECK_DIR = '/config-check';
const binaryOf = (c: CheckedComponent) => (c === 'pd' ? PD_SERVER_BINARY : TIKV_BINARY);
const fileOf = (c: CheckedComponent) => `${CHECK_DIR}/${c === 'pd' ? PD_CONFIG_KEYS.config : TIKV_CONFIG_FILE}`;

/** The rendered config file of a component, as its ConfigMap holds it. */
export const renderedConfig = (cluster: TikvCluster, c: CheckedComponent) => (c === 'pd' ? renderPdToml(cluster.spec.pd) : renderTikvToml(cluster.spec.tikv));

export const checkPodName = (cluster: string, c: CheckedComponent, toml: string, image: string) =>
  `${cluster}-${c}-config-check-${createHash('sha256').update(image).update('\0').update(toml).digest('hex').slice(0, 10)}`;

/**
 * The check's shell step, POSIX sh with builtins only (pingcap images have bash as sh): the
 * file from $CONFIG, the binary's verdict as the termination message, success only on
 * "config check successful" with exit 0.
 */
function checkScript(c: CheckedComponent, cluster: TikvCluster): string {
  // TiKV validates pd.endpoints and the data dir too (TikvConfig::validate); pass what the pods pass.
  const extra = c === 'tikv' ? ` --pd=${pdServiceURL(cluster.metadata.name)} --data-dir=${CHECK_DIR}/data` : '';
  return [
    `printf '%s' "$CONFIG" > ${fileOf(c)}`,
    `out=$(${binaryOf(c)} --config-check --config=${fileOf(c)}${extra} 2>&1)`,
    'code=$?',
    `printf '%s\\n' "$out" > /dev/termination-log`,
    `printf '%s\\n' "$out"`,
    'case "$out" in *"config check successful"*) [ "$code" -eq 0 ] && exit 0 ;; esac',
    '[ "$code" -eq 0 ] && exit 1',
    'exit "$code"',
  ].join('\n');
}

/** The one-off pod that runs the binary's --config-check on `toml`. */
export function checkPod(cluster: TikvCluster, c: CheckedComponent, toml: string, uid: string | undefined): KubeObject {
  const spec = cluster.spec[c];
  const image = imageRef(spec.image, cluster.spec.version);
  const name = checkPodName(cluster.metadata.name, c, toml, image);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: cluster.metadata.namespace,
      labels: {
        'app.kubernetes.io/name': 'tikv',
        'app.kubernetes.io/instance': cluster.metadata.name,
        'app.kubernetes.io/component': checkComponent(c),
        'app.kubernetes.io/managed-by': 'tikv-operator',
        [CHECK_LABEL]: 'true',
      },
      ...(uid ? { ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: cluster.metadata.name, uid, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 5,
      ...(spec.nodeSelector && Object.keys(spec.nodeSelector).length ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.tolerations?.length ? { tolerations: spec.tolerations } : {}),
      containers: [
        {
          name: 'config-check',
          image,
          imagePullPolicy: cluster.spec.imagePullPolicy,
          command: ['/bin/sh', '-c', checkScript(c, cluster)],
          env: [{ name: 'CONFIG', value: toml }],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources: { requests: { cpu: '10m', memory: '32Mi' } },
          volumeMounts: [{ name: 'check', mountPath: CHECK_DIR }],
        },
      ],
      volumes: [{ name: 'check', emptyDir: {} }],
    },
  };
}

export type CheckVerdict = { kind: 'passed' } | { kind: 'failed'; output: string; reported: boolean } | { kind: 'running'; detail?: string };

/** What a check pod says. */
export function judgeCheckPod(p: LivePod): CheckVerdict {
  const c = p.status?.containerStatuses?.[0];
  if (p.status?.phase === 'Succeeded') return { kind: 'passed' };
  if (p.status?.phase === 'Failed') {
    const t = c?.state?.terminated;
    return { kind: 'failed', output: lastWords(t?.message, 1000) || `exit code ${t?.exitCode ?? '?'}`, reported: p.metadata?.annotations?.[CHECK_REPORTED_ANNOTATION] === 'true' };
  }
  const waiting = c?.state?.waiting;
  if (waiting?.reason && waiting.reason !== 'ContainerCreating') return { kind: 'running', detail: `${waiting.reason}: ${waiting.message ?? ''}`.trim() };
  const scheduled = p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
  if (scheduled?.reason === 'Unschedulable') return { kind: 'running', detail: `Unschedulable: ${scheduled.message ?? ''}`.trim() };
  return { kind: 'running' };
}

/** The config that runs, as a spec config: the live rendered file parsed back (renders to the same file). */
export function heldConfig(liveToml: string): Record<string, unknown> {
  // Exact: integers beyond 2^53 stay BigInt (the spec keeps them exact too), a `__proto__` key stays a key.
  return parseToml(liveToml, { integersAsBigInt: 'asNeeded', unsafeKeyBehaviour: 'keep' }) as Record<string, unknown>;
}

/** What the gate reads: the live objects of the components, and the check pods from the API server. */
export interface GateReads {
  /** The live ConfigMap (cache) of a component. */
  liveConfigMap: (c: CheckedComponent) => LiveConfigMap | undefined;
  /** Whether the component's StatefulSet exists (pods may run). */
  liveStatefulSet: (c: CheckedComponent) => boolean;
  readPod: (namespace: string, name: string) => Promise<LivePod | undefined>;
  uid: string | undefined;
  log: Logger;
}

/** A write the gate asks for: create a check pod, or announce its refusal once (Event, then the pod's mark). */
export type ConfigCheckWrite = { kind: 'create'; pod: KubeObject } | { kind: 'report'; pod: KubeObject; live: LivePod; message: string };

export interface GateResult {
  /** The cluster to synthesize: a component whose new config is not (yet) accepted keeps its live config. */
  cluster: TikvCluster;
  waits: Wait[];
  writes: ConfigCheckWrite[];
}

const CONFIG_FILE_KEY: Record<CheckedComponent, string> = { pd: PD_CONFIG_KEYS.config, tikv: TIKV_CONFIG_FILE };
const LABEL: Record<CheckedComponent, string> = { pd: 'PD', tikv: 'TiKV' };

/** The config check for PD and TiKV (`components`: those the reconcile applies); reads only. */
export async function gateConfigs(reads: GateReads, cluster: TikvCluster, components: readonly CheckedComponent[]): Promise<GateResult> {
  const step: Step = 'roll';
  let out = cluster;
  const waits: Wait[] = [];
  const writes: ConfigCheckWrite[] = [];
  const namespace = cluster.metadata.namespace ?? 'default';
  for (const c of components) {
    const desired = renderedConfig(cluster, c);
    const live = reads.liveConfigMap(c)?.data?.[CONFIG_FILE_KEY[c]];
    if (live === undefined || live === desired || !reads.liveStatefulSet(c)) continue;
    const pod = checkPod(cluster, c, desired, reads.uid);
    const name = pod.metadata.name;
    const field = `spec.${c}.config`;
    const existing = await reads.readPod(namespace, name);
    const verdict: CheckVerdict = existing ? judgeCheckPod(existing) : { kind: 'running' };
    if (verdict.kind === 'passed') {
      reads.log.info({ step, component: c, pod: name }, `${binaryOf(c)} --config-check accepted the new ${field}`);
      continue;
    }
    if (!existing) {
      writes.push({ kind: 'create', pod });
      reads.log.info({ step, component: c, pod: name }, `checking the new ${field} with ${binaryOf(c)} --config-check before any pod uses it`);
    }
    out = { ...out, spec: { ...out.spec, [c]: { ...out.spec[c], config: heldConfig(live) } } };
    if (verdict.kind === 'failed') {
      const message = `${field} is refused by ${binaryOf(c)} --config-check (pod ${name}): ${verdict.output}; the ${LABEL[c]} pods keep the config they run, fix ${field}`;
      waits.push({ reason: 'ConfigCheckFailed', message });
      if (!verdict.reported && existing) writes.push({ kind: 'report', pod, live: existing, message });
    } else {
      const detail = verdict.kind === 'running' && verdict.detail ? ` (${verdict.detail})` : '';
      waits.push({ reason: 'ConfigChecking', message: `checking the new ${field} with ${binaryOf(c)} --config-check in pod ${name}${detail}; the ${LABEL[c]} pods keep their config until it passes` });
    }
  }
  return { cluster: out, waits, writes };
}

/**
 * The gate's writes, through the pass's guarded writes. A refusal is announced once: the
 * Event first, then the mark on the pod, so a failed Event is tried again. Returns what
 * the apiserver refused, as `Pod/name: message`.
 */
export async function writeConfigChecks(pass: Pass, checks: readonly ConfigCheckWrite[]): Promise<string[]> {
  const step: Step = 'apply';
  const errors: string[] = [];
  for (const w of checks) {
    try {
      if (w.kind === 'create') {
        await pass.writes.apply(w.pod, undefined);
      } else {
        await pass.writes.emit(pass.target, 'Warning', 'ConfigCheckFailed', w.message);
        await pass.writes.apply(reportedMark(w.pod), w.live);
      }
    } catch (e) {
      pass.log.error({ step, object: `Pod/${w.pod.metadata.name}`, err: errorText(e) }, 'config-check pod write failed');
      errors.push(`Pod/${w.pod.metadata.name}: ${errorText(e)}`);
    }
  }
  return errors;
}

const reportedMark = (pod: KubeObject): KubeObject => ({ ...pod, metadata: { ...pod.metadata, annotations: { [CHECK_REPORTED_ANNOTATION]: 'true' } } });
