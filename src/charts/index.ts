// The desired Kubernetes objects of a TikvCluster: a pure function of the validated
// cluster and a few facts only the controller knows (uid, bootstrap marker, partitions).
import { createHash } from 'node:crypto';
import { App, Chart } from 'cdk8s';
import type { TikvCluster } from '../api/index.js';
import { addComponent, CONSTRUCT_IDS } from './build.js';
import { undoPlus28Defaults } from './undo-plus28-defaults.js';
import { namespaceOf, pdModel, type SynthOptions, tikvModel } from './model.js';
import type { KubeObject } from './types.js';

export * from './admission.js';
export { blockCacheCapacity, configHash, deepMerge, renderPdToml, renderTikvToml, tikvDefaults } from './config.js';
export { exactResources, softAntiAffinity } from './undo-plus28-defaults.js';
export * from './labels.js';
export {
  imageRef,
  PD_PORTS,
  TIKV_CONFIG_DIR,
  TIKV_CONFIG_FILE,
  TIKV_DATA_DIR,
  TIKV_PORTS,
  type SynthOptions,
} from './model.js';
export * from './pd-bootstrap.js';
export type { KubeObject, OwnerReference } from './types.js';

/**
 * Synthesizes the ConfigMaps, Services and StatefulSets of one TikvCluster. Pure: no I/O,
 * and every call returns fresh objects the caller may change. Throws only if a quantity
 * that passed validation still cannot be parsed (the message names the field).
 *
 * The operator asks for the same objects on every poll of every cluster, and a cdk8s App
 * costs milliseconds and much garbage where a lookup costs microseconds. So results are
 * remembered (as JSON text, parsed per call) by a hash of everything the charts read of
 * the cluster: name, namespace, labels, annotations and spec, plus the options.
 */
export function synthesize(cluster: TikvCluster, opts: SynthOptions = {}): KubeObject[] {
  const { name, namespace, labels, annotations } = cluster.metadata;
  const key = createHash('sha256')
    .update(JSON.stringify([name, namespace, labels, annotations, cluster.spec, opts], typed))
    .digest('base64');
  let json = remembered.get(key);
  if (json === undefined) {
    json = JSON.stringify(synthesizeOnce(cluster, opts));
    if (remembered.size >= REMEMBERED) remembered.delete(remembered.keys().next().value as string);
  } else {
    remembered.delete(key);
  }
  remembered.set(key, json);
  return JSON.parse(json) as KubeObject[];
}

/**
 * The memo key's encoding: config integers beyond 2^53 are bigints (which JSON.stringify
 * refuses), and a bigint must never hash like the string of its digits (a TOML integer and
 * a TOML string render differently), so every string and bigint carries its type.
 */
const typed = (_key: string, value: unknown) => (typeof value === 'bigint' ? `b${value}` : typeof value === 'string' ? `s${value}` : value);

/** Least recently used first; a few kB each, one or two per cluster. */
const remembered = new Map<string, string>();
const REMEMBERED = 1024;

function synthesizeOnce(cluster: TikvCluster, opts: SynthOptions): KubeObject[] {
  const models = [pdModel(cluster, opts), tikvModel(cluster, opts)];
  const app = new App({ recordConstructMetadata: false });
  const chart = new Chart(app, CONSTRUCT_IDS.chart, { namespace: namespaceOf(cluster), disableResourceNameHashes: true });
  for (const model of models) addComponent(chart, model, cluster.metadata.name, cluster.spec.imagePullPolicy);
  return undoPlus28Defaults(chart.toJson() as KubeObject[], { clusterName: cluster.metadata.name, uid: opts.uid, models });
}

/** Synthesis without the memo, for tests that compare the two. */
export const synthesizeUncached = (cluster: TikvCluster, opts: SynthOptions = {}): KubeObject[] =>
  JSON.parse(JSON.stringify(synthesizeOnce(cluster, opts))) as KubeObject[];
