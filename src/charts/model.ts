// What each component's objects must contain, decided from the TikvCluster alone. The
// cdk8s constructs (build.ts) and the post-processing (undo-plus28-defaults.ts) both read this model,
// so every name, port and path is decided in one place.
import { type ComponentSpec, names, PD_PORTS, pdServiceURL, podFqdn, TIKV_PORTS, type TikvCluster } from '../api/index.js';
import { configHash, renderPdToml, renderTikvToml } from './config.js';
import type { Component } from './labels.js';
import { initialCluster, PD_CONFIG_DIR, PD_CONFIG_KEYS, PD_DATA_DIR, pdStartScript } from './pd-bootstrap.js';

export interface SynthOptions {
  /** uid of the TikvCluster; when given, every object gets a controller owner reference to it. */
  uid?: string;
  /** Value of the PD bootstrap marker: false until the initial PD members formed the cluster. */
  pdBootstrapped?: boolean;
  /** StatefulSet rolling-update partitions: pods with a lower ordinal keep the old template. */
  pdPartition?: number;
  tikvPartition?: number;
  /**
   * Whether each volumeClaimTemplate marks new PVCs `tikv.org/admission: pending` (default
   * true). False for a live StatefulSet created without the marker: its templates are
   * immutable.
   */
  pdClaimMarker?: boolean;
  tikvClaimMarker?: boolean;
}

export interface PortSpec {
  name: string;
  port: number;
}

export interface ServiceModel {
  name: string;
  headless: boolean;
  ports: PortSpec[];
}

export interface ComponentModel {
  component: Component;
  spec: ComponentSpec;
  image: string;
  configMap: { name: string; data: Record<string, string>; mountPath: string };
  services: ServiceModel[];
  statefulSet: {
    name: string;
    serviceName: string;
    partition: number;
    containerPorts: PortSpec[];
    /** An HTTP GET of `path` on `port` (PD), or a TCP connect to `port` (TiKV). */
    readiness: { port: number; httpPath?: string };
    metricsPort: number;
    command: string[];
    args: string[];
    configHash: string;
    /** volumeClaimTemplate name; also the name of the data volume mount. */
    dataVolume: string;
    dataMountPath: string;
    /** Whether the volumeClaimTemplate carries the `pending` admission marker. */
    claimMarker: boolean;
  };
}

export const TIKV_CONFIG_DIR = '/etc/tikv';
export const TIKV_DATA_DIR = '/var/lib/tikv';
export const TIKV_CONFIG_FILE = 'tikv.toml';

export { PD_PORTS, TIKV_PORTS };
/** The embedded etcd's health endpoint on PD's client port (not PD's own /pd/api/v1/health). */
export const PD_HEALTH_PATH = '/health';

/** `<image>:<version>`, unless the image already names a tag or digest. */
export function imageRef(image: string, version: string): string {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') || lastSegment.includes('@') ? image : `${image}:${version}`;
}

export const namespaceOf = (cluster: TikvCluster) => cluster.metadata.namespace ?? 'default';

