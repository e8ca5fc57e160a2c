import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * Raw requests to the API server with the kubeconfig's credentials, TLS settings and
 * proxy. The generated clients turn list items into model instances (Date timestamps,
 * unknown fields dropped) and pass bodies through the same models; informers, apply and
 * status need plain JSON. The one place that opens such a request is `kubeOpen`.
 */

export class KubeHttpError extends Error {
  constructor(
    /** Read by client-node's ListWatch: 410 means "relist". */
    readonly statusCode: number,
    readonly body: string,
    path: string,
  ) {
    super(`GET ${path}: HTTP ${statusCode}${statusMessage(body)}`);
    this.name = 'KubeHttpError';
  }
}

export interface KubeRequestOptions {
  signal?: AbortSignal;
  /** Fails the request when the connection stays silent this long. */
  idleTimeoutMs?: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  contentType?: string;
  /** How kubeGetJSON parses the body; JSON.parse unless given. */
  parse?: (text: string) => unknown;
}

export type Query = Record<string, string | number | boolean | undefined>;

export function kubeGet(kc: KubeConfig, path: string, query: Query, options: KubeRequestOptions = {}): Promise<http.IncomingMessage> {
  return kubeOpen(kc, 'GET', path, query, options);
}

/** Opens a request and resolves with the response as soon as its headers arrive. */
export async function kubeOpen(
  kc: KubeConfig,
  method: string,
  path: string,
  query: Query,
  options: KubeRequestOptions = {},
): Promise<http.IncomingMessage> {
  const url = kubeURL(kc, path, query);
  const requestOptions: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(requestOptions);
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  if (payload !== undefined) {
    requestOptions.headers = {
      ...requestOptions.headers,
      'Content-Type': options.contentType ?? 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    };
  }
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { ...requestOptions, signal: options.signal }, resolve);
    req.on('error', reject);
    if (options.idleTimeoutMs) {
      req.setTimeout(options.idleTimeoutMs, () => req.destroy(new Error(`${method} ${path}: no response for ${options.idleTimeoutMs} ms`)));
    }
    req.end(payload);
  });
}

export async function kubeGetJSON<T>(kc: KubeConfig, path: string, query: Query, options: KubeRequestOptions = {}): Promise<T> {
  const res = await kubeGet(kc, path, query, options);
  const body = await readBody(res);
  if (res.statusCode !== 200) throw new KubeHttpError(res.statusCode ?? 0, body, path);
  return (options.parse ?? JSON.parse)(body) as T;
}

export async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function kubeURL(kc: KubeConfig, path: string, query: Query): URL {
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
    return typeof status.message === 'string' ? `: ${status.message}` : '';
  } catch {
    return '';
  }
}
