// Lossless decoding of PD's JSON and PD's error bodies.
//
// PD's member_id and cluster_id are random uint64s; JSON.parse rounds them (Node 20 gives
// revivers no source text), so every number is parsed as a lossless-json LosslessNumber
// and the zod field schemas below decide per field whether it is an id (kept as the exact
// decimal string) or a count (a plain number).
import { isLosslessNumber, type LosslessNumber, parse } from 'lossless-json';
import { z } from 'zod';

/** Parses PD JSON keeping every number as a LosslessNumber (exact digits). */
export function parsePDJson(text: string): unknown {
  return parse(text);
}

const losslessNumber = z.custom<LosslessNumber>(isLosslessNumber, { message: 'expected a JSON number' });

/** A uint64 identifier: read as its exact decimal string. Numeric strings are accepted too. */
export const pdId = z
  .union([losslessNumber.transform((n) => n.toString()), z.string()])
  .refine((s) => /^\d+$/.test(s), { message: 'expected an unsigned integer id' });

/** An integer count (leader_count, region_count, ...); must fit a JS number exactly. */
export const pdCount = losslessNumber
  .transform((n) => Number(n.toString()))
  .refine(Number.isSafeInteger, { message: 'expected an integer within 2^53' });

/** A float (weights, scores); precision loss is irrelevant for these. */
export const pdFloat = losslessNumber.transform((n) => Number(n.toString()));

/** Protobuf enum that PD omits when 0 (`omitempty`): absent means 0. */
export const pdEnum = pdCount.optional().transform((n) => n ?? 0);

/** How a PD request failed. `HTTP`: PD (or the API server's proxy) answered non-2xx. */
export type PDErrorKind = 'HTTP' | 'Timeout' | 'Network' | 'BadResponse';

export interface PDErrorInit {
  kind: PDErrorKind;
  /** HTTP status; 0 when no answer arrived. */
  status: number;
  method: string;
  path: string;
  /** What PD (or the transport) said, without decoration. */
  detail: string;
}

/**
 * Any failure talking to PD. `message` names the request and what went wrong so it can go
 * into a condition message as-is.
 */
export class PDError extends Error {
  override readonly name = 'PDError';
  readonly kind: PDErrorKind;
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly detail: string;
  /** PD refuses most APIs with 500 "... not bootstrapped ..." until the first TiKV store bootstraps the cluster. */
  readonly notBootstrapped: boolean;

  constructor(init: PDErrorInit, options?: { cause?: unknown }) {
    super(formatMessage(init), options);
    this.kind = init.kind;
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.detail = init.detail;
    this.notBootstrapped = init.kind === 'HTTP' && init.status === 500 && /not bootstrapped/i.test(init.detail);
  }
}

export const isPDError = (e: unknown): e is PDError => e instanceof PDError;

function formatMessage({ kind, status, method, path, detail }: PDErrorInit): string {
  const request = `${method} ${path}`;
  switch (kind) {
    case 'HTTP':
      return `${request} answered ${status}: ${detail}`;
    case 'BadResponse':
      return `${request} answered ${status} with an unexpected body: ${detail}`;
    default:
      return `${request} failed: ${detail}`;
  }
}

const MAX_DETAIL = 1000;

/**
 * The human text of an error body. PD writes a bare JSON string; the API server's service
 * proxy writes a Status object with `message`; anything else is shown as trimmed text.
 */
export function errorDetailOfBody(body: string): string {
  const text = body.trim();
  if (text === '') return '(empty body)';
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    return truncate(text);
  }
  if (typeof decoded === 'string') return truncate(decoded);
  if (decoded && typeof decoded === 'object') {
    const { message, error } = decoded as Record<string, unknown>;
    if (typeof message === 'string' && message !== '') return truncate(message);
    if (typeof error === 'string' && error !== '') return truncate(error);
  }
  return truncate(text);
}

const truncate = (s: string) => (s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}…` : s);

/**
 * Whether the body is a Kubernetes Status object: the API server's own answer (through its
 * service proxy: `services "x" not found`, no endpoints, ...), never PD's.
 */
export function isKubernetesStatus(body: string): boolean {
  try {
    const v = JSON.parse(body) as Record<string, unknown> | null;
    return typeof v === 'object' && v !== null && v.kind === 'Status' && typeof v.apiVersion === 'string';
  } catch {
    return false;
  }
}

/**
 * PD's own words, for telling "PD says it is gone" from any other 404. PD v8.5.5 answers
 * errors with a JSON string (`h.rd.JSON(w, status, err.Error())`), a forwarded scheduler
 * delete with `null`, and an unknown scheduler-config path with Go's plain "404 page not found".
 */
export const pdAnswer = {
  /** A JSON string matching `pattern`, e.g. `"not found, pd: basic-pd-3"`. */
  says(body: string, pattern: RegExp): boolean {
    try {
      const v: unknown = JSON.parse(body);
      return typeof v === 'string' && pattern.test(v);
    } catch {
      return false;
    }
  },
  /** PD's redirect of DELETE /schedulers/evict-leader-scheduler-{id}: the inner status, body `null`. */
  isNull: (body: string) => body.trim() === 'null',
  /** Go's http.NotFound, which PD's scheduler-config handler gives for a scheduler that does not exist. */
  isNotFoundPage: (body: string) => body.trim() === '404 page not found',
};

/** A PDError for a non-2xx answer; says so when the API server answered instead of PD. */
export function pdErrorFromResponse(method: string, path: string, status: number, body: string): PDError {
  const detail = errorDetailOfBody(body);
  return new PDError({
    kind: 'HTTP',
    status,
    method,
    path,
    detail: isKubernetesStatus(body) ? `the API server answered, not PD: ${detail}` : detail,
  });
}

/**
 * Decodes a 2xx body with a schema built from the field schemas above. A body that is not
 * JSON or does not have the expected shape becomes a `BadResponse` PDError.
 */
export function decodePDBody<S extends z.ZodType>(schema: S, method: string, path: string, status: number, body: string): z.output<S> {
  let raw: unknown;
  try {
    raw = parsePDJson(body);
  } catch (e) {
    throw new PDError({ kind: 'BadResponse', status, method, path, detail: `not JSON (${(e as Error).message})` }, { cause: e });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new PDError({ kind: 'BadResponse', status, method, path, detail: z.prettifyError(result.error) });
  }
  return result.data;
}
