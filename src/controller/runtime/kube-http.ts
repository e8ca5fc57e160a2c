import http from 'node:http';
import https from 'node:https';
import { USER_AGENT } from './user-agent.js';

/**
 * Raw requests to the API server with the kubeconfig's credentials, TLS settings and
 * proxy. The generated clients turn list items into model instances (Date timestamps,
 * unknown fields dropped) and pass bodies through the same models; informers, apply and
 * status need plain JSON. The one place that opens such a request is `kubeOpen`.
 */

/**
 * What a request needs of a kubeconfig. client-node's KubeConfig has it, and so has the
 * operator's own loader (kubeconfig.ts), which avoids loading client-node's generated API.
 */
export interface KubeClient {
  getCurrentCluster(): { server: string } | null;
  /** Sets CA, client certificate and key, TLS verification and the Authorization header (tokens may rotate: asked per request). */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A non-2xx answer of the API server, with its own message (a Status body's `message`). */
export class KubeApiError extends Error {
  constructor(
    /** The informer reads 410 as "relist"; callers read 404 and 409. */
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${statusMessage(body)}`);
    this.name = 'KubeApiError';
  }
}

export interface KubeRequestOptions {
  signal?: AbortSignal;
  /** Fails the request when the connection stays silent this long. */
  idleTimeoutMs?: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  contentType?: string;
  /** The Accept header (e.g. the Table form `kubectl get` asks for); JSON unless given. */
  accept?: string;
  /** How kubeGetJSON parses the body; JSON.parse unless given. */
  parse?: (text: string) => unknown;
}

export type Query = Record<string, string | number | boolean | undefined>;

export function kubeGet(kc: KubeClient, path: string, query: Query, options: KubeRequestOptions = {}): Promise<http.IncomingMessage> {
  return kubeOpen(kc, 'GET', path, query, options);
}

// TLS material an agent was made for: a new agent only when the kubeconfig hands out
// different material (a rotated client certificate), never per request.
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;
type TLSMaterial = Pick<https.RequestOptions, (typeof TLS_FIELDS)[number]>;

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i])));

const agents = new WeakMap<KubeClient, { tls: TLSMaterial; agent: http.Agent }>();

/**
 * A keep-alive agent per kubeconfig. client-node's applyToHTTPSOptions makes a new agent
 * on every call, so each request paid a TCP connect, a TLS handshake and a fresh
 * SecureContext (parsing the CA) on both ends. Idle sockets are closed after 30 s, well
 * before the apiserver's 90 s idle timeout.
 */
function pooledAgent(kc: KubeClient, protocol: string, opts: https.RequestOptions): http.Agent {
  const tls = Object.fromEntries(TLS_FIELDS.map((k) => [k, opts[k]])) as TLSMaterial;
  const cached = agents.get(kc);
  if (cached && TLS_FIELDS.every((k) => sameValue(cached.tls[k], tls[k]))) return cached.agent;
  cached?.agent.destroy();
  const options = { keepAlive: true, timeout: 30_000, scheduling: 'lifo' as const };
  const agent = protocol === 'https:' ? new https.Agent({ ...options, ...tls }) : new http.Agent(options);
  agents.set(kc, { tls, agent });
  return agent;
}

/**
 * URL and request options (credentials, pooled agent, User-Agent) for a request to the
 * API server at `path`; for callers that send the request themselves (the PD service proxy).
 */
async function kubeRequestOptions(kc: KubeClient, path: string, query: Query = {}): Promise<{ url: URL; options: https.RequestOptions }> {
  const url = kubeURL(kc, path, query);
  const options: https.RequestOptions = { headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  options.agent = pooledAgent(kc, url.protocol, options);
  for (const k of TLS_FIELDS) delete options[k];
  options.headers = { ...options.headers, 'User-Agent': USER_AGENT };
  return { url, options };
}

/** Opens a request and resolves with the response as soon as its headers arrive. */
export async function kubeOpen(
  kc: KubeClient,
  method: string,
  path: string,
  query: Query,
  options: KubeRequestOptions = {},
): Promise<http.IncomingMessage> {
  const { url, options: requestOptions } = await kubeRequestOptions(kc, path, query);
  if (options.accept) requestOptions.headers = { ...requestOptions.headers, Accept: options.accept };
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  if (payload !== undefined) {
    requestOptions.headers = {
      ...requestOptions.headers,
      'Content-Type': options.contentType ?? 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    };
  }
  const transport = url.protocol === 'https:' ? https : http;
  const send = (retry: boolean): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = transport.request(url, { ...requestOptions, method, signal: options.signal }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed just as it was reused: the request never
        // reached the server, so sending it once more on a fresh connection is safe.
        if (retry && req.reusedSocket && err.code === 'ECONNRESET') resolve(send(false));
        else reject(err);
      });
      if (options.idleTimeoutMs) {
        req.setTimeout(options.idleTimeoutMs, () => req.destroy(new Error(`${method} ${path}: no response for ${options.idleTimeoutMs} ms`)));
      }
      req.end(payload);
    });
  return send(true);
}

export async function kubeGetJSON<T>(kc: KubeClient, path: string, query: Query, options: KubeRequestOptions = {}): Promise<T> {
  const res = await kubeGet(kc, path, query, options);
  const body = await readBody(res);
  if (res.statusCode !== 200) throw new KubeApiError(res.statusCode ?? 0, 'GET', path, body);
  return (options.parse ?? JSON.parse)(body) as T;
}

export async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function kubeURL(kc: KubeClient, path: string, query: Query): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  // Concatenated, not resolved: a server URL may carry a path prefix (e.g. behind a proxy).
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url;
}

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not a Status: the body says what it says
  }
  return body.slice(0, 300);
}
