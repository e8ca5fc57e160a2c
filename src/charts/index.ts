// The desired Kubernetes objects of a TikvCluster: a pure function of the validated
// cluster and a few facts only the controller knows (uid, bootstrap marker, partitions).
import { App, Chart } from 'cdk8s';
import type { TikvCluster } from '../api/index.js';
import { addComponent, CONSTRUCT_IDS } from './build.js';
import { finishObjects } from './finish.js';
import { namespaceOf, pdModel, type SynthOptions, tikvModel } from './model.js';
import type { KubeObject } from './types.js';

export * from './admission.js';
export { blockCacheCapacity, configHash, deepMerge, renderPdToml, renderTikvToml, tikvDefaults } from './config.js';
export { exactResources, softAntiAffinity } from './finish.js';
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
 * a fresh cdk8s App per call. Throws only if a quantity that passed validation still
 * cannot be parsed (the message names the field).
 */
export function synthesize(cluster: TikvCluster, opts: SynthOptions = {}): KubeObject[] {
  const models = [pdModel(cluster, opts), tikvModel(cluster, opts)];
  const app = new App({ recordConstructMetadata: false });
  const chart = new Chart(app, CONSTRUCT_IDS.chart, { namespace: namespaceOf(cluster), disableResourceNameHashes: true });
  for (const model of models) addComponent(chart, model, cluster.metadata.name, cluster.spec.imagePullPolicy);
  const objects = chart.toJson() as KubeObject[];
  // A deep copy, so no two places share one object (callers may edit the result, and a
  // YAML writer would otherwise emit anchors and aliases).
  return structuredClone(finishObjects(objects, { clusterName: cluster.metadata.name, uid: opts.uid, models }));
}
