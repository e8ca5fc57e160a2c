// How pd-server and tikv-server v8.5.5 read their config files, as far as a typo or a wrong
// type goes: the stand-ins (pd-server.ts, tikv-server.ts) answer `--config-check` and a
// normal start like the real binaries.
//
// PD (server/config, BurntSushi/toml): a value of the wrong type fails the decode with
// `toml: cannot load TOML value of type int64 into a Go string`, and pd-server exits 0
// after printing it (measured, real-pd-behaviour.md defect 4); an unknown key becomes one
// warning, `Config contains undefined item: a.b, c.d` (configutil CheckUndecoded), logged
// at a normal start, printed by --config-check (PrintConfigCheckMsg), which prints
// `config check successful` when there is none and always exits 0.
// TiKV (cmd/tikv-server/src/main.rs): a wrong type panics in TikvConfig::from_file
// (`invalid auto generated configuration file <path>, err <serde's message>`, exit 101);
// unknown keys are collected only under --config-check, where ensure_no_unrecognized_config
// ends with `unknown configuration options: a.b, c.d` (exit 1); otherwise they are ignored.
//
// What this simplifies: the real binaries know every key of their config structs; the
// stand-ins know the sections below, check the listed keys' types and, in a section marked
// open, accept any key (so a real key the list lacks is never called a typo there).
type Kind = 'string' | 'integer' | 'float' | 'boolean' | 'array';
type Section = { open?: boolean; keys: Record<string, Kind | Section> };

const open: Section = { open: true, keys: {} };

export const PD_SCHEMA: Section = {
  keys: {
    // Top-level keys (flags own most of them; admission refuses those in spec.pd.config).
    name: 'string',
    'data-dir': 'string',
    'client-urls': 'string',
    'peer-urls': 'string',
    'advertise-client-urls': 'string',
    'advertise-peer-urls': 'string',
    'initial-cluster': 'string',
    'initial-cluster-state': 'string',
    join: 'string',
    lease: 'integer',
    'quota-backend-bytes': 'string',
    'auto-compaction-mode': 'string',
    'auto-compaction-retention': 'string',
    'tick-interval': 'string',
    'election-interval': 'string',
    'enable-prevote': 'boolean',
    log: { keys: { level: 'string', format: 'string', 'disable-timestamp': 'boolean', file: open } },
    replication: {
      keys: {
        'max-replicas': 'integer',
        'location-labels': 'array',
        'strictly-match-label': 'boolean',
        'enable-placement-rules': 'boolean',
        'enable-placement-rules-cache': 'boolean',
        'isolation-level': 'string',
      },
    },
    schedule: {
      keys: {
        'max-store-down-time': 'string',
        'max-snapshot-count': 'integer',
        'max-pending-peer-count': 'integer',
        'max-merge-region-size': 'integer',
        'max-merge-region-keys': 'integer',
        'split-merge-interval': 'string',
        'patrol-region-interval': 'string',
        'leader-schedule-limit': 'integer',
        'region-schedule-limit': 'integer',
        'replica-schedule-limit': 'integer',
        'merge-schedule-limit': 'integer',
        'hot-region-schedule-limit': 'integer',
        'enable-cross-table-merge': 'boolean',
        'low-space-ratio': 'float',
        'high-space-ratio': 'float',
      },
    },
    'pd-server': open,
    security: open,
    metric: open,
    'label-property': open,
    dashboard: open,
    'replication-mode': open,
    keyspace: open,
    controller: open,
    'micro-service': open,
  },
};

export const TIKV_SCHEMA: Section = {
  keys: {
    'log-level': 'string',
    'log-file': 'string',
    'slow-log-file': 'string',
    'memory-usage-limit': 'string',
    'memory-usage-high-water': 'float',
    log: { keys: { level: 'string', format: 'string', 'enable-timestamp': 'boolean', file: open } },
    storage: {
      keys: {
        'data-dir': 'string',
        'reserve-space': 'string',
        'reserve-raft-space': 'string',
        engine: 'string',
        'scheduler-concurrency': 'integer',
        'scheduler-worker-pool-size': 'integer',
        'enable-ttl': 'boolean',
        'api-version': 'integer',
        'block-cache': { keys: { capacity: 'string', 'num-shard-bits': 'integer', 'strict-capacity-limit': 'boolean', 'high-pri-pool-ratio': 'float' } },
        'flow-control': open,
        'io-rate-limit': open,
      },
    },
    server: open,
    pd: open,
    raftstore: open,
    rocksdb: open,
    raftdb: open,
    'raft-engine': open,
    readpool: open,
    coprocessor: open,
    security: open,
    import: open,
    backup: open,
    'pessimistic-txn': open,
    gc: open,
    split: open,
    cdc: open,
    'resolved-ts': open,
    'resource-metering': open,
    'resource-control': open,
    'causal-ts': open,
    memory: open,
    quota: open,
    metric: open,
    'in-memory-engine': open,
    'log-backup': open,
    'backup-stream': open,
  },
};

