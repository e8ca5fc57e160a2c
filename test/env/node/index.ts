// The real node as a part of the test environment (startTestEnv({ node: true })): in two
// phases around the control plane, because the apiserver binds the host end of the node's
// veth pair. prepare(): the checks, the machine-wide lock, a killed run's leftovers, the
// images and the namespaces. start(): containerd, kubelet, kube-proxy, CoreDNS and the
// stand-in hub. stop(): everything, in reverse, then the lock.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Binaries } from '../binaries.js';
import { choosePDKind } from '../pd/pd-select.js';
import { loadProtoDirs } from '../pd/pdpb.js';
import { ADDR } from './config.js';
import { acquireNodeLock, checkHostPrerequisites, NodeUnavailableError, type NodeLock, type NodeNamespaces, reapLeftovers, startNamespaces } from './host.js';
import { buildNodeImages, type NodeImage } from './images.js';
import { type RealNode, type StopReport, startRealNode } from './node.js';
import { type StandinHub, startStandinHub } from './standin/hub.js';

export { NodeUnavailableError } from './host.js';

/** Binaries the node needs besides the control plane's (testenv/build.sh node coredns). */
export const NODE_BINARIES = ['kubelet', 'kube-proxy', 'kubectl', 'pause', 'coredns'] as const;

export interface NodeEnvOptions {
  /** How long to wait for another run's node on this machine (default 20 min). */
  lockWaitMs?: number;
  /** Where images are cached (default: next to the bin dirs). */
  imageCacheDir: string;
  /** Where the node's components log (kept when a start fails). */
  logDir: string;
  log: (s: string) => void;
}

export interface ControlPlaneAccess {
  server: string;
  adminToken: string;
  caFile: string;
  kc: KubeConfig;
  dir: string;
}

export interface PreparedNode {
  readonly apiserverAddress: string;
  readonly serviceCIDR: string;
  readonly images: NodeImage[];
  readonly pdServer: 'real' | 'standin';
  start(cp: ControlPlaneAccess): Promise<StartedNode>;
  /** Ends the namespaces and releases the lock (when start() was never reached or failed). */
  abort(): Promise<void>;
}

export interface StartedNode {
  readonly node: RealNode;
  readonly pdServer: 'real' | 'standin';
  readonly hub: StandinHub;
  /** What stop() found (left processes, cgroups, restored sysctls), once it ran. */
  readonly stopReport: StopReport | undefined;
  /**
   * Stops the hub and the node's components, before the control plane: the apiserver binds
   * the host end of the node's veth, which goes with the namespaces, and an apiserver whose
   * address vanished does not finish its graceful shutdown.
   */
  stopComponents(): Promise<void>;
  stop(): Promise<StopReport>;
}

/** Checks, lock, leftovers, images, namespaces. Throws NodeUnavailableError where the node cannot run. */
export async function prepareNode(bins: Binaries, o: NodeEnvOptions): Promise<PreparedNode> {
  checkHostPrerequisites();
  const kvprotoDir = bins.paths.KVPROTO_DIR;
  if (!kvprotoDir) throw new NodeUnavailableError(`KVPROTO_DIR is not set in ${bins.binDir}/paths.env (run \`bash testenv/build.sh\`)`);
  // A real pd-server in the bin dir goes into the PD image instead of the stand-in (TESTENV_PD=real|standin forces).
  const realPd = choosePDKind(bins.binDir) === 'real' ? bins.bin('pd-server') : undefined;
  const images = await buildNodeImages({ binDir: bins.binDir, cacheDir: o.imageCacheDir, kvprotoDir, realPdServer: realPd, log: o.log });
  const lock: NodeLock = await acquireNodeLock(o.lockWaitMs ?? 20 * 60_000, o.log);
  let ns: NodeNamespaces;
  try {
    for (const did of await reapLeftovers()) o.log(`[node] leftover of a killed run: ${did}`);
    ns = await startNamespaces(bins.bin('pause'), o.logDir, o.log);
  } catch (e) {
    await reapLeftovers().catch(() => undefined);
    await lock.release();
    throw e;
  }
  let started = false;
  return {
    apiserverAddress: ADDR.host,
    serviceCIDR: ADDR.serviceCIDR,
    images,
    pdServer: realPd ? 'real' : 'standin',
    async abort() {
      if (started) return;
      await ns.stop();
      await reapLeftovers().catch(() => undefined);
      await lock.release();
    },
    async start(cp) {
      started = true;
      let node: RealNode | undefined;
      let hub: StandinHub | undefined;
      let stopReport: StopReport | undefined;
      const stopComponents = async () => {
        await hub?.stop().catch((e) => o.log(`[node] stand-in hub stop: ${e}`));
        await node?.stopComponents();
      };
      const stop = async (): Promise<StopReport> => {
        if (stopReport) return stopReport;
        await stopComponents();
        let report: StopReport = { restoredSysctls: [], leftCgroups: [], leftProcesses: [] };
        if (node) report = await node.stop();
        else await ns.stop();
        await reapLeftovers().catch((e) => o.log(`[node] cleanup: ${e}`));
        await lock.release();
        stopReport = report;
        return report;
      };
      try {
        hub = await startStandinHub({ kc: cp.kc, host: ADDR.host, dir: cp.dir, protoDirs: loadProtoDirs(bins.binDir), log: o.log });
        node = await startRealNode({ ns, bins, server: cp.server, adminToken: cp.adminToken, caFile: cp.caFile, kc: cp.kc, images, log: o.log });
      } catch (e) {
        await stop().catch(() => undefined);
        throw e;
      }
      return {
        node,
        hub,
        pdServer: realPd ? 'real' : 'standin',
        get stopReport() {
          return stopReport;
        },
        stopComponents,
        stop,
      };
    },
  };
}
