// The PD stand-in: a TypeScript imitation of a pd-server v8.5.5 cluster, for machines where
// pd-server cannot be built (the Go module proxy refuses github.com/tikv/pd v8.5.5, see
// testenv/NOTES.md). It is NOT PD: no etcd, no raft, no TSO, a reduced scheduler. What it
// keeps from PD is the surface the operator and the store stand-ins touch: the HTTP API
// shapes and errors, the pdpb gRPC protocol, and PD's store state rules (see
// pd-standin-cluster.ts). Members share one in-memory state in this Node process; each
// listens on its own loopback port serving HTTP/1.1 and gRPC (HTTP/2) there, as pd-server
// multiplexes both on its client port: the first bytes of a connection decide where it goes.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { findBinaries } from '../binaries.js';
import type { PDClusterHandle } from './pd.js';
import { randomU64, StandinCluster, type StandinMember } from './pd-standin-cluster.js';
import { HeartbeatStreams, pdpbHandlers, pdServiceDefinition } from './pd-standin-grpc.js';
import { type HttpAnswer, handlePDRequest, type HttpContext } from './pd-standin-http.js';
import { loadProtoDirs, type ProtoDirs } from './pdpb.js';
import { freePorts, LOOPBACK } from '../process.js';

export interface StartPDStandinOptions {
  /** Holds one log file per member (`pd-<i>.log`). */
  dir: string;
  members?: number;
  log?: (s: string) => void;
  /** Up → Down after this long without store heartbeats (default 30 s, as pd.ts configures PD). */
  maxStoreDownTimeMs?: number;
  /** Up → Disconnected after this long (default 20 s, fixed in PD). */
  disconnectAfterMs?: number;
  /** Where the kvproto .proto files are; defaults to KVPROTO_DIR or the paths.env of testenv/build.sh. */
  protoDirs?: ProtoDirs;
  /** How often PD's node state check runs (PD: 10 s; default 1 s so tests wait less). */
  nodeStateCheckIntervalMs?: number;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const url = (port: number) => `http://${LOOPBACK}:${port}`;

/** KVPROTO_DIR from the environment, else from the bin dir's paths.env. */
function defaultProtoDirs(): ProtoDirs {
  return loadProtoDirs(process.env.KVPROTO_DIR ? join(process.env.KVPROTO_DIR, 'paths.env') : findBinaries([]).binDir);
}

/** Starts `members` PD stand-in members (all running, one leader) sharing one cluster state. */
export async function startPDStandinCluster(opts: StartPDStandinOptions): Promise<PDClusterHandle> {
  const n = opts.members ?? 3;
  const log = (s: string) => opts.log?.(`pd stand-in: ${s}`);
  const protoDirs = opts.protoDirs ?? defaultProtoDirs();
  const service = pdServiceDefinition(protoDirs);
  mkdirSync(opts.dir, { recursive: true });

  const ports = await freePorts(2 * n);
  const runtimes: MemberRuntime[] = [];
  const cluster = new StandinCluster(
    Array.from({ length: n }, (_, i) => ({
      index: i,
      name: `pd-${i}`,
      id: randomU64(),
      clientURL: url(ports[2 * i]!),
      peerURL: url(ports[2 * i + 1]!),
    })),
    {
      disconnectAfterMs: opts.disconnectAfterMs ?? 20_000,
      maxStoreDownTimeMs: opts.maxStoreDownTimeMs ?? 30_000,
      log: (s) => {
        log(s);
        const lead = cluster.leader();
        if (lead) runtimes[lead.index]?.write(s);
      },
    },
  );
  const streams = new HeartbeatStreams();
  const checkSoon = () => setImmediate(() => cluster.checkStores());
  const checker = setInterval(() => cluster.checkStores(), opts.nodeStateCheckIntervalMs ?? 1_000);
  checker.unref();

  for (const m of cluster.members) {
    runtimes.push(
      new MemberRuntime(m, ports[2 * m.index]!, {
        cluster,
        service,
        streams,
        logPath: join(opts.dir, `${m.name}.log`),
        http: { cluster, member: m, deployPath: opts.dir, checkSoon, afterMemberRemoved: (name) => stopRemoved(name) },
      }),
    );
  }
  const stopRemoved = (name: string) => {
    const r = runtimes.find((x) => x.member.name === name);
    if (r) void r.stop().then(() => log(`${name} removed from the cluster and stopped`));
  };
  const memberAt = (i: number): MemberRuntime => {
    const r = runtimes[i];
    if (!r) throw new Error(`no PD stand-in member ${i} (cluster has ${n})`);
    return r;
  };

  try {
    for (const r of runtimes) await r.start();
  } catch (e) {
    clearInterval(checker);
    await Promise.all(runtimes.map((r) => r.stop()));
    throw e;
  }
  log(`${n} members at ${cluster.members.map((m) => m.clientURL).join(',')}; cluster id ${cluster.clusterId}; leader ${cluster.leader()?.name}`);

  return {
    clientURLs: cluster.members.map((m) => m.clientURL),
    names: cluster.members.map((m) => m.name),
    logPath: (i) => memberAt(i).logPath,
    stop: async () => {
      clearInterval(checker);
      await Promise.all(runtimes.map((r) => r.stop({ closeLog: true })));
      log('stopped');
    },
    stopMember: async (i) => {
      await memberAt(i).stop();
      log(`stopped ${memberAt(i).member.name}; leader ${cluster.leader()?.name ?? '(none)'}`);
    },
    startMember: async (i) => {
      const r = memberAt(i);
      if (r.member.removed) throw new Error(`${r.member.name} was removed from the PD cluster; a removed member cannot rejoin`);
      await r.start();
      log(`started ${r.member.name}; leader ${cluster.leader()?.name ?? '(none)'}`);
    },
  };
}

export interface RuntimeDeps {
  cluster: StandinCluster;
  service: grpc.ServiceDefinition;
  streams: HeartbeatStreams;
  logPath: string;
  http: HttpContext;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
}

/** One member's listener: the client port, its HTTP server, and a gRPC server behind a local proxy. */
export class MemberRuntime {
  private listener: net.Server | undefined;
  private grpcServer: grpc.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly httpServer: http.Server;
  private logStream: WriteStream | undefined;
  readonly logPath: string;
  /** The port the client listener got (the constructor's, or the kernel's pick for 0). */
  boundPort = 0;