export interface ConfigFindings {
  /** Dotted keys the schema does not know, in file order. */
  unknown: string[];
  /** The first value of the wrong type. */
  typeError?: { key: string; want: Kind | 'table'; got: Kind | 'table' };
}

const kindOf = (v: unknown): Kind | 'table' =>
  Array.isArray(v)
    ? 'array'
    : typeof v === 'string'
      ? 'string'
      : typeof v === 'boolean'
        ? 'boolean'
        : typeof v === 'number' || typeof v === 'bigint'
          ? Number.isInteger(v) || typeof v === 'bigint'
            ? 'integer'
            : 'float'
          : 'table';

/** Walks a parsed TOML document against a schema. */
export function inspectConfig(doc: Record<string, unknown>, schema: Section, at: string[] = []): ConfigFindings {
  const out: ConfigFindings = { unknown: [] };
  for (const [k, v] of Object.entries(doc)) {
    const key = [...at, k];
    const want = schema.keys[k];
    if (want === undefined) {
      if (!schema.open) out.unknown.push(key.join('.'));
      continue;
    }
    const got = kindOf(v);
    if (typeof want === 'string') {
      // TOML integers decode into Go floats and Rust f64 alike.
      if (got !== want && !(want === 'float' && got === 'integer')) out.typeError ??= { key: key.join('.'), want, got };
      continue;
    }
    if (got !== 'table') {
      out.typeError ??= { key: key.join('.'), want: 'table', got };
      continue;
    }
    const inner = inspectConfig(v as Record<string, unknown>, want, key);
    out.unknown.push(...inner.unknown);
    out.typeError ??= inner.typeError;
  }
  return out;
}

const GO_TYPE: Record<Kind | 'table', string> = { string: 'string', integer: 'int64', float: 'float64', boolean: 'bool', array: '[]interface {}', table: 'map[string]interface {}' };
const GO_FIELD: Record<Kind | 'table', string> = { string: 'string', integer: 'uint64', float: 'float64', boolean: 'bool', array: '[]string', table: 'struct' };

/** BurntSushi/toml's message for a value of the wrong type, as pd-server prints it. */
export const pdTypeErrorMessage = (e: NonNullable<ConfigFindings['typeError']>) =>
  `toml: cannot load TOML value of type ${GO_TYPE[e.got]} into a Go ${GO_FIELD[e.want]}`;

/** PD's warning for unknown keys (configutil.CheckUndecoded). */
export const pdUndefinedMessage = (keys: string[]) => `Config contains undefined item: ${keys.join(', ')}`;

const SERDE_UNEXPECTED: Record<Kind | 'table', string> = { string: 'string', integer: 'integer', float: 'floating point', boolean: 'boolean', array: 'sequence', table: 'map' };
const SERDE_EXPECTED: Record<Kind | 'table', string> = { string: 'a string', integer: 'an integer', float: 'a float', boolean: 'a boolean', array: 'a sequence', table: 'a table' };

/** TiKV's panic text for a value of the wrong type (serde through the toml crate). */
export const tikvTypeErrorMessage = (path: string, e: NonNullable<ConfigFindings['typeError']>, value: unknown) =>
  `invalid auto generated configuration file ${path}, err invalid type: ${SERDE_UNEXPECTED[e.got]}${
    e.got === 'integer' || e.got === 'string' || e.got === 'float' ? ` \`${String(value)}\`` : ''
  }, expected ${SERDE_EXPECTED[e.want]} for key \`${e.key}\``;

/** The value at a dotted key. */
export function valueAt(doc: Record<string, unknown>, key: string): unknown {
  let node: unknown = doc;
  for (const k of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[k];
  return node;
}
