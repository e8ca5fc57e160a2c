// The test environment: a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok nodes, a fake volume provisioner) plus a
// real PD cluster, all on 127.0.0.1 under one temp dir. Used by vitest's globalSetup and
// by `npm run testenv -- up`. With `node: true` a real node joins instead of the PD
// processes (test/env/node: kubelet, containerd, kube-proxy, CoreDNS; needs root), and the
// apiserver listens on the node's veth instead of loopback.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { CONTROL_PLANE_BINARIES, findBinaries, type TestEnvPaths } from './binaries.js';
import { startControlPlane } from './controlplane/controlplane.js';
import { IN_NODE } from './node/config.js';
import { checkHostPrerequisites } from './node/host.js';
import { NODE_BINARIES, type PreparedNode, prepareNode, type StartedNode } from './node/index.js';
import type { PDClusterHandle } from './pd/pd.js';
import { type PDKind, startPD } from './pd/pd-select.js';
import { formatLogTails, type ManagedProcess, pidAlive, reapOrphans, removeOnExit, startWatchdog } from './process.js';
import { type Provisioner, startProvisioner } from './controlplane/provisioner.js';

export interface TestEnvOptions {
  /** Fake kwok nodes (default 4: two amd64, two arm64). */
  nodes?: number;
  /** Start a 3-member PD cluster (default true; false with `node`). */
  pd?: boolean;
  /** Add a real node (default false; kwok nodes default to 0 then). */
  node?: boolean;
  log?: (s: string) => void;
}

export interface TestEnv {
  dir: string;
  kubeconfigPath: string;
  /** Admin (system:masters) KubeConfig. */
  kc: KubeConfig;
  server: string;
  adminToken: string;
  auditLogPath: string;
  binDir: string;
  paths: TestEnvPaths;
  pd?: PDClusterHandle;
  /** `real` = pd-server v8.5.5, `standin` = the TypeScript PD stand-in. */
  pdKind?: PDKind;
  nodeNames: string[];
  /** The real node, when started with `node: true`. */
  node?: StartedNode;
  /** Every process of the control plane (PD members are owned by `pd`). */
  processes: readonly ManagedProcess[];
  /** Stops everything in reverse order and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
const DIR_PREFIX = 'tikv-operator-testenv-';
const OWNER_FILE = 'owner.pid';

/**
 * Cleans up after earlier runs whose Node process was SIGKILLed: their components still
 * run (own process groups) and their dirs remain. Dirs of live owners (concurrent runs)
 * and dirs without live children (kept logs of a failed start) are left alone.
 */
function reapAbandonedEnvs(log: (s: string) => void): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
      if (!Number.isInteger(owner) || pidAlive(owner)) continue;
      const killed = reapOrphans(dir);
      if (killed > 0) {
        rmSync(dir, { recursive: true, force: true });
        log(`[testenv] killed ${killed} leftover process(es) of an abandoned run in ${dir}`);
      }
    } catch {
      // not ours, or already gone
    }
  }
}

