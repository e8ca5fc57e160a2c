// Config keys the operator owns: it passes them as flags (or decides them in the PD start
// script), and both binaries let a flag win over the config file (PD: Config.Parse's
// AdjustCommandLineString after decoding pd.toml; TiKV: overwrite_config_with_cmd_args
// after TikvConfig::from_file). Such a key in spec.*.config would be silently ignored, or,
// where no flag overrides it (PD's initial-cluster-state; join next to --initial-cluster),
// break the member's start. Admission refuses them instead, naming the key.
//
// Admission here is a ValidatingAdmissionPolicy (crds/, next to the CRD; crd.ts builds it),
// not a CRD rule: the config's schema is untyped below its top level (config-shape.ts), and
// the apiserver gives CEL rules no type for such a node ("unable to convert structural
// schema to CEL declarations"), so no x-kubernetes-validations rule can look at its keys. A
// policy's CEL sees the object as a dynamic value instead.
//
// Key names are the TOML tags of PD v8.5.5's server/config.Config and of TiKV v8.5.5's
// TikvConfig (server: src/server/config.rs, storage: src/storage/config.rs, pd:
// components/pd_client/src/config.rs), which is what a user writes in spec.*.config.
// PD matches keys case-insensitively (BurntSushi/toml's EqualFold); these rules are exact,
// as a case-folding rule would have to iterate over every key (CEL cost), and the spelling
// PD's docs use is the one people copy.
export interface OwnedKey {
  /** The key's path in the TOML tree (`['server', 'addr']` is `[server] addr`). */
  path: readonly string[];
  /** What the operator does instead, for the message. */
  owner: string;
}

const addresses = 'the pod\'s own addresses';

export const PD_OWNED_KEYS: readonly OwnedKey[] = [
  { path: ['name'], owner: 'tikv-operator passes --name (the pod name, which is the member name)' },
  { path: ['data-dir'], owner: "tikv-operator passes --data-dir (the PD volume's mount point)" },
  { path: ['client-urls'], owner: `tikv-operator passes --client-urls (${addresses})` },
  { path: ['advertise-client-urls'], owner: `tikv-operator passes --advertise-client-urls (${addresses})` },
  { path: ['peer-urls'], owner: `tikv-operator passes --peer-urls (${addresses})` },
  { path: ['advertise-peer-urls'], owner: `tikv-operator passes --advertise-peer-urls (${addresses})` },
  { path: ['initial-cluster'], owner: 'the PD start script passes --initial-cluster (the initial members) when it bootstraps' },
  { path: ['initial-cluster-state'], owner: 'the PD start script decides it: bootstrap with the initial members, or --join' },
  { path: ['join'], owner: 'the PD start script passes --join (the client Service) to members that join' },
];

export const TIKV_OWNED_KEYS: readonly OwnedKey[] = [
  { path: ['server', 'addr'], owner: `tikv-operator passes --addr (${addresses})` },
  { path: ['server', 'advertise-addr'], owner: `tikv-operator passes --advertise-addr (${addresses})` },
  { path: ['server', 'status-addr'], owner: `tikv-operator passes --status-addr (${addresses})` },
  { path: ['server', 'advertise-status-addr'], owner: `tikv-operator passes --advertise-status-addr (${addresses})` },
  { path: ['storage', 'data-dir'], owner: "tikv-operator passes --data-dir (the TiKV volume's mount point)" },
  { path: ['pd', 'endpoints'], owner: "tikv-operator passes --pd (the PD client Service)" },
];

/** `server.advertise-addr`, as TOML writes the key. */
export const dottedKey = (path: readonly string[]) => path.join('.');

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether the config tree holds the key (a level on the way that is not a table holds nothing). */
export function hasConfigKey(config: Record<string, unknown>, path: readonly string[]): boolean {
  let node: unknown = config;
  for (const k of path) {
    if (!isTable(node) || !Object.hasOwn(node, k)) return false;
    node = node[k];
  }
  return true;
}

/**
 * CEL on the dynamic config value `x`: the key is absent. A level on the way that is not a
 * map holds nothing (a wrong type is the config check's to report). O(1): map lookups only,
 * whatever the size of the config.
 */
function celAbsent(x: string, path: readonly string[]): string {
  const conds: string[] = [];
  let node = x;
  for (const [i, k] of path.entries()) {
    conds.push(`!('${k}' in ${node})`);
    if (i < path.length - 1) {
      node = `${node}['${k}']`;
      conds.push(`type(${node}) != map`);
    }
  }
  return conds.join(' || ');
}

export interface OwnedKeyRule {
  /** The key's path in the config tree. */
  key: readonly string[];
  /** The field, as a user reads it: `spec.tikv.config.server.addr`. */
  field: string;
  /** What is wrong and what to do, after the field. */
  problem: string;
  /** CEL on the config value `x` (see ownedKeyPolicy): true when the key is absent. */
  cel: (x: string) => string;
  /** The same check in TypeScript (synth, and the operator for an object admitted before the policy). */
  check: (config: Record<string, unknown>) => boolean;
}

/** One rule per owned key of spec.<section>.config. */
export function ownedKeyRules(section: 'pd' | 'tikv'): OwnedKeyRule[] {
  const keys = section === 'pd' ? PD_OWNED_KEYS : TIKV_OWNED_KEYS;
  return keys.map((k) => {
    const field = `spec.${section}.config.${dottedKey(k.path)}`;
    return {
      key: k.path,
      field,
      problem: `cannot be set: ${k.owner}, which overrides it; remove the key`,
      cel: (x) => celAbsent(x, k.path),
      check: (config) => !hasConfigKey(config, k.path),
    };
  });
}
