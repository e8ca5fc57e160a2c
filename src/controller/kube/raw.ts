// A minimal JSON request to the API server that keeps bodies as plain JSON. The typed
// client-node APIs pass built-in kinds through 1.4.0's model serializer, which drops
// fields it does not know and turns timestamps into Dates; apply and status need neither.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  body: string;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${KubeApiError.reason(body)}`);
    this.name = 'KubeApiError';
  }

  private static reason(body: string): string {
    try {
      const s = JSON.parse(body) as { message?: string };
      return s.message ?? body.slice(0, 300);
    } catch {
      return body.slice(0, 300);
    }
  }
}

export interface RawRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export async function kubeRequest(kc: KubeConfig, req: RawRequest): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + req.path);
  const opts: https.RequestOptions = { method: req.method, headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  if (payload !== undefined) {
    opts.headers = { ...opts.headers, 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) };
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<RawResponse>((resolve, reject) => {
    const r = mod.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.setTimeout(req.timeoutMs ?? 30_000, () => r.destroy(new Error(`${req.method} ${req.path}: timed out`)));
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/** kubeRequest that throws KubeApiError on a non-2xx answer and parses the JSON body. */
export async function kubeJSON<T>(kc: KubeConfig, req: RawRequest): Promise<T> {
  const res = await kubeRequest(kc, req);
  if (res.status < 200 || res.status >= 300) throw new KubeApiError(res.status, req.method, req.path, res.body);
  return (res.body ? JSON.parse(res.body) : undefined) as T;
}
