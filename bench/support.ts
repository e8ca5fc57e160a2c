// Pieces of `npm run bench` that measure: the operator's process (RSS, CPU), the
// apiserver's audit log (read incrementally: it grows to hundreds of MB over a run), and
// a PD router that gives each namespace its own kind of PD (the real one, or none).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

// --- the operator process -------------------------------------------------------------

export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after its closing paren are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

// --- the audit log --------------------------------------------------------------------

export interface AuditEvent {
  verb: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestURI?: string;
  requestReceivedTimestamp: string;
  stage: string;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
export const isWrite = (e: AuditEvent) => WRITE_VERBS.has(e.verb);

/** Keeps the audit events of one user, reading only what the log gained since the last call. */
export class AuditReader {
  private offset = 0;
  private rest = '';
  readonly events: AuditEvent[] = [];

  constructor(
    private readonly path: string,
    private readonly usernames: () => Set<string>,
  ) {}

  /** Reads new lines; returns every kept event so far. */
  poll(): AuditEvent[] {
    const size = statSync(this.path).size;
    if (size <= this.offset) return this.events;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.rest + buf.toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      const users = this.usernames();
      for (const line of lines) {
        if (!line) continue;
        const e = JSON.parse(line) as AuditEvent;
        if (e.stage === 'ResponseComplete' && users.has(e.user.username)) this.events.push(e);
      }
    } finally {
      closeSync(fd);
    }
    return this.events;
  }

  /** Events received in [from, to). Lease renewals are left out: they are leader election, not reconciling. */
  between(from: Date, to: Date): AuditEvent[] {
    this.poll();
    return this.events.filter((e) => {
      const t = new Date(e.requestReceivedTimestamp);
      return t >= from && t < to && e.objectRef?.resource !== 'leases';
    });
  }
}

// --- a PD per namespace ---------------------------------------------------------------

/**
 * `up`: forwarded to the environment's PD. `dropped`: the connection is closed without an
 * answer (a PD process that is gone, reached directly). `proxy503`: the 503 Status the API
 * server's service proxy answers when no PD endpoint takes the connection (the operator
 * run outside the cluster, `npm start`).
 */
export type PDMode = 'up' | 'dropped' | 'proxy503';

/** The operator's PD URL template points here (`http://127.0.0.1:<port>/{namespace}/{name}`). */
export class PDRouter {
  private readonly modes = new Map<string, PDMode>();
  private server: http.Server | undefined;
  /** Requests per namespace, answered or dropped. */
  readonly requests = new Map<string, number>();
  readonly userAgents = new Set<string>();

  constructor(private readonly upstream: string) {}

  set(namespace: string, mode: PDMode): void {
    this.modes.set(namespace, mode);
  }

  async start(): Promise<string> {
    const up = new URL(this.upstream);
    this.server = http.createServer((req, res) => {
      const [, namespace = '', name = '', ...rest] = (req.url ?? '/').split('/');
      this.requests.set(namespace, (this.requests.get(namespace) ?? 0) + 1);
      this.userAgents.add(String(req.headers['user-agent'] ?? '(none)'));
      const mode = this.modes.get(namespace) ?? 'dropped';
      if (mode === 'dropped') {
        req.socket.destroy();
        return;
      }
      if (mode === 'proxy503') {
        const message = `no endpoints available for service "${name}-pd:2379"`;
        const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'ServiceUnavailable', code: 503 });
        req.resume();
        res.writeHead(503, { 'Content-Type': 'application/json' }).end(body);
        return;
      }
      const fwd = http.request(
        { host: up.hostname, port: up.port, method: req.method, path: `/${rest.join('/')}`, headers: { ...req.headers, host: up.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      fwd.on('error', () => req.socket.destroy());
      req.pipe(fwd);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/{namespace}/{name}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

// --- what changes at rest ---------------------------------------------------------------

/** Leaf paths of a JSON value; list items with a `type` (conditions) are named by it. */
function leaves(v: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) leaves(x, `${path}[${(x as { type?: string })?.type ?? i}]`, out);
  }
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, `${path}.${k}`, out);
  else out.set(path, JSON.stringify(v));
  return out;
}

/**
 * Counts which status fields of the TikvClusters change, from a watch, with one example
 * each: what the writes at rest are made of.
 */
export class StatusChanges {
  private readonly last = new Map<string, Map<string, string>>();
  readonly changes = new Map<string, { count: number; example: string }>();

  observe(key: string, status: unknown): void {
    const now = leaves(status ?? {});
    const before = this.last.get(key);
    this.last.set(key, now);
    if (!before) return;
    for (const path of new Set([...now.keys(), ...before.keys()])) {
      if (now.get(path) === before.get(path)) continue;
      const c = this.changes.get(path) ?? { count: 0, example: `${before.get(path) ?? '(none)'} -> ${now.get(path) ?? '(none)'}` };
      c.count++;
      this.changes.set(path, c);
    }
  }

  reset(): void {
    this.changes.clear();
  }

  top(n = 5): string {
    return [...this.changes.entries()]
      .sort((a, b) => b[1].count - a[1].count)
      .slice(0, n)
      .map(([path, c]) => `${c.count}x status${path}: ${c.example.slice(0, 300)}`)
      .join('\n    ');
  }
}