export async function startTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const withNode = opts.node ?? false;
  const withPD = opts.pd ?? !withNode;
  // Before anything else: where the node cannot run, say why at once.
  if (withNode) checkHostPrerequisites();
  // pd-server is optional: without it the PD stand-in runs (see pd-select.ts).
  const bins = findBinaries(withNode ? [...CONTROL_PLANE_BINARIES, ...NODE_BINARIES] : CONTROL_PLANE_BINARIES);
  reapAbandonedEnvs(log);
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const t0 = Date.now();
  const elapsed = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const cancelRemoveOnExit = removeOnExit(dir);
  // Covers the deaths no handler sees (SIGKILL): the components are killed within ~1 s.
  const cancelWatchdog = startWatchdog(dir);
  log(`[testenv] starting in ${dir} (binaries: ${bins.binDir})`);

  const procs: ManagedProcess[] = [];
  let prepared: PreparedNode | undefined;
  let node: StartedNode | undefined;
  let provisioner: Provisioner | undefined;
  let pd: PDClusterHandle | undefined;
  let pdKind: PDKind | undefined;
  let stopped = false;

  const stopAll = async (removeDir: boolean) => {
    if (stopped) return;
    stopped = true;
    const t = Date.now();
    await provisioner?.stop().catch((e) => log(`[testenv] provisioner stop: ${e}`));
    await pd?.stop().catch((e) => log(`[testenv] pd stop: ${e}`));
    // The node's components go before the control plane, its namespaces (and the apiserver's address) after.
    await node?.stopComponents().catch((e) => log(`[testenv] node stop: ${e}`));
    // A component that died during the run explains many a confusing test failure.
    const crashed = procs.filter((p) => p.exitStatus() !== undefined);
    if (crashed.length > 0) log(`[testenv] exited before stop:\n${formatLogTails(crashed)}`);
    // Reverse start order: clients of the apiserver first, etcd last.
    for (const p of [...procs].reverse()) await p.stop(STOP_GRACE_MS);
    if (node) await node.stop().catch((e) => log(`[testenv] node stop: ${e}`));
    else await prepared?.abort().catch((e) => log(`[testenv] node stop: ${e}`));
    if (removeDir) rmSync(dir, { recursive: true, force: true });
    cancelRemoveOnExit();
    cancelWatchdog();
    log(`[testenv] stopped in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  };
  const stop = () => stopAll(true);

  try {
    if (withNode) {
      prepared = await prepareNode(bins, { imageCacheDir: join(dirname(bins.binDir), 'node-images'), logDir: join(dir, 'node'), log });
      log(`[testenv] node prepared (${elapsed()})`);
    }
    const cp = await startControlPlane({
      bins,
      dir,
      nodes: opts.nodes ?? (withNode ? 0 : 4),
      log,
      procs,
      apiserverAddress: prepared?.apiserverAddress,
      serviceCIDR: prepared?.serviceCIDR,
    });
    provisioner = await startProvisioner(cp.kc, log, withNode ? { hostPathDir: IN_NODE.hostVolumes } : {});
    log(`[testenv] provisioner watching PVCs (${elapsed()})`);
    if (prepared) {
      node = await prepared.start({ server: cp.server, adminToken: cp.adminToken, caFile: cp.caFile, kc: cp.kc, dir });
      log(`[testenv] real node ${node.node.name} Ready (${elapsed()})`);
    }
    if (withPD) {
      ({ kind: pdKind, handle: pd } = await startPD({ binDir: bins.binDir, dir: join(dir, 'pd'), members: 3, log: (s) => log(`[testenv] ${s}`) }));
      log(`[testenv] PD (${pdKind === 'real' ? 'pd-server' : 'stand-in'}) ready at ${pd.clientURLs.join(',')} (${elapsed()})`);
    }
    log(`[testenv] ready in ${elapsed()}; KUBECONFIG=${cp.kubeconfigPath}`);
    return {
      dir,
      kubeconfigPath: cp.kubeconfigPath,
      kc: cp.kc,
      server: cp.server,
      adminToken: cp.adminToken,
      auditLogPath: cp.auditLogPath,
      binDir: bins.binDir,
      paths: bins.paths,
      pd,
      pdKind,
      nodeNames: node ? [...cp.nodeNames, node.node.name] : cp.nodeNames,
      node,
      processes: procs,
      stop,
    };
  } catch (e) {
    // The tails go into the error itself: callers (vitest's globalSetup) may not show our log.
    const report = `test environment startup failed after ${elapsed()}: ${(e as Error).message}\n${formatLogTails(procs)}\n(full logs kept in ${dir})`;
    log(`[testenv] ${report}`);
    await stopAll(false).catch(() => undefined);
    throw new Error(report, { cause: e });
  }
}