  constructor(
    readonly member: StandinMember,
    /** 0: any free port, see boundPort. */
    private readonly port: number,
    private readonly deps: RuntimeDeps,
  ) {
    this.logPath = deps.logPath;
    this.httpServer = http.createServer((req, res) => void this.serveHttp(req, res));
  }

  write(line: string): void {
    this.logStream ??= createWriteStream(this.logPath, { flags: 'a' });
    this.logStream.write(`${new Date().toISOString()} [pd stand-in ${this.member.name}] ${line}\n`);
  }

  async start(): Promise<void> {
    if (this.member.running) return;
    const grpcPort = await this.startGrpc();
    const listener = net.createServer((socket) => this.accept(socket, grpcPort));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.port, this.deps.host ?? LOOPBACK, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.listener = listener;
    const addr = listener.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.port;
    this.deps.cluster.setRunning(this.member, true);
    this.write(`serving HTTP and gRPC for ${this.member.clientURL} on ${this.deps.host ?? LOOPBACK}:${this.boundPort} (gRPC backend 127.0.0.1:${grpcPort})`);
  }

  private async startGrpc(): Promise<number> {
    const server = new grpc.Server();
    server.addService(this.deps.service, pdpbHandlers(this.deps.cluster, this.member, this.deps.streams));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${LOOPBACK}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.grpcServer = server;
    return port;
  }

  /** Routes a connection by its first bytes: the HTTP/2 preface goes to gRPC, the rest to HTTP/1.1. */
  private accept(socket: net.Socket, grpcPort: number): void {
    this.track(socket);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const maybeH2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (maybeH2 && head.length < HTTP2_PREFACE.length) return;
      socket.off('data', onData);
      socket.pause();
      if (maybeH2) this.proxyToGrpc(socket, head, grpcPort);
      else this.handOverToHttp(socket, head);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  private proxyToGrpc(socket: net.Socket, head: Buffer, grpcPort: number): void {
    const upstream = net.connect({ host: LOOPBACK, port: grpcPort });
    this.track(upstream);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    for (const s of [socket, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }

  private handOverToHttp(socket: net.Socket, head: Buffer): void {
    socket.unshift(head);
    this.httpServer.emit('connection', socket);
    socket.resume();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = req.method ?? 'GET';
    const answer: HttpAnswer = await handlePDRequest(this.deps.http, {
      method,
      url: req.url ?? '/',
      body: Buffer.concat(chunks).toString('utf8'),
    }).catch((e: unknown) => ({ status: 500, body: `${JSON.stringify(`pd stand-in: ${(e as Error).message}`)}\n` }));
    if (method !== 'GET') this.write(`${method} ${req.url} → ${answer.status}`);
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...(answer.contentType ? { 'Content-Type': answer.contentType } : {}), ...answer.headers });
    res.end(answer.body);
  }

  /** Closes the port and every connection (as if the process died), so clients fail over. */
  async stop(opts: { closeLog?: boolean } = {}): Promise<void> {
    if (this.member.running) this.deps.cluster.setRunning(this.member, false);
    const listener = this.listener;
    this.listener = undefined;
    const closed = listener ? new Promise<void>((resolve) => listener.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.grpcServer?.forceShutdown();
    this.grpcServer = undefined;
    await closed;
    if (listener) this.write('stopped');
    if (opts.closeLog && this.logStream) {
      const stream = this.logStream;
      this.logStream = undefined;
      await new Promise<void>((resolve) => stream.end(() => resolve()));
    }
  }
}
