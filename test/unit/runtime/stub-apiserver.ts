import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/**
 * A tiny in-process stand-in for the API server: list + watch for collections and the
 * coordination.k8s.io Lease endpoints with optimistic concurrency. It records every
 * request so tests can count lists, watches and their query parameters.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  userAgent?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string) => void;

export class StubApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];
  private readonly server = http.createServer((req, res) => this.dispatch(req, res));
  private readonly sockets = new Set<import('node:net').Socket>();
  private port = 0;
  /** TCP connections accepted so far. */
  connections = 0;

  constructor() {
    this.server.on('connection', (socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'stub', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'stub', token: 'stub-token' }],
      contexts: [{ name: 'stub', cluster: 'stub', user: 'stub' }],
      currentContext: 'stub',
    });
    return kc;
  }

  route(method: string, pattern: RegExp, handler: Handler): void {
    this.routes.push({ method, pattern, handler });
  }

  /** Requests to `path`, split into lists and watches. */
  requestsTo(path: string): { lists: RecordedRequest[]; watches: RecordedRequest[] } {
    const matching = this.requests.filter((r) => r.method === 'GET' && r.path === path);
    return {
      lists: matching.filter((r) => r.query.get('watch') !== 'true'),
      watches: matching.filter((r) => r.query.get('watch') === 'true'),
    };
  }

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stub');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, userAgent: req.headers['user-agent'] });
      const route = this.routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
      if (!route) {
        sendStatus(res, 404, 'NotFound', `no route for ${req.method} ${url.pathname}`);
        return;
      }
      route.handler(req, res, url, Buffer.concat(chunks).toString('utf8'));
    });
  }
}

export function sendJSON(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string): void {
  sendJSON(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
}

function matchesSelector(obj: KubernetesObject, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return obj.metadata?.labels?.[key!] === value;
  });
}

/** An answer that replaces the normal one: an error status, or nothing at all. */
type Script = { kind: 'status'; code: number } | { kind: 'silent' };

/**
 * One collection (e.g. `/api/v1/configmaps`) served with list and watch. Objects are
 * stored as plain JSON; every change bumps the collection's resourceVersion.
 */
export class StubCollection {
  private readonly objects = new Map<string, KubernetesObject>();
  private readonly watchers = new Set<{ res: http.ServerResponse; selector: string | null }>();
  /** Every event, so a watch from resourceVersion N replays what came after N, as the apiserver does. */
  private readonly history: Array<{ type: string; object: KubernetesObject }> = [];
  private readonly scripts: Script[] = [];
  private readonly listScripts: Script[] = [];
  private rv = 100;

  constructor(
    server: StubApiServer,
    readonly path: string,
    private readonly listKind = 'List',
  ) {
    const pattern = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    server.route('GET', pattern, (_req, res, url) => {
      if (url.searchParams.get('watch') === 'true') this.serveWatch(res, url);
      else this.serveList(res, url);
    });
  }

