// What the stand-in programs share with the binaries they stand in for: command lines
// parsed the way those binaries parse them (pd-server: cobra/pflag; tikv-server: clap), log
// lines in their formats, and the process conventions (exit codes, signals as PID 1).

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  aliases?: string[];
  bool?: boolean;
}

export class FlagError extends Error {
  override name = 'FlagError';
}

/**
 * Parses `--name=value`, `--name value`, `-s value`, `-s=value` and boolean `--flag`.
 * Unknown flags and stray positional arguments are errors, worded by `unknown`.
 */
export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  unknown: (arg: string) => string,
): Record<string, string | boolean> {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    if (s.short) byName.set(`-${s.short}`, s);
    for (const a of s.aliases ?? []) byName.set(`--${a}`, s);
  }
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const key = arg.startsWith('-') && eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) throw new FlagError(unknown(key));
    if (spec.bool) {
      out[spec.name] = eq > 0 ? arg.slice(eq + 1) !== 'false' : true;
      continue;
    }
    if (eq > 0) out[spec.name] = arg.slice(eq + 1);
    else {
      const v = argv[i + 1];
      if (v === undefined) throw new FlagError(`flag needs an argument: ${key}`);
      out[spec.name] = v;
      i++;
    }
  }
  return out;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** pingcap/log's text format, as pd-server and tikv-server print it. */
export function pingcapLogLine(level: 'INFO' | 'WARN' | 'ERROR' | 'FATAL', source: string, message: string, fields: Record<string, string | number> = {}): string {
  const d = new Date();
  const ts = `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} +00:00`;
  const kv = Object.entries(fields).map(([k, v]) => ` [${k}=${typeof v === 'number' || /^[\w.:/-]+$/.test(v) ? v : JSON.stringify(v)}]`);
  return `[${ts}] [${level}] [${source}] [${JSON.stringify(message)}]${kv.join('')}`;
}

/** Host and port of the listen URLs the binaries take (`http://0.0.0.0:2379,...` or `0.0.0.0:20160`). */
export function listenAddresses(spec: string): { host: string; port: number }[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const u = new URL(s.includes('://') ? s : `tcp://${s}`);
      const port = Number(u.port);
      if (!Number.isInteger(port) || port <= 0) throw new FlagError(`invalid address ${s}: no port`);
      return { host: u.hostname.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
    });
}

/** Parses sizes the way TiKV's ReadableSize does (`5120MiB`, `5GB`, `512`). */
export function parseReadableSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B)?\s*$/i.exec(s);
  if (!m) throw new Error(`invalid size ${JSON.stringify(s)}`);
  const exp = ' KMGTP'.indexOf((m[2] || ' ').toUpperCase());
  return Math.round(Number(m[1]) * 1024 ** exp);
}

/** Go's time.ParseDuration for the units PD configs use (`30m`, `1h30m`, `10s`). */
export function parseGoDuration(s: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = s.trim();
  if (!rest) throw new Error('empty duration');
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** The PD cluster a member belongs to: the peer Service's domain of its advertise peer URL (`basic-pd-0.basic-pd-peer.ns.svc` → `basic-pd-peer.ns.svc`). */
export function clusterKeyOf(advertisePeerURL: string): string {
  const host = new URL(advertisePeerURL).hostname;
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(dot + 1) : host;
}
