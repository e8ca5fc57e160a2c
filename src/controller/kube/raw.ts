// JSON requests to the API server for apply, status and events: whole bodies as text, and
// a KubeApiError (the runtime's one error class for the API server's answers) on a non-2xx
// answer. Opened by the runtime's kubeOpen, the one request path (credentials, TLS, plain
// JSON); see there why not the typed clients.
import { KubeApiError, type KubeClient, kubeOpen, readBody } from '../runtime/kube-http.js';

export { KubeApiError };

export interface RawResponse {
  status: number;
  body: string;
}

export interface RawRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export async function kubeRequest(kc: KubeClient, req: RawRequest): Promise<RawResponse> {
  const res = await kubeOpen(kc, req.method, req.path, {}, {
    body: req.body,
    contentType: req.contentType,
    idleTimeoutMs: req.timeoutMs ?? 30_000,
  });
  return { status: res.statusCode ?? 0, body: await readBody(res) };
}

/** kubeRequest that throws KubeApiError on a non-2xx answer and parses the JSON body. */
export async function kubeJSON<T>(kc: KubeClient, req: RawRequest): Promise<T> {
  const res = await kubeRequest(kc, req);
  if (res.status < 200 || res.status >= 300) throw new KubeApiError(res.status, req.method, req.path, res.body);
  return (res.body ? JSON.parse(res.body) : undefined) as T;
}