export function pdModel(cluster: TikvCluster, opts: SynthOptions): ComponentModel {
  const name = cluster.metadata.name;
  const namespace = namespaceOf(cluster);
  const n = names(name);
  const pd = cluster.spec.pd;
  const toml = renderPdToml(pd);
  const script = pdStartScript(name, namespace);
  return {
    component: 'pd',
    spec: pd,
    image: imageRef(pd.image, cluster.spec.version),
    configMap: {
      name: n.pdConfigMap,
      mountPath: PD_CONFIG_DIR,
      data: {
        [PD_CONFIG_KEYS.config]: toml,
        [PD_CONFIG_KEYS.startScript]: script,
        [PD_CONFIG_KEYS.initialCluster]: initialCluster(name, namespace, pd.replicas),
        [PD_CONFIG_KEYS.bootstrapped]: String(opts.pdBootstrapped ?? false),
      },
    },
    services: [
      {
        name: n.pdPeerService,
        headless: true,
        ports: [
          { name: 'client', port: PD_PORTS.client },
          { name: 'peer', port: PD_PORTS.peer },
        ],
      },
      { name: n.pdClientService, headless: false, ports: [{ name: 'client', port: PD_PORTS.client }] },
    ],
    statefulSet: {
      name: n.pdStatefulSet,
      serviceName: n.pdPeerService,
      partition: opts.pdPartition ?? 0,
      containerPorts: [
        { name: 'client', port: PD_PORTS.client },
        { name: 'peer', port: PD_PORTS.peer },
      ],
      // Ready means this member can serve: the embedded etcd's GET /health on the client port
      // answers 503 {"health":"false","reason":"RAFT NO LEADER"} without quorum and 200 with a
      // leader (etcd v3.5 etcdhttp, which PD v8.5.5 embeds). TCP 2379 opens whatever the state
      // (a lone member, a removed one). Bootstrap does not need Ready: peers resolve each other
      // through the headless peer Service, which publishes not-ready addresses; --join goes
      // through the client Service, whose endpoints are then exactly the members with quorum.
      readiness: { port: PD_PORTS.client, httpPath: PD_HEALTH_PATH },
      metricsPort: PD_PORTS.client,
      command: ['/bin/sh', `${PD_CONFIG_DIR}/${PD_CONFIG_KEYS.startScript}`],
      args: [],
      // The membership keys are left out on purpose: flipping the marker or changing the
      // initial member list must not roll the PD pods.
      configHash: configHash(toml, script),
      dataVolume: n.pdVolume,
      dataMountPath: PD_DATA_DIR,
      claimMarker: opts.pdClaimMarker ?? true,
    },
  };
}

export function tikvModel(cluster: TikvCluster, opts: SynthOptions): ComponentModel {
  const name = cluster.metadata.name;
  const namespace = namespaceOf(cluster);
  const n = names(name);
  const tikv = cluster.spec.tikv;
  const toml = renderTikvToml(tikv);
  // $(POD_NAME) is expanded by the kubelet from the env var, so TiKV needs no shell.
  const host = podFqdn('$(POD_NAME)', n.tikvPeerService, namespace);
  return {
    component: 'tikv',
    spec: tikv,
    image: imageRef(tikv.image, cluster.spec.version),
    configMap: { name: n.tikvConfigMap, mountPath: TIKV_CONFIG_DIR, data: { [TIKV_CONFIG_FILE]: toml } },
    services: [{ name: n.tikvPeerService, headless: true, ports: [{ name: 'peer', port: TIKV_PORTS.server }] }],
    statefulSet: {
      name: n.tikvStatefulSet,
      serviceName: n.tikvPeerService,
      partition: opts.tikvPartition ?? 0,
      containerPorts: [
        { name: 'server', port: TIKV_PORTS.server },
        { name: 'status', port: TIKV_PORTS.status },
      ],
      // TCP stays: tikv-server v8.5.5 binds 20160 in run_server (build_and_bind), after
      // TikvServer::init reached PD and init_servers registered the store
      // (try_bootstrap_store), so an open port already means "a store PD knows". The status
      // port's GET /status is no better: it answers 200 with an empty body from the start.
      readiness: { port: TIKV_PORTS.server },
      metricsPort: TIKV_PORTS.status,
      command: ['/tikv-server'],
      args: [
        `--pd=${pdServiceURL(name)}`,
        `--addr=0.0.0.0:${TIKV_PORTS.server}`,
        `--advertise-addr=${host}:${TIKV_PORTS.server}`,
        `--status-addr=0.0.0.0:${TIKV_PORTS.status}`,
        `--advertise-status-addr=${host}:${TIKV_PORTS.status}`,
        `--data-dir=${TIKV_DATA_DIR}`,
        `--config=${TIKV_CONFIG_DIR}/${TIKV_CONFIG_FILE}`,
      ],
      configHash: configHash(toml),
      dataVolume: n.tikvVolume,
      dataMountPath: TIKV_DATA_DIR,
      claimMarker: opts.tikvClaimMarker ?? true,
    },
  };
}