  /** Creates or replaces an object and tells open watches. */
  upsert(obj: KubernetesObject): KubernetesObject {
    const key = objectKey(obj);
    const existed = this.objects.has(key);
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(key, stored);
    this.broadcast(existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  remove(name: string, namespace?: string): void {
    const key = `${namespace ?? ''}/${name}`;
    const obj = this.objects.get(key);
    if (!obj) return;
    this.objects.delete(key);
    this.broadcast('DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } });
  }

  /** Changes the store without telling watches, as if the events were compacted away. */
  removeQuietly(name: string, namespace?: string): void {
    this.objects.delete(`${namespace ?? ''}/${name}`);
    this.rv++;
  }

  /** Ends every open watch cleanly, as the apiserver does when `timeoutSeconds` runs out. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Sends an in-stream ERROR 410 (resourceVersion too old) and ends the watches. */
  expireWatches(): void {
    const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' };
    for (const w of this.watchers) w.res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
    this.watchers.clear();
  }

  /** The next watch requests get these answers instead of a stream, in order. */
  scriptWatches(...scripts: Script[]): void {
    this.scripts.push(...scripts);
  }

  /** The next list requests get these answers instead of the list, in order. */
  scriptLists(...scripts: Script[]): void {
    this.listScripts.push(...scripts);
  }

  openWatches(): number {
    return this.watchers.size;
  }

  private serveList(res: http.ServerResponse, url: URL): void {
    const script = this.listScripts.shift();
    if (script?.kind === 'status') {
      sendStatus(res, script.code, 'Scripted', `scripted HTTP ${script.code}`);
      return;
    }
    if (script?.kind === 'silent') return;
    const selector = url.searchParams.get('labelSelector');
    const items = [...this.objects.values()].filter((o) => matchesSelector(o, selector));
    sendJSON(res, 200, { kind: this.listKind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
  }

  private serveWatch(res: http.ServerResponse, url: URL): void {
    const script = this.scripts.shift();
    if (script?.kind === 'status') {
      sendStatus(res, script.code, 'Scripted', `scripted HTTP ${script.code}`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    // A silent watch is never registered, so it gets no events and is never ended.
    if (script?.kind === 'silent') return;
    const watcher = { res, selector: url.searchParams.get('labelSelector') };
    const since = Number(url.searchParams.get('resourceVersion') || Number.POSITIVE_INFINITY);
    for (const event of this.history) {
      if (Number(event.object.metadata?.resourceVersion) > since) this.send(watcher, event.type, event.object);
    }
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private broadcast(type: string, obj: KubernetesObject): void {
    this.history.push({ type, object: obj });
    for (const w of this.watchers) this.send(w, type, obj);
  }

  private send(watcher: { res: http.ServerResponse; selector: string | null }, type: string, obj: KubernetesObject): void {
    if (matchesSelector(obj, watcher.selector)) watcher.res.write(`${JSON.stringify({ type, object: obj })}\n`);
  }
}

function objectKey(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

interface StoredLease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

/**
 * Lease endpoints with the apiserver's optimistic concurrency: create conflicts when the
 * Lease exists, replace conflicts when the resourceVersion is stale.
 */
export class StubLeases {
  readonly leases = new Map<string, StoredLease>();
  /** While set, every Lease request is answered with this HTTP status. */
  failWith: number | undefined;
  private rv = 1;

  constructor(server: StubApiServer) {
    const base = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases/;
    const one = new RegExp(`${base.source}/([^/]+)$`);
    const collection = new RegExp(`${base.source}$`);
    server.route('GET', one, (_req, res, url) => this.guard(res, () => this.read(res, url, one)));
    server.route('PUT', one, (_req, res, url, body) => this.guard(res, () => this.replace(res, url, one, body)));
    server.route('POST', collection, (_req, res, url, body) =>
      this.guard(res, () => this.create(res, url, collection, body)),
    );
  }

  get(namespace: string, name: string): StoredLease | undefined {
    return this.leases.get(`${namespace}/${name}`);
  }

  private guard(res: http.ServerResponse, serve: () => void): void {
    if (this.failWith !== undefined) {
      sendStatus(res, this.failWith, 'Scripted', 'scripted failure');
      return;
    }
    serve();
  }

  private read(res: http.ServerResponse, url: URL, pattern: RegExp): void {
    const [, ns, name] = pattern.exec(url.pathname)!;
    const lease = this.leases.get(`${ns}/${name}`);
    if (!lease) {
      sendStatus(res, 404, 'NotFound', `leases "${name}" not found`);
      return;
    }
    sendJSON(res, 200, lease);
  }

  private create(res: http.ServerResponse, url: URL, pattern: RegExp, body: string): void {
    const [, ns] = pattern.exec(url.pathname)!;
    const lease = JSON.parse(body) as StoredLease;
    const key = `${ns}/${lease.metadata.name}`;
    if (this.leases.has(key)) {
      sendStatus(res, 409, 'AlreadyExists', `leases "${lease.metadata.name}" already exists`);
      return;
    }
    this.store(key, lease, ns!);
    sendJSON(res, 201, this.leases.get(key));
  }

  private replace(res: http.ServerResponse, url: URL, pattern: RegExp, body: string): void {
    const [, ns, name] = pattern.exec(url.pathname)!;
    const key = `${ns}/${name}`;
    const current = this.leases.get(key);
    const lease = JSON.parse(body) as StoredLease;
    if (!current) {
      sendStatus(res, 404, 'NotFound', `leases "${name}" not found`);
      return;
    }
    if (lease.metadata.resourceVersion !== current.metadata.resourceVersion) {
      sendStatus(res, 409, 'Conflict', 'the object has been modified');
      return;
    }
    this.store(key, lease, ns!);
    sendJSON(res, 200, this.leases.get(key));
  }

  private store(key: string, lease: StoredLease, namespace: string): void {
    this.leases.set(key, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: lease.metadata.name, namespace, resourceVersion: String(++this.rv) },
      spec: lease.spec ?? {},
    });
  }
}
