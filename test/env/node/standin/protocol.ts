// How the stand-ins in the real node's pods talk to the stand-in hub (hub.ts): one TCP
// connection per pod process, newline-delimited JSON, requests answered by `re`, pushes
// without. The connection is also the pod's liveness: while it is open, the PD member or
// TiKV store of that pod is running; when the container dies, the kernel closes it.
import net from 'node:net';
import type { RegionEntry } from '../../pd/region-book.js';

/** The hub as pods reach it: a selector-less Service whose EndpointSlice points at the hub. */
export const HUB_SERVICE = { namespace: 'kube-system', name: 'tikv-standin-hub', port: 7070 } as const;
/** TIKV_STANDIN_HUB overrides it (tests run the stand-in programs outside a pod). */
export const HUB_ADDRESS = process.env.TIKV_STANDIN_HUB || `${HUB_SERVICE.name}.${HUB_SERVICE.namespace}.svc.cluster.local:${HUB_SERVICE.port}`;

export type PdStartMode = 'bootstrap' | 'join' | 'restart';

export interface PdStartRequest {
  type: 'pd-start';
  /** The PD cluster: the peer Service's domain of the member's advertise peer URL. */
  cluster: string;
  name: string;
  clientURL: string;
  peerURL: string;
  mode: PdStartMode;
  /** --initial-cluster (bootstrap). */
  initialCluster?: string;
  /** From the data dir (restart). */
  memberId?: string;
  clusterId?: string;
  /** From pd.toml at bootstrap (PD reads replication and schedule settings only then). */
  maxReplicas?: number;
  maxStoreDownTimeMs?: number;
  version: string;
}

export interface PdStarted {
  ok: true;
  memberId: string;
  clusterId: string;
  /** Where this member's PD API is served (the pod forwards its client port here). */
  host: string;
  port: number;
  /** `name=peerURL,...` of the members (what PD writes to data-dir/join). */
  members: string;
  /** The member is on PD's books no more (restarted from a removed member's data). */
  removed: boolean;
}

export interface TikvJoin {
  type: 'tikv-join';
  clusterId: string;
  storeId: string;
}

export interface TikvCommit {
  type: 'tikv-commit';
  clusterId: string;
  storeId: string;
  entries: RegionEntry[];
}

export type PodMessage = (PdStartRequest | TikvJoin | TikvCommit) & { id?: number };

export interface RegionsPush {
  type: 'regions';
  entries: RegionEntry[];
  live: string[];
  /** Seconds since each down store stopped (its pod's connection closed). */
  down: Record<string, number>;
}

export interface Failure {
  ok: false;
  message: string;
}

export type HubMessage = ((PdStarted | Failure | { ok: true }) & { re: number }) | RegionsPush | { type: 'pd-removed' };

/** One line of JSON. Buffers (region keys) travel as Buffer.toJSON's {type:'Buffer',data}. */
export function encode(msg: unknown): string {
  return `${JSON.stringify(msg)}\n`;
}

export function decode<T>(line: string): T {
  return JSON.parse(line, (_k, v: unknown) => {
    const b = v as { type?: unknown; data?: unknown } | null;
    return b && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data as number[]) : v;
  }) as T;
}

/** Calls `onLine` for every complete line that arrives on `socket`. */
export function readLines(socket: net.Socket, onLine: (line: string) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
    }
  });
}

/** A pod's connection to the hub: request/answer by id, pushes to `onPush`. */
export class HubClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: HubMessage) => void>();
  private closedWith: Error | undefined;
  onPush: (m: HubMessage) => void = () => {};
  onClose: (err: Error) => void = () => {};

  private constructor(private readonly socket: net.Socket) {
    readLines(socket, (line) => {
      const m = decode<HubMessage>(line);
      const re = (m as { re?: number }).re;
      const w = re === undefined ? undefined : this.waiting.get(re);
      if (w && re !== undefined) {
        this.waiting.delete(re);
        w(m);
      } else this.onPush(m);
    });
    const close = (err: Error) => {
      if (this.closedWith) return;
      this.closedWith = err;
      for (const w of this.waiting.values()) w({ ok: false, message: err.message, re: 0 });
      this.waiting.clear();
      this.onClose(err);
    };
    socket.on('error', (e) => close(e));
    socket.on('close', () => close(new Error('the stand-in hub closed the connection')));
  }

  /** Connects to `host:port`, retrying for `timeoutMs` (the Service and DNS may lag the pod's start). */
  static async connect(address: string, timeoutMs: number): Promise<HubClient> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i);
    const port = Number(address.slice(i + 1));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port }, () => resolve(s));
          s.once('error', reject);
        });
        socket.setKeepAlive(true, 5_000);
        return new HubClient(socket);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`cannot reach the stand-in hub at ${address}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  send(msg: PodMessage): void {
    if (!this.closedWith) this.socket.write(encode(msg));
  }

  request<T>(msg: PodMessage): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve) => {
      if (this.closedWith) {
        resolve({ ok: false, message: this.closedWith.message, re: id } as unknown as T);
        return;
      }
      this.waiting.set(id, (m) => resolve(m as T));
      this.socket.write(encode({ ...msg, id }));
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}
