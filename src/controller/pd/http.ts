// How every PD call is sent and decoded: one request through the transport, timed for the
// metrics, and a non-2xx answer turned into a PDError that says who answered.
import type { z } from 'zod';
import { decodePDBody, PDError, pdErrorFromResponse } from './json.js';
import type { PDTransport } from './transport.js';

/** Metrics hook: `path` without its query; `status` 0 when no answer arrived. */
export type OnPDRequest = (path: string, status: number, seconds: number) => void;

export interface PDClientOptions {
  timeoutMs?: number;
  onRequest?: OnPDRequest;
}

export const DEFAULT_PD_TIMEOUT_MS = 3000;

/**
 * The route of a PD path, for metric labels: no query, and ids and names replaced by
 * placeholders, so the label set stays small (`/pd/api/v1/store/{id}`).
 */
export function routeOf(path: string): string {
  return (path.split('?')[0] ?? path)
    .replace(/\/store\/[^/]+/, '/store/{id}')
    .replace(/\/members\/(name|id)\/[^/]+/, '/members/$1/{name}')
    .replace(/\/leader\/transfer\/[^/]+/, '/leader/transfer/{name}')
    .replace(/evict-leader-scheduler-\d+/, 'evict-leader-scheduler-{id}');
}

export const isSuccess = (status: number) => status >= 200 && status <= 299;

export class PDHttp {
  private readonly timeoutMs: number;
  private readonly onRequest: OnPDRequest | undefined;

  constructor(
    private readonly transport: PDTransport,
    options: PDClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PD_TIMEOUT_MS;
    this.onRequest = options.onRequest;
  }

  /** A GET whose 2xx body is decoded with `schema`. */
  async get<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S>> {
    const { status, body } = await this.send('GET', path);
    if (!isSuccess(status)) throw pdErrorFromResponse('GET', path, status, body);
    return decodePDBody(schema, 'GET', path, status, body);
  }

  async send(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    const started = process.hrtime.bigint();
    let status = 0;
    try {
      const res = await this.transport(path, { method, timeoutMs: this.timeoutMs, ...(body === undefined ? {} : { body }) });
      status = res.status;
      return res;
    } catch (e) {
      if (e instanceof PDError) throw e;
      throw new PDError({ kind: 'Network', status: 0, method, path, detail: String((e as Error)?.message ?? e) }, { cause: e });
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.onRequest?.(routeOf(path), status, seconds);
    }
  }
}
